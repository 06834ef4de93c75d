"""The HTML report in a real headless Chromium (Debian's package): the counts render, the
filter and the search work, an injected <script> never runs, and the page reads without
JavaScript. Screenshots are kept under each test's temporary folder.

Without Chromium these tests are skipped with the command that installs it, unless
RUNNER_REQUIRE_BROWSER=1 (CI sets it), which turns the skip into a failure.
"""

from __future__ import annotations

import dataclasses
import os

import pytest

from results_factory import INJECTION, full_run, injection_run
from runner.report import html as html_report
from tests.browser import INSTALL_HINT, Browser, find_chromium
from tests.helpers import run_cli, write


@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    if executable is None:
        if os.environ.get("RUNNER_REQUIRE_BROWSER") == "1":
            pytest.fail(f"RUNNER_REQUIRE_BROWSER=1 but {INSTALL_HINT}")
        pytest.skip(INSTALL_HINT)
    b = Browser(executable)
    yield b
    b.close()


@pytest.fixture
def open_page(browser, tmp_path):
    pages = []

    def open_(text: str, *, javascript: bool = True, name: str = "report"):
        path = tmp_path / f"{name}.html"
        path.write_text(text, encoding="utf-8")
        page = browser.page(javascript=javascript)
        pages.append(page)
        page.open(path)
        return page

    yield open_
    for page in pages:
        page.close()


def visible(page) -> list[str]:
    return page.evaluate("Array.from(document.querySelectorAll('#list details.r'))"
                         ".filter(r => !r.hidden).map(r => r.dataset.o)")


def test_counts_filter_search_and_order(open_page, tmp_path):
    page = open_page(html_report.render(full_run()))
    assert page.evaluate("document.title") == ("request-runner: 3 passed, 4 failed, 3 auth, 2 errors, "
                                               "1 skipped in 1.23 s")
    counts = page.evaluate("Array.from(document.querySelectorAll('.counts li')).map(li => li.innerText.split('\\n'))")
    assert counts == [["3", "passed"], ["4", "failed"], ["3", "auth"], ["2", "errors"], ["1", "skipped"]]
    assert page.evaluate("document.getElementById('controls').hidden") is False
    assert page.evaluate("document.getElementById('shown').textContent") == "13 requests"
    assert len(visible(page)) == 13

    # filter by outcome: PASS and SKIP off
    page.evaluate("document.querySelector('button[data-o=PASS]').click();"
                  "document.querySelector('button[data-o=SKIP]').click()")
    assert sorted(set(visible(page))) == ["AUTH", "ERROR", "FAIL"]
    assert page.evaluate("document.getElementById('shown').textContent") == "9 of 13 requests shown"
    assert page.evaluate("document.querySelector('button[data-o=PASS]').getAttribute('aria-pressed')") == "false"

    # search by name, then by URL (case-insensitive), within the filter
    search = ("(q => { const i = document.getElementById('q'); i.value = q; i.dispatchEvent(new Event('input'));"
              " return new Promise(r => setTimeout(r, 50)); })")
    page.evaluate(f"{search}('PET')")
    assert page.evaluate("Array.from(document.querySelectorAll('#list details.r')).filter(r => !r.hidden)"
                         ".map(r => r.querySelector('.n').textContent)") == [
        "fetch the first pet", "create a pet", "delete a pet"]
    page.evaluate(f"{search}('127.0.0.1:9/')")
    assert visible(page) == ["ERROR"]
    page.evaluate(f"{search}('no such request')")
    assert visible(page) == [] and page.evaluate("document.getElementById('none-shown').hidden") is False
    page.evaluate(f"{search}('')")
    page.evaluate("document.querySelector('button[data-o=PASS]').click()")
    assert len(visible(page)) == 12

    # failures first by default; file order on request
    first = "document.querySelector('#list details.r .n').textContent"
    assert page.evaluate(first) == "fetch the first pet"
    page.evaluate("const o = document.getElementById('order'); o.value = 'file'; o.dispatchEvent(new Event('change'))")
    assert page.evaluate(first) == "list pets"
    page.evaluate("document.querySelector('#list details.r').open = true")
    page.screenshot(tmp_path / "report.png")
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert page.problems() == []


