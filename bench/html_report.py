"""Benchmark: the HTML report at 10,000 requests (size, and time to open in Chromium).

    python bench/html_report.py [--requests 10000] [--repeats 3] [--screenshot FILE]

1. "run": a real `runner run SPEC --html FILE` of N requests against the stdlib target
   (bench/target_server.py, its own process): most pass; one in 40 fails a JSONPath check,
   one in 500 gets an unexpected 401 (AUTH), one in 1000 a 404.
2. "all failing": a hand-built result of N failing requests, each with a 3 KB body and
   eight headers: the worst case for the page's size budget.

For each page: its size, and in headless Chromium (Debian's package, driven over the
DevTools pipe by tests/browser.py) the browser's own timings: DOMContentLoaded, load,
and the `report-ready` mark the page's script sets once the filter and search are
usable; then one search and one outcome toggle, timed in the page. Medians of
`--repeats` fresh tabs. Targets (DESIGN.md): under 15 MB and interactive in under 3 s.
Writes bench/out/html.json. `--check` exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from tests.browser import INSTALL_HINT, Browser, find_chromium  # noqa: E402

TOKEN = "bench-token"
MAX_BYTES = 15_000_000
MAX_READY_MS = 3000.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spec(n: int, base_url: str) -> str:
    lines = ["version: 1", "name: html bench", f"base_url: {base_url}", "secrets:", "  tok: {env: BENCH_TOKEN}",
             "auth: {bearer: tok}", "requests:"]
    for i in range(n):
        if i % 1000 == 999:
            lines.append(f"  - {{name: missing {i}, url: /missing, expect: {{status: 200}}}}")
        elif i % 500 == 499:
            lines.append(f"  - {{name: no token {i}, url: /pets, auth: none, expect: {{status: 200}}}}")
        elif i % 40 == 39:
            lines.append(f"  - {{name: wrong count {i}, url: /pets, query: {{i: {i}}}, "
                         "expect: {status: 200, json: {$.count: 3}}}")
        else:
            lines.append(f"  - {{name: list pets {i}, url: /pets, query: {{i: {i}}}, "
                         "expect: {status: 200, json: {$.count: 2}}}")
    return "\n".join(lines) + "\n"


def run_page(n: int, work: Path) -> tuple[Path, float]:
    """`runner run --html` of n requests against the target; (page, seconds the run took)."""
    port = _free_port()
    target = subprocess.Popen([sys.executable, str(BENCH_DIR / "target_server.py"), str(port), TOKEN],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert target.stdout is not None and target.stdout.readline().strip() == "ready"
        spec = work / "bench.yaml"
        spec.write_text(_spec(n, f"http://127.0.0.1:{port}"))
        page = work / "run.html"
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "BENCH_TOKEN": TOKEN}
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "runner", "run", str(spec), "--html", str(page)], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=1800)
        return page, time.monotonic() - started
    finally:
        target.terminate()
        target.wait(timeout=10)


def failing_page(n: int, work: Path) -> Path:
    from results_factory import resp, span  # the reporter tests' builders

    from runner.report import html
    from runner.results import Outcome, RunResult, SpecResult, StepResult

    body = '{"error": "' + "x" * 3000 + '"}'
    headers = (("Content-Type", "application/json"), ("X-Request-Id", "r" * 40)) * 4
    steps = tuple(
        StepResult(spec_path="big.yaml", name=f"request {i}", index=i, outcome=Outcome.FAIL, method="GET",
                   url=f"http://127.0.0.1:8000/items/{i}", status=500, elapsed_ms=float(i % 97),
                   response=resp(500, "Internal Server Error", body, headers=headers), span=span("big.yaml", 3 + i))
        for i in range(n)
    )
    run = RunResult(specs=(SpecResult("big.yaml", "big", steps),), duration_s=12.0, version="bench")
    page = work / "failing.html"
    started = time.monotonic()
    page.write_text(html.render(run), encoding="utf-8")
    print(f"  rendered {n} failing requests in {time.monotonic() - started:.2f} s")
    return page


def measure(browser: Browser, page_path: Path) -> dict[str, float]:
    tab = browser.page()
    try:
        tab.open(page_path)
        timing = tab.evaluate("""(() => {
            const nav = performance.getEntriesByType('navigation')[0];
            const ready = performance.getEntriesByName('report-ready')[0];
            return {dom_content_loaded_ms: nav.domContentLoadedEventEnd, load_ms: nav.loadEventEnd,
                    ready_ms: ready ? ready.startTime : null,
                    rows: document.querySelectorAll('#list details.r').length,
                    elements: document.getElementsByTagName('*').length};
        })()""")
        timing["search_ms"] = tab.evaluate("""(() => {
            const t = performance.now(); const q = document.getElementById('q');
            q.value = 'pets 99'; q.dispatchEvent(new Event('input'));
            return new Promise(r => setTimeout(() => requestAnimationFrame(() => r(performance.now() - t - 120)), 120));
        })()""")
        timing["filter_ms"] = tab.evaluate("""(() => {
            const t = performance.now(); document.querySelector('button[data-o=PASS]').click();
            return new Promise(r => requestAnimationFrame(() => r(performance.now() - t)));
        })()""")
        if tab.problems():
            raise RuntimeError(f"console problems: {tab.problems()}")
        return timing
    finally:
        tab.close()


def screenshot(executable: str, out: Path) -> None:
    """The picture in docs/reports.md: the reporter tests' example run, failures open."""
    from results_factory import full_run

    from runner.report import html

    run = full_run()
    run = run.__class__(**{**{f: getattr(run, f) for f in run.__slots__}, "specs": run.specs[:2]})
    with tempfile.TemporaryDirectory(prefix="rr-html-shot-") as tmp:
        page_path = Path(tmp) / "report.html"
        page_path.write_text(html.render(run), encoding="utf-8")
        browser = Browser(executable)
        try:
            tab = browser.page(width=1200, height=1250)
            tab.open(page_path)
            tab.evaluate("document.querySelectorAll('#list details.r')[1].open = true")
            tab.screenshot(out)
        finally:
            browser.close()
    print(f"screenshot: {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(BENCH_DIR / "out" / "html.json"))
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--screenshot", metavar="FILE", help="only write the picture docs/reports.md shows")
    args = parser.parse_args(argv)
    executable = find_chromium()
    if executable is None:
        print(f"html bench skipped: {INSTALL_HINT}")
        return 0
    if args.screenshot:
        screenshot(executable, Path(args.screenshot))
        return 0
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="rr-html-bench-") as tmp:
        work = Path(tmp)
        print(f"HTML report, {args.requests} requests")
        page, run_s = run_page(args.requests, work)
        print(f"  runner run --html: {run_s:.1f} s")
        pages = {"run": page, "all failing": failing_page(args.requests, work)}
        browser = Browser(executable)
        try:
            for name, path in pages.items():
                samples = [measure(browser, path) for _ in range(args.repeats)]
                summary = {key: statistics.median(s[key] for s in samples) for key in samples[0]
                           if samples[0][key] is not None}
                summary["bytes"] = path.stat().st_size
                results[name] = summary
        finally:
            browser.close()
    print(f"  {'page':<12} {'size':>8} {'rows':>6} {'elements':>9} {'DCL':>8} {'load':>8} {'ready':>8} "
          f"{'search':>7} {'filter':>7}")
    for name, r in results.items():
        print(f"  {name:<12} {r['bytes'] / 1e6:>6.1f}MB {r['rows']:>6.0f} {r['elements']:>9.0f} "
              f"{r['dom_content_loaded_ms']:>6.0f}ms {r['load_ms']:>6.0f}ms {r['ready_ms']:>6.0f}ms "
              f"{r['search_ms']:>5.0f}ms {r['filter_ms']:>5.0f}ms")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"requests": args.requests, "pages": results}, indent=2) + "\n")
    missed = [name for name, r in results.items() if r["bytes"] >= MAX_BYTES or r["ready_ms"] >= MAX_READY_MS]
    if missed:
        print(f"  target missed (< {MAX_BYTES / 1e6:.0f} MB, ready < {MAX_READY_MS:.0f} ms): {', '.join(missed)}")
    return 1 if missed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
