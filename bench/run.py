"""Benchmark: the runner's per-request overhead against a bare `requests.Session` loop.

    python bench/run.py [--requests 1000] [--repeats 5] [--target auto|nginx|python] [--check]

1. Starts a target HTTP server in its own process: nginx when it is on PATH (a temp
   nginx.conf serving a fixed JSON body at /pets, 401 unless `Authorization: Bearer
   bench-token`), else `bench/target_server.py` (stdlib ThreadingHTTPServer).
2. Sends the same N authenticated GET /pets, each checked for status 200 and
   `$.count == 2`, (a) through the runner (a generated spec of N requests run by
   `runner.cli.main(["run", spec])`, console output to a null stream: the whole
   pipeline, from reading the YAML to the last report line) and (b) by a bare
   requests.Session loop (get, check status, json.loads, check ['count']).
   Each is warmed up, then run `--repeats` times, alternating; the median is reported.
3. Times `runner validate` on the same spec (the loader's share of the run) and the
   engine alone (`run_spec` on the spec loaded once, no console): where the time goes.
4. Runs the same N requests written as ONE request with `for_each` over N inline rows
   (issue 8): the target is at most 1.1x the written-out spec per row.
5. Times start-up: `runner --version` against `python -c pass` (best of 10).

Prints a table and writes bench/out/results.json. The target is runner <= 1.3x the bare
loop per request. `--check` exits 1 when the target is missed (the default only reports).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

import requests  # noqa: E402  (after the sys.path fix, with the runner import below)

TOKEN = "bench-token"
TARGET_RATIO = 1.3
OPENAPI_TARGET = 0.15  # OpenAPI conformance may add at most 15% to the runner's per-request cost
FOR_EACH_TARGET = 1.1
BODY = '{"count":2,"items":[{"id":1,"name":"Rex","tag":"dog"},{"id":2,"name":"Tom","tag":"cat"}]}'


# -- targets ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"target exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"target did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


class Target:
    """A server process serving GET /pets; `kind` says which one."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind = kind
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.version = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Target":
        last_error: Exception | None = None
        for _ in range(3):  # the free port may be taken between probe and bind
            self.port = _free_port()
            try:
                self.proc = self._start_nginx() if self.kind == "nginx" else self._start_python()
                _wait_listening(self.port, self.proc)
                self._check()
                return self
            except Exception as exc:  # noqa: BLE001 - retried, then reported
                last_error = exc
                self.stop()
        raise RuntimeError(f"could not start the {self.kind} target: {last_error}{self._log_tail()}")

    def _start_nginx(self) -> subprocess.Popen:
        nginx = shutil.which("nginx") or "nginx"
        info = subprocess.run([nginx, "-V"], capture_output=True, text=True, timeout=10).stderr
        self.version = (re.search(r"nginx/(\S+)", info) or re.search(r"(\S+)", info or "?")).group(1)
        temp_dirs = []
        # Only the temp paths of the modules this build has (nginx-light lacks some).
        for kind in re.findall(r"--http-([a-z-]+)-temp-path=", info):
            directory = self.workdir / f"tmp-{kind}"
            directory.mkdir(exist_ok=True)
            temp_dirs.append(f"    {kind.replace('-', '_')}_temp_path {directory};")
        conf = self.workdir / "nginx.conf"
        conf.write_text(
            "\n".join(
                [
                    "daemon off;",
                    "worker_processes 1;",
                    f"pid {self.workdir / 'nginx.pid'};",
                    f"error_log {self.workdir / 'error.log'} warn;",
                    "events { worker_connections 256; }",
                    "http {",
                    "    access_log off;",
                    "    keepalive_requests 1000000;",
                    "    keepalive_timeout 120s;",
                    *temp_dirs,
                    "    server {",
                    f"        listen 127.0.0.1:{self.port};",
                    "        location = /pets {",
                    f'            if ($http_authorization != "Bearer {TOKEN}") {{ return 401; }}',
                    "            default_type application/json;",
                    f"            return 200 '{BODY}';",
                    "        }",
                    "        location / { return 404; }",
                    "    }",
                    "}",
                    "",
                ]
            )
        )
        return subprocess.Popen(
            [nginx, "-p", str(self.workdir), "-e", str(self.workdir / "error.log"), "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "nginx.stderr", "wb"),  # noqa: SIM115 - closed with the process
        )

    def _start_python(self) -> subprocess.Popen:
        self.version = platform.python_version()
        return subprocess.Popen(
            [sys.executable, str(BENCH_DIR / "target_server.py"), str(self.port), TOKEN],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "python-target.stderr", "wb"),  # noqa: SIM115
        )

    def _check(self) -> None:
        with requests.Session() as s:
            s.trust_env = False
            ok = s.get(f"{self.url}/pets", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
            denied = s.get(f"{self.url}/pets", timeout=5)
        if ok.status_code != 200 or json.loads(ok.text)["count"] != 2 or denied.status_code != 401:
            raise RuntimeError(f"target answers wrongly: {ok.status_code}, {denied.status_code}")

    def _log_tail(self) -> str:
        for name in ("error.log", "nginx.stderr", "python-target.stderr"):
            path = self.workdir / name
            if path.is_file() and path.stat().st_size:
                return "\n" + path.read_text(errors="replace")[-1500:]
        return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # nginx: fast shutdown on SIGTERM; the Python target: default handler
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# -- the two clients --------------------------------------------------------------------------


OPENAPI = """openapi: 3.1.0
info: {title: bench, version: "1"}
paths:
  /pets:
    get:
      responses:
        "200":
          description: a page of pets
          content:
            application/json:
              schema: {$ref: "#/components/schemas/PetList"}
        "401": {description: no token}
components:
  schemas:
    Pet:
      type: object
      required: [id, name]
      properties:
        id: {type: integer, minimum: 1}
        name: {type: string}
        tag: {type: [string, "null"]}
    PetList:
      type: object
      required: [count, items]
      properties:
        count: {type: integer}
        items: {type: array, items: {$ref: "#/components/schemas/Pet"}}
"""


def write_spec(path: Path, n: int, openapi: str | None = None) -> None:
    """The bench spec; with `openapi`, every response is also checked against that document."""
    lines = [
        "version: 1",
        f"name: bench ({n} requests)",
        "base_url: ${env:BENCH_URL}",
        *([f"openapi: {openapi}"] if openapi else []),
        "secrets:",
        "  bench_token:",
        "    env: BENCH_TOKEN",
        "auth:",
        "  bearer: bench_token",
        "requests:",
    ]
    for i in range(1, n + 1):
        lines += [
            f"  - name: get pets {i:04d}",
            "    url: /pets",
            "    expect:",
            "      status: 200",
            "      json:",
            "        $.count: 2",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_for_each_spec(path: Path, n: int) -> None:
    """The spec of write_spec as one request over n inline rows (names rendered per row)."""
    rows = ", ".join(str(i) for i in range(1, n + 1))
    lines = [
        "version: 1",
        f"name: bench ({n} rows)",
        "base_url: ${env:BENCH_URL}",
        "secrets:",
        "  bench_token:",
        "    env: BENCH_TOKEN",
        "auth:",
        "  bearer: bench_token",
        "requests:",
        "  - name: get pets ${item}",
        f"    for_each: [{rows}]",
        "    url: /pets",
        "    expect:",
        "      status: 200",
        "      json:",
        "        $.count: 2",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@contextlib.contextmanager
def _chdir(path: Path):
    # contextlib.chdir is 3.11+; the runner supports 3.10. (No runner.yaml is picked up there.)
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


class RunnerUnavailable(Exception):
    pass


def make_runner_call(spec: Path, target: Target, workdir: Path, command: str = "run"):
    """A function that runs the spec through `runner.cli.main` in-process; returns seconds."""
    try:
        from runner.cli import main
    except ImportError as exc:  # the CLI is part of the package; only a broken checkout lands here
        raise RunnerUnavailable(f"cannot import runner.cli: {exc}") from exc
    environ = {k: v for k, v in os.environ.items() if not k.endswith("_PROXY") and not k.endswith("_proxy")}
    environ.update({"BENCH_URL": target.url, "BENCH_TOKEN": TOKEN, "NO_COLOR": "1"})
    environ.pop("GITHUB_ACTIONS", None)
    environ.pop("FORCE_COLOR", None)
    argv = [command, str(spec)] + (["--no-color"] if command == "run" else [])

    def call() -> float:
        stderr = io.StringIO()
        with open(os.devnull, "w", encoding="utf-8") as null, _chdir(workdir):
            started = time.perf_counter()
            code = main(argv, stdout=null, stderr=stderr, environ=environ)
            elapsed = time.perf_counter() - started
        if code != 0:
            out = io.StringIO()
            with _chdir(workdir):
                main(argv, stdout=out, stderr=out, environ=environ)
            tail = (stderr.getvalue() + out.getvalue())[-2000:]
            raise RunnerUnavailable(f"`runner {command}` exited with {code}:\n{tail}")
        return elapsed

    return call


def make_engine_call(spec: Path, target: Target):
    """The engine alone (`run_spec` on a spec loaded once, no console): where the time goes."""
    try:
        from runner import engine, load
        from runner.redact import Redactor
        from runner.secrets.base import SourceContext
        from runner.secrets.store import SecretStore

        loaded = load.load_spec_file(str(spec))
    except Exception as exc:  # noqa: BLE001 - a diagnostic row only
        raise RunnerUnavailable(f"engine not measured: {type(exc).__name__}: {exc}") from exc
    environ = {"BENCH_URL": target.url, "BENCH_TOKEN": TOKEN}

    def call() -> float:
        redactor = Redactor()
        store = SecretStore(SourceContext(environ=environ), redactor)
        started = time.perf_counter()
        result = engine.run_spec(loaded, options=engine.RunOptions(environ=environ), secrets=store, redactor=redactor)
        elapsed = time.perf_counter() - started
        outcomes = {str(getattr(step, "outcome", "?")) for step in getattr(result, "steps", ())}
        if len(outcomes) != 1 or "PASS" not in next(iter(outcomes)).upper():
            raise RunnerUnavailable(f"engine run did not pass: {sorted(outcomes)}")
        return elapsed

    return call


def make_requests_call(target: Target, n: int):
    url = f"{target.url}/pets"
    headers = {"Authorization": f"Bearer {TOKEN}"}

    def call() -> float:
        started = time.perf_counter()
        with requests.Session() as session:
            session.trust_env = False
            for _ in range(n):
                r = session.get(url, headers=headers, timeout=30)
                if r.status_code != 200:
                    raise AssertionError(f"status {r.status_code}")
                if json.loads(r.text)["count"] != 2:
                    raise AssertionError("count != 2")
        return time.perf_counter() - started

    return call


# -- start-up -----------------------------------------------------------------------------------


def best_of(argv: list[str], times: int, env: dict[str, str]) -> float:
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, timeout=60)
        best = min(best, time.perf_counter() - started)
    return best


def measure_startup(times: int = 10) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    exe = shutil.which("runner")
    # Prefer the installed console script when it runs this checkout's package; else `python -m runner`.
    argv = [exe, "--version"] if exe and _script_uses(exe, sys.executable) else [sys.executable, "-m", "runner", "--version"]
    baseline = best_of([sys.executable, "-c", "pass"], times, env)
    runner = best_of(argv, times, env)
    return {
        "command": "runner --version" if argv[0] == exe else "python -m runner --version",
        "runner_version_ms": runner * 1000,
        "python_pass_ms": baseline * 1000,
        "overhead_ms": (runner - baseline) * 1000,
    }


def _script_uses(script: str, python: str) -> bool:
    try:
        first = Path(script).read_text(errors="replace").splitlines()[0]
    except (OSError, IndexError):
        return False
    return first.startswith("#!") and Path(first[2:].strip()).resolve() == Path(python).resolve()


# -- main -------------------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per run (1000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each client (5)")
    parser.add_argument("--target", choices=("auto", "nginx", "python"), default="auto")
    parser.add_argument("--out", default=str(BENCH_DIR / "out" / "results.json"), help="results file")
    parser.add_argument("--check", action="store_true", help=f"exit 1 when runner/requests > {TARGET_RATIO}")
    args = parser.parse_args(argv)
    n = args.requests

    kind = args.target
    if kind == "auto":
        kind = "nginx" if shutil.which("nginx") else "python"
    if kind == "nginx" and not shutil.which("nginx"):
        parser.error("nginx is not on PATH (bench/install_nginx.sh installs it)")

    results: dict = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "requests_per_run": n,
        "repeats": args.repeats,
        "target_ratio": TARGET_RATIO,
    }
    with tempfile.TemporaryDirectory(prefix="runner-bench-") as tmp:
        workdir = Path(tmp)
        target = Target(kind, workdir)
        target.start()
        note = "" if kind == "nginx" or args.target == "python" else " (nginx not found: fallback)"
        print(f"target: {kind} {target.version} at {target.url}{note}", flush=True)
        results["target"] = {"kind": kind, "version": target.version}
        try:
            spec = workdir / "bench.yaml"
            write_spec(spec, n)
            (workdir / "openapi.yaml").write_text(OPENAPI, encoding="utf-8")
            spec_openapi = workdir / "bench-openapi.yaml"
            write_spec(spec_openapi, n, openapi="openapi.yaml")
            rows_spec = workdir / "bench-for-each.yaml"
            write_for_each_spec(rows_spec, n)
            bare = make_requests_call(target, n)
            bare()  # warm up, and measure memory before the runner is even imported
            rss_bare = _peak_rss_mb()
            try:
                via_runner = make_runner_call(spec, target, workdir)
                validate = make_runner_call(spec, target, workdir, command="validate")
                with_openapi = make_runner_call(spec_openapi, target, workdir)
                via_rows = make_runner_call(rows_spec, target, workdir)
            except RunnerUnavailable as exc:
                via_runner = validate = with_openapi = via_rows = None
                results["runner_error"] = str(exc)
            try:
                engine_only = make_engine_call(spec, target)
            except RunnerUnavailable as exc:
                engine_only = None
                results["engine_error"] = str(exc)

            # Warm up the runner too (imports, connection pools, caches).
            if via_runner is not None:
                try:
                    via_runner()
                    validate()
                    with_openapi()
                    via_rows()
                except RunnerUnavailable as exc:
                    via_runner = validate = with_openapi = via_rows = None
                    results["runner_error"] = str(exc)

            if engine_only is not None:
                try:
                    engine_only()
                except Exception as exc:  # noqa: BLE001 - a diagnostic row only
                    engine_only = None
                    results["engine_error"] = f"{type(exc).__name__}: {exc}"

            bare_times, runner_times, validate_times, engine_times, openapi_times, rows_times = [], [], [], [], [], []
            for _ in range(args.repeats):  # alternate, so drift hits both alike
                bare_times.append(bare())
                if via_runner is not None:
                    runner_times.append(via_runner())
                    validate_times.append(validate())
                    openapi_times.append(with_openapi())
                    rows_times.append(via_rows())
                if engine_only is not None:
                    engine_times.append(engine_only())
        finally:
            target.stop()

    per = lambda ts: statistics.median(ts) / n * 1e6  # noqa: E731 - microseconds per request
    results["requests_us_per_request"] = per(bare_times)
    results["requests_runs_s"] = bare_times
    if runner_times:
        results["runner_us_per_request"] = per(runner_times)
        results["runner_runs_s"] = runner_times
        results["validate_us_per_request"] = per(validate_times)
        results["ratio"] = results["runner_us_per_request"] / results["requests_us_per_request"]
        # OpenAPI conformance (`openapi:`): the same run with every response checked against a document
        results["openapi_us_per_request"] = per(openapi_times)
        results["openapi_overhead"] = results["openapi_us_per_request"] / results["runner_us_per_request"] - 1
    if rows_times:
        results["for_each_us_per_row"] = per(rows_times)
        results["for_each_ratio"] = results["for_each_us_per_row"] / results["runner_us_per_request"]
        results["for_each_target"] = FOR_EACH_TARGET
    if engine_times:
        results["engine_us_per_request"] = per(engine_times)
    results["peak_rss_mb"] = {"after_requests_loop": rss_bare, "overall": _peak_rss_mb()}
    results["startup"] = measure_startup()

    print_table(results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    tmp_out.replace(out)
    print(f"results: {out}")
    if "runner_error" in results:
        print(f"\nrunner not measured: {results['runner_error']}", file=sys.stderr)
        return 1 if args.check else 0
    if args.check and (results["ratio"] > TARGET_RATIO or results["openapi_overhead"] > OPENAPI_TARGET):
        return 1
    return 0


def print_table(r: dict) -> None:
    n = r["requests_per_run"]
    rows = [("requests.Session loop", f"{r['requests_us_per_request']:.0f} us", "1.00x")]
    if "runner_us_per_request" in r:
        rows.append(("runner run (whole CLI)", f"{r['runner_us_per_request']:.0f} us", f"{r['ratio']:.2f}x"))
        rows.append(("  of which: loading (validate)", f"{r['validate_us_per_request']:.0f} us", ""))
        rows.append(("runner run with openapi: (conformance)", f"{r['openapi_us_per_request']:.0f} us",
                     f"{r['openapi_us_per_request'] / r['requests_us_per_request']:.2f}x"))
    else:
        rows.append(("runner run (whole CLI)", "n/a", "n/a"))
    if "for_each_us_per_row" in r:
        rows.append(("runner run, one for_each over N rows", f"{r['for_each_us_per_row']:.0f} us", ""))
    if "engine_us_per_request" in r:
        ratio = r["engine_us_per_request"] / r["requests_us_per_request"]
        rows.append(("engine only (run_spec, no console)", f"{r['engine_us_per_request']:.0f} us", f"{ratio:.2f}x"))
    else:
        rows.append(("engine only (run_spec, no console)", "n/a", "n/a"))
    print()
    print(f"{n} authenticated GET /pets, status + JSONPath check; median of {r['repeats']} runs, per request:")
    width = max(len(name) for name, _, _ in rows)
    for name, cost, ratio in rows:
        print(f"  {name:<{width}}  {cost:>9}  {ratio:>6}")
    if "ratio" in r:
        verdict = "OK" if r["ratio"] <= r["target_ratio"] else "MISSED"
        print(f"  target <= {r['target_ratio']}x: {verdict}")
        extra = r["openapi_overhead"]
        print(f"  openapi: conformance adds {extra * 100:+.1f}% per request "
              f"(target <= {OPENAPI_TARGET * 100:.0f}%: {'OK' if extra <= OPENAPI_TARGET else 'MISSED'})")
    if "for_each_ratio" in r:
        verdict = "OK" if r["for_each_ratio"] <= r["for_each_target"] else "MISSED"
        print(f"  for_each per row vs written-out requests: {r['for_each_ratio']:.2f}x (target <= {r['for_each_target']}x: {verdict})")
    rss = r["peak_rss_mb"]
    print(f"peak RSS: {rss['overall']:.1f} MB (after the requests loop alone: {rss['after_requests_loop']:.1f} MB)")
    s = r["startup"]
    print(
        f"start-up (best of 10): {s['command']} {s['runner_version_ms']:.1f} ms, "
        f"python -c pass {s['python_pass_ms']:.1f} ms (+{s['overhead_ms']:.1f} ms)"
    )


if __name__ == "__main__":
    sys.exit(main())
