"""Benchmark: CPU per request of `runner load` against a plain Locust `HttpUser`.

    python bench/load_cpu.py [--short 3] [--long 9] [--repeat 2] [--mode both|status|json] [--check]

Both sides do the same thing against the same target (bench/target_server.py, its own
process): one user sends an authenticated GET /pets again and again and checks it, in two
modes: `status` (status 200 only) and `json` (status 200 and `$.count == 2`, the HttpUser
parsing the body with json.loads). Each side runs --short and --long seconds; CPU per
request is (CPU of the long run - CPU of the short run) / (requests of the long run -
requests of the short run), so start-up (imports, loading) cancels out. Each side is
measured --repeat times, interleaved, and its best is kept (the machine may be shared).
The target: runner at most 1.3x the HttpUser in each mode. `--check` exits 1 when it is
missed. Needs the `load` extra.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
TOKEN = "bench-token"
TARGET = 1.3
MODES = {"status": "status only", "json": "status + $.count"}

LOCUSTFILE = '''
import json, os
from locust import HttpUser, constant, task

JSON_CHECK = os.environ["BENCH_MODE"] == "json"

class Pets(HttpUser):
    wait_time = constant(0)

    @task
    def pets(self):
        headers = {"Authorization": "Bearer " + os.environ["BENCH_TOKEN"]}
        with self.client.get("/pets", name="list pets", headers=headers, catch_response=True) as r:
            if r.status_code != 200 or (JSON_CHECK and json.loads(r.content)["count"] != 2):
                r.failure("check failed")
'''

SPEC = '''
base_url: {url}
secrets:
  token: {{env: BENCH_TOKEN}}
auth:
  bearer: token
requests:
  - name: list pets
    url: /pets
    expect:
      status: 200
'''

JSON_EXPECT = '''      json:
        $.count: 2
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _measure(command: list[str], csv_prefix: Path, env: dict[str, str]) -> tuple[float, int]:
    """(CPU seconds, requests) of one run."""
    before = _children_cpu()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    cpu = _children_cpu() - before
    with open(f"{csv_prefix}_stats.csv", newline="", encoding="utf-8") as fh:
        total = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
    if int(total["Failure Count"]):
        raise SystemExit(f"{Path(command[0]).name}: {total['Failure Count']} requests failed; the comparison is void")
    return cpu, int(total["Request Count"])


def _command(side: str, folder: Path, mode: str, url: str, seconds: float, prefix: Path) -> list[str]:
    bindir = Path(sys.executable).parent
    if side == "runner":
        return [str(bindir / "runner"), "load", str(folder / f"pets-{mode}.yaml"), "--users", "1",
                "--run-time", f"{seconds:g}s", "--csv", str(prefix)]
    return [str(bindir / "locust"), "-f", str(folder / "locustfile.py"), "--host", url, "--headless", "-u", "1",
            "-r", "1", "-t", f"{seconds:g}s", "--only-summary", "--csv", str(prefix)]


def _per_request(side: str, folder: Path, mode: str, url: str, args: argparse.Namespace) -> tuple[float, int]:
    """(CPU seconds per request, requests counted) of one short+long pair."""
    env = {**os.environ, "BENCH_TOKEN": TOKEN, "BENCH_MODE": mode}
    points = []
    for seconds in (args.short, args.long):
        prefix = folder / f"{side}-{mode}-{seconds:g}"
        points.append(_measure(_command(side, folder, mode, url, seconds, prefix), prefix, env))
    (cpu_a, n_a), (cpu_b, n_b) = points
    return (cpu_b - cpu_a) / max(n_b - n_a, 1), n_b - n_a


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", type=float, default=3.0)
    parser.add_argument("--long", type=float, default=9.0)
    parser.add_argument("--repeat", type=int, default=2, help="measurements per side and mode; the best is kept")
    parser.add_argument("--mode", choices=("both", *MODES), default="both")
    parser.add_argument("--check", action="store_true", help="exit 1 when a ratio is above the target")
    args = parser.parse_args(argv)
    modes = list(MODES) if args.mode == "both" else [args.mode]
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # the target's stderr is dropped: a client that stops mid-response makes it print a traceback
    target = subprocess.Popen([sys.executable, str(BENCH_DIR / "target_server.py"), str(port), TOKEN],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    best: dict[tuple[str, str], tuple[float, int]] = {}
    try:
        target.stdout.readline()  # "ready"
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "pets-status.yaml").write_text(SPEC.format(url=url), encoding="utf-8")
            (folder / "pets-json.yaml").write_text(SPEC.format(url=url) + JSON_EXPECT, encoding="utf-8")
            (folder / "locustfile.py").write_text(LOCUSTFILE, encoding="utf-8")
            for _ in range(max(1, args.repeat)):
                for mode in modes:
                    for side in ("runner", "locust"):
                        got = _per_request(side, folder, mode, url, args)
                        if (side, mode) not in best or got[0] < best[side, mode][0]:
                            best[side, mode] = got
    finally:
        target.terminate()
        target.wait(timeout=10)
    print(f"CPU per request, best of {max(1, args.repeat)} (user+sys of the load process, start-up cancelled out)")
    print(f"{'check':<18} {'runner load':>12} {'Locust HttpUser':>16} {'ratio':>7}  target")
    missed = False
    for mode in modes:
        (ours, n_ours), (theirs, n_theirs) = best["runner", mode], best["locust", mode]
        ratio = ours / theirs
        missed |= ratio > TARGET
        verdict = "met" if ratio <= TARGET else "MISSED"
        print(f"{MODES[mode]:<18} {ours * 1000:>9.3f} ms {theirs * 1000:>13.3f} ms {ratio:>6.2f}x  <= {TARGET}x {verdict}"
              f"   ({n_ours} vs {n_theirs} requests)")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
