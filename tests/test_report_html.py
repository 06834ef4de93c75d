"""The HTML report without a browser: structure, counts, order, CSP, escaping (HAZARDS 84),
no secret, size budget, and `--html` on the command line (atomic, valid after SIGKILL).

The browser checks (the filter works, nothing injected runs) are in test_report_html_browser.py.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

from results_factory import (
    CANARY_FORMS,
    canary_redactor,
    canary_run,
    full_run,
    injection_run,
    interrupted_run,
    passing_run,
    resp,
    span,
)
from runner.report import html as html_report
from runner.results import Outcome, RunResult, SpecResult, StepResult
from tests.helpers import run_cli, write

ROOT = Path(__file__).resolve().parent.parent
# Every element the page is built from; anything else would have come from a server or a spec.
TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h4", "p", "ul", "li", "b", "span",
    "div", "table", "thead", "tbody", "tr", "th", "td", "main", "button", "input", "label", "select", "option",
    "details", "summary", "i", "em", "dl", "dt", "dd", "pre", "footer", "script",
}
ATTRS = {
    "lang", "charset", "http-equiv", "content", "name", "class", "id", "hidden", "role", "aria-label",
    "aria-pressed", "aria-live", "aria-hidden", "type", "data-o", "disabled", "placeholder",
    "autocomplete", "value", "title",
}


class Page(HTMLParser):
    """The parsed page: tags and attributes seen, text of <title>, rows in page order."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.title = ""
        self.comments: list[str] = []
        self._in: str | None = None
        self.rows: list[dict[str, str]] = []
        self._field: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag in ("script", "style", "title"):
            self._in = tag
            if tag == "script":
                self.scripts.append("")
            if tag == "style":
                self.styles.append("")
        if tag == "details":
            self.rows.append({"outcome": a.get("data-o") or "", "n": (a.get("id") or "")[1:], "name": "", "url": ""})
        if tag == "span" and self.rows and a.get("class") in ("n", "u"):
            self._field = "name" if a["class"] == "n" else "url"

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None
        if tag == "span":
            self._field = None

    def handle_data(self, data):
        if self._in == "script":
            self.scripts[-1] += data
        elif self._in == "style":
            self.styles[-1] += data
        elif self._in == "title":
            self.title += data
        if self._field:
            self.rows[-1][self._field] += data

    def handle_comment(self, data):
        self.comments.append(data)


def sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_header_counts_meta_and_state():
    text = html_report.render(full_run())
    page = Page(text)
    assert page.title == "request-runner: 3 passed, 4 failed, 3 auth, 2 errors, 1 skipped in 1.23 s"
    counts = re.search(r'<ul class="counts">(.*?)</ul>', text).group(1)
    assert re.sub(r"<[^>]+>", " ", counts).split() == ["3", "passed", "4", "failed", "3", "auth", "2", "errors",
                                                       "1", "skipped"]
    for shown in ("environment <b>staging</b>", "version <b>0.1.0</b>", "started <b>2024-05-01T12:00:00Z</b>",
                  "duration <b>1.23 s</b>", "Finished: exit code 3", "TLS verification is disabled",
                  "could not run: could not read specs/broken.yaml: permission denied",
                  "2 requests rejected: token &#x27;pets_token&#x27; from env PETS_API_TOKEN"):
        assert shown in text
    assert "In progress" not in text


def test_in_progress_until_the_run_ends():
    text = html_report.render(dataclasses.replace(full_run(), in_progress=True))
    assert "In progress: the run has not finished" in text
    assert Page(text).title.startswith("request-runner: in progress: ")
    assert "Finished" not in text


def test_internal_error_state():
    run = dataclasses.replace(passing_run(), internal_error="KeyError")
    assert "Finished: exit code 70 (an internal error, a bug in request-runner): KeyError" in html_report.render(run)


def test_interrupted_and_passing_states():
    assert "exit code 130 (interrupted (SIGINT)). Only the requests that finished" in html_report.render(interrupted_run())
    assert '<p class="state ok">Finished: exit code 0 (every request passed)</p>' in html_report.render(passing_run())


def test_failures_first_then_the_rest_in_run_order():
    page = Page(html_report.render(full_run()))
    outcomes = [r["outcome"] for r in page.rows]
    assert outcomes == ["FAIL", "AUTH", "AUTH", "AUTH", "ERROR", "ERROR", "FAIL", "FAIL", "FAIL",
                        "PASS", "PASS", "SKIP", "PASS"]
    numbers = [int(r["n"]) for r in page.rows]
    assert sorted(numbers) == list(range(13))  # the id (r0, r1...) is the file order the script can restore
    assert page.rows[0]["name"] == "fetch the first pet" and page.rows[0]["url"] == "http://127.0.0.1:8000/pets/1"


