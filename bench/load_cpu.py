"""Benchmark: CPU per request of `runner load` against a plain Locust `HttpUser`.

    python bench/load_cpu.py [--short 3] [--long 9] [--check]

Both do the same thing against the same target (bench/target_server.py, its own
process): one user sends authenticated GET /pets again and again, each checked for status
200 and `$.count == 2`. Each side runs twice, --short and --long seconds; CPU per request
is (CPU of the long run - CPU of the short run) / (requests of the long run - requests of
the short run), so start-up (imports, loading) cancels out. The target: runner at most
1.3x the HttpUser. `--check` exits 1 when it is missed. Needs the `load` extra.
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

LOCUSTFILE = '''
import json, os
from locust import HttpUser, constant, task

class Pets(HttpUser):
    wait_time = constant(0)

    @task
    def pets(self):
        headers = {"Authorization": "Bearer " + os.environ["BENCH_TOKEN"]}
        with self.client.get("/pets", name="list pets", headers=headers, catch_response=True) as r:
            if r.status_code != 200 or json.loads(r.content)["count"] != 2:
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
      json:
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
        raise SystemExit(f"{command[2]}: {total['Failure Count']} requests failed; the comparison is void")
    return cpu, int(total["Request Count"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", type=float, default=3.0)
    parser.add_argument("--long", type=float, default=9.0)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    target = subprocess.Popen([sys.executable, str(BENCH_DIR / "target_server.py"), str(port), TOKEN],
                              stdout=subprocess.PIPE, text=True)
    try:
        target.stdout.readline()  # "ready"
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "pets.yaml").write_text(SPEC.format(url=url), encoding="utf-8")
            (folder / "locustfile.py").write_text(LOCUSTFILE, encoding="utf-8")
            env = {**os.environ, "BENCH_TOKEN": TOKEN}
            bindir = Path(sys.executable).parent
            per_request = {}
            for side in ("runner", "locust"):
                points = []
                for seconds in (args.short, args.long):
                    prefix = folder / f"{side}-{seconds:g}"
                    if side == "runner":
                        command = [str(bindir / "runner"), "load", str(folder / "pets.yaml"), "--users", "1",
                                   "--run-time", f"{seconds:g}s", "--csv", str(prefix)]
                    else:
                        command = [str(bindir / "locust"), "-f", str(folder / "locustfile.py"), "--host", url,
                                   "--headless", "-u", "1", "-r", "1", "-t", f"{seconds:g}s", "--only-summary",
                                   "--csv", str(prefix)]
                    points.append(_measure(command, prefix, env))
                (cpu_a, n_a), (cpu_b, n_b) = points
                per_request[side] = (cpu_b - cpu_a) / max(n_b - n_a, 1)
    finally:
        target.terminate()
        target.wait(timeout=10)
    ratio = per_request["runner"] / per_request["locust"]
    print(f"runner load          {per_request['runner'] * 1000:.3f} ms CPU per request")
    print(f"Locust HttpUser      {per_request['locust'] * 1000:.3f} ms CPU per request")
    print(f"ratio                {ratio:.2f}x (target <= {TARGET}x)")
    return 1 if args.check and ratio > TARGET else 0


if __name__ == "__main__":
    sys.exit(main())