def test_injected_script_never_runs(open_page, tmp_path):
    page = open_page(html_report.render(injection_run()), name="injection")
    # open every request, so anything hidden inside a <details> would be rendered too
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("document.title") == "request-runner: 1 passed, 1 failed, 1 auth, 0 errors, 1 skipped in 0.04 s"
    assert page.evaluate("document.scripts.length") == 1
    assert page.evaluate("document.querySelectorAll('img, svg, iframe, object, embed, a, link, textarea').length") == 0
    assert page.evaluate("document.querySelectorAll('style').length") == 1
    assert page.evaluate("document.querySelectorAll('[onerror], [onload], [onmouseover]').length") == 0
    # the text is there, as text, and the page still works
    assert "<script>document.title='pwned'" in page.evaluate("document.querySelector('#list .n').textContent")
    assert page.evaluate("getComputedStyle(document.body).display") == "block"
    assert page.evaluate("document.getElementById('controls').hidden") is False
    page.screenshot(tmp_path / "injection.png")
    assert page.problems() == []  # no console error: not even a script the CSP had to refuse


def test_readable_without_javascript(open_page, tmp_path):
    page = open_page(html_report.render(dataclasses.replace(full_run(), in_progress=True)), javascript=False)
    assert page.evaluate("document.getElementById('controls').hidden") is True
    assert page.evaluate("document.querySelectorAll('#list details.r').length") == 13
    text = page.evaluate("document.body.innerText")
    assert "In progress: the run has not finished" in text
    assert "3\npassed" in text and "4\nfailed" in text
    # a closed <details> shows its summary; opened (a click, no script needed) it shows the diagnosis
    page.evaluate("document.querySelectorAll('#list details.r')[1].open = true")
    opened = page.evaluate("document.querySelectorAll('#list details.r')[1].textContent")
    assert "401 diagnosis" in opened and "sha256:1a2b3c4d" in opened
    page.screenshot(tmp_path / "no-js.png")


def test_cli_report_with_a_hostile_server_in_the_browser(open_page, cwd, http_server, tmp_path):
    write(cwd / "a.yaml", f"""
        version: 1
        name: "hostile server <script>window.__pwned=10</script>"
        base_url: {http_server.url}
        requests:
          - {{name: "fine <script>window.__pwned=11</script>", url: "/ok?q=</script><script>window.__pwned=12</script>"}}
          - name: body with a script
            url: /text
            query: {{t: "{INJECTION[:120]}"}}
            expect: {{status: 201}}
          - name: header with a script
            url: /headers
            query: {{X-Evil: "<script>window.__pwned=9</script>"}}
            expect: {{status: 201}}
    """)
    code, out, err = run_cli(["run", "a.yaml", "--html", "r.html"])
    assert code == 1, out + err
    page = open_page((cwd / "r.html").read_text(encoding="utf-8"), name="cli")
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("document.scripts.length") == 1
    assert page.evaluate("document.title").startswith("request-runner: 1 passed, 2 failed")
    # textContent, not innerText: the text is there whatever the layout (rows out of view skip
    # layout with content-visibility: auto, and innerText came out nearly empty once under load)
    body = page.evaluate("document.body.textContent")
    assert "<script>window.__pwned=9</script>" in body and "<script>document.title='pwned'" in body
    assert "fine <script>window.__pwned=11</script>" in body and "hostile server <script>window.__pwned=10" in body
    assert "/ok?q=%3C/script%3E%3Cscript%3Ewindow.__pwned=12%3C/script%3E" in body  # as sent, percent-encoded
    page.screenshot(tmp_path / "cli.png")
    assert page.problems() == []


def test_csp_refuses_a_script_that_got_past_escaping(open_page):
    # defence in depth: were a script element ever to reach the markup, the policy blocks it
    text = html_report.render(full_run()).replace("<footer>", "<script>window.__pwned=1</script><footer>", 1)
    page = open_page(text, name="csp")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert any("Content Security Policy" in p for p in page.problems())
    assert page.evaluate("document.getElementById('controls').hidden") is False  # ours still ran