def test_each_request_is_a_details_with_what_the_contract_lists():
    text = html_report.render(full_run())
    row = text[text.index('<details class="r auth"'):]
    row = row[: row.index("</details>")]
    for part in ('<span class="m">POST</span>', '<span class="n">create a pet</span>', '<span class="s">401</span>',
                 "<em>5 ms</em>", "specs/pets.yaml:41:5", "401 diagnosis", "sha256:1a2b3c4d",
                 "Not checked: 3 expectations", "Expectations",
                 "<th>Authorization</th><td>Bearer ***</td>", "WWW-Authenticate", "{&quot;error&quot;: &quot;invalid_token&quot;"):
        assert part in row, part
    # the time bars share one axis: the slowest request (830 ms) fills it
    assert '<span class="axis"><span>0</span><span>415 ms</span><span>830 ms</span></span>' in text
    assert 'class="w100"' in text and 'class="w1"' in text  # 5 ms of 830 still shows


def test_failure_shows_expected_and_actual():
    text = html_report.render(full_run())
    assert ('<p class="why">status: expected 200, got 404</p><dl><dt>expected</dt><dd class="v">200</dd>'
            '<dt>actual</dt><dd class="v">404 Not Found</dd>') in text
    assert "<dt>hint</dt><dd>the body has no &#x27;name&#x27; key</dd>" in text


def test_self_contained_and_locked_down_by_csp():
    text = html_report.render(full_run())
    page = Page(text)
    assert len(page.scripts) == 1 and len(page.styles) == 1
    csp = next(a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert csp.startswith("default-src 'none'; ")
    assert f"style-src {sha(page.styles[0])};" in csp and f"script-src {sha(page.scripts[0])};" in csp
    # nothing is fetched: no src/href/action attribute at all, no url() or @import in the CSS
    assert not [a for _t, attrs in page.tags for a in attrs if a in ("src", "href", "action", "srcset", "style")]
    assert "url(" not in page.styles[0] and "@import" not in page.styles[0]
    assert "@font-face" not in page.styles[0]


def test_hazard_84_injection_is_text_everywhere():
    run = injection_run()
    text = html_report.render(run)
    page = Page(text)
    assert {t for t, _a in page.tags} <= TAGS
    assert {a for _t, attrs in page.tags for a in attrs} <= ATTRS  # no on* handler, no href, no src
    assert len(page.scripts) == 1 and len(page.styles) == 1
    assert page.comments == []  # an injected <!-- did not open a comment
    assert page.title == "request-runner: 1 passed, 1 failed, 1 auth, 0 errors, 1 skipped in 0.04 s"
    for raw in ("<script>document", "</script><script>", "<!--", "<img", "<svg", "<style>*", "</textarea>",
                "\" onmouseover", "\u202e", "\u2028", "\u2029"):
        assert raw not in text, raw
    assert text.count("</style>") == 1 and text.count("</script>") == 1 and text.count("</title>") == 1
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;" in text
    # every place that shows text kept it, escaped (names, URLs, headers, bodies, diagnosis)
    assert text.count("&lt;script&gt;document.title") > 20
    assert {r["outcome"] for r in page.rows} == {"FAIL", "AUTH", "SKIP", "PASS"}
    assert page.rows[0]["name"].startswith("name <script>document.title='pwned'")


def test_injection_in_attribute_position_stays_quoted():
    # outcome, numbers and classes are ours; the only server text in an attribute is none at all
    text = html_report.render(injection_run())
    for tag in re.findall(r"<[a-z][^>]*>", text.replace(Page(text).scripts[0], "")):
        assert "pwned" not in tag, tag


def test_canary_never_in_the_page():
    text = html_report.render(canary_run(), redactor=canary_redactor())
    for form in CANARY_FORMS:
        assert form not in text
    assert "***" in text


def test_size_budget_at_ten_thousand_failing_requests():
    body = ('{"error": "' + "x" * 3000 + '"}')
    steps = tuple(
        StepResult(spec_path="big.yaml", name=f"request {i}", index=i, outcome=Outcome.FAIL, method="GET",
                   url=f"http://127.0.0.1:8000/items/{i}", status=500, elapsed_ms=float(i % 97),
                   response=resp(500, "Internal Server Error", body, headers=(("Content-Type", "application/json"),
                                                                              ("X-Request-Id", "r" * 40)) * 4),
                   span=span("big.yaml", 3 + i))
        for i in range(10_000)
    )
    run = RunResult(specs=(SpecResult("big.yaml", "big", steps),), duration_s=12.0, version="0.1.0")
    text = html_report.render(run)
    assert len(text.encode()) < 15_000_000
    assert text.count("<details") == 10_000  # every request is still listed
    assert "Some headers and bodies are left out: this page is at its size budget" in text
    assert text.index("request 0<") < text.index("are left out")  # the budget goes to the first rows


def test_no_steps_at_all():
    text = html_report.render(RunResult(specs=(), version="0.1.0"))
    assert "No request has finished." in text and Page(text).rows == []


# ------------------------------------------------------------------ the command line


def _rows(path: Path) -> list[dict[str, str]]:
    return Page(path.read_text(encoding="utf-8")).rows


def test_cli_writes_the_html_report(cwd, http_server):
    write(cwd / "a.yaml", f"""
        version: 1
        name: html e2e
        base_url: {http_server.url}
        requests:
          - {{name: fine, url: /ok}}
          - name: server says <script>
            url: /text
            query: {{t: "<script>window.__pwned=1</script></script><!--"}}
            expect: {{body: {{contains: nothing}}}}
    """)
    code, out, err = run_cli(["run", "a.yaml", "--html", "out/report.html", "--json", "r.json"])
    assert code == 1, out + err
    text = (cwd / "out" / "report.html").read_text(encoding="utf-8")
    assert [r["outcome"] for r in Page(text).rows] == ["FAIL", "PASS"]
    assert "Finished: exit code 1" in text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;&lt;/script&gt;&lt;!--" in text
    assert not [p for p in cwd.rglob("*.tmp")]


def test_cli_refuses_an_html_path_that_is_a_directory_or_another_report(cwd):
    write(cwd / "a.yaml", "version: 1\nrequests: [{name: a, url: 'http://127.0.0.1:9/'}]\n")
    (cwd / "d").mkdir()
    code, _out, err = run_cli(["run", "a.yaml", "--html", "d"])
    assert code == 2 and "--html 'd': is a directory" in err
    code, _out, err = run_cli(["run", "a.yaml", "--html", "r.x", "--json", "r.x"])
    assert code == 2 and "name the same file" in err


def test_sigkill_leaves_a_complete_page_that_says_in_progress(cwd, http_server, silent_server):
    write(cwd / "a.yaml", f"""
        version: 1
        name: first
        base_url: {http_server.url}
        requests:
          - {{name: one, url: /ok}}
    """)
    write(cwd / "b.yaml", f"""
        version: 1
        name: second
        base_url: {http_server.url}
        requests:
          - {{name: hangs, url: "{silent_server}/x", timeout: 60}}
    """)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "runner", "run", "a.yaml", "b.yaml", "--html", "r.html"],
                            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    report = cwd / "r.html"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (report.exists() and any(
                r["name"] == "one" and r["outcome"] == "PASS" for r in _rows(report))):
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    text = report.read_text(encoding="utf-8")
    assert text.endswith("</html>\n")
    assert "In progress" in text
    assert any(r["name"] == "one" and r["outcome"] == "PASS" for r in Page(text).rows)


def test_for_each_rows_and_fragments_shown_by_name_and_place():
    run = full_run()
    spec = run.specs[0]
    base = spec.steps[0]
    rows = tuple(dataclasses.replace(base, name=f"get pet {i}", index=i, span=span(spec.path, 60)) for i in (1, 2))
    fragment = dataclasses.replace(base, name="create pet (from _common/pets.yaml)", index=3,
                                   span=span("specs/_common/pets.yaml", 4))
    run = dataclasses.replace(run, specs=(dataclasses.replace(spec, steps=rows + (fragment,)),))
    text = html_report.render(run)
    assert [r["name"] for r in Page(text).rows] == ["get pet 1", "get pet 2", "create pet (from _common/pets.yaml)"]
    assert ('<span class="mono">specs/_common/pets.yaml:4:5</span> \u00b7 in <span class="mono">specs/pets.yaml'
            '</span>') in text


def test_passed_expectations_are_a_short_list_failed_ones_a_table():
    text = html_report.render(full_run())
    assert '<ul class="passed"><li>status: 200</li><li>$.count: 2</li></ul>' in text
    assert "<tr class=\"bad\"><td>\u2717</td><td>status <span class=\"muted\">line 37</span></td><td>200</td>" in text
