"""Benchmark "lean and flat": start-up, loading, memory and per-request cost at scale.

    python bench/lean.py [--target auto|nginx|python] [--big 10000] [--small 100]
                         [--only startup,loading,memory,scale]

Every number comes from a separate process run as a user runs it (`python -m runner`),
against the same target as bench/run.py, next to a bare `requests.Session` script doing
the same work:

- start-up: CPU time (user + system, from os.wait4) of a one-request `runner run`
  against the bare script's (best of 10): on a shared machine CPU time is what stays
  comparable; wall times are in the JSON too. A second row is the floor: only importing
  the libraries the runner must use (requests, PyYAML, python-jsonpath, jsonschema-rs);
- loading: `load_spec_file` of the --big spec, in a fresh process (best of 3);
- memory: peak RSS (os.wait4's ru_maxrss) of `runner run` on the --small and the --big
  spec, without report flags and with --json --junit --html; the ratio big/small;
- per request at scale: CPU time of `runner run` on the --big spec against the bare loop's,
  run one after the other in each of --rounds rounds; the round with the median ratio is kept.

Children run with bytecode caching on (PYTHONDONTWRITEBYTECODE removed) after one
warm-up run, as an installed tool does: otherwise every run would compile the runner's
modules from source, which the bare script (importing only requests) hardly pays.

Prints one table (value, reference, ratio, target) and writes bench/out/lean.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from run import TOKEN, Target, write_spec  # noqa: E402

WALLS: list[float] = []
ROUND_RATIOS: list[float] = []  # CPU per request at scale: each round's runner / bare loop

BARE = """
import json, sys, requests
url, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with requests.Session() as s:
    s.trust_env = False
    for _ in range(n):
        r = s.get(url + "/pets", headers={"Authorization": "Bearer " + token}, timeout=30)
        assert r.status_code == 200 and json.loads(r.text)["count"] == 2
"""

LOAD = """
import sys, time
from runner.load import load_spec_file
t = time.perf_counter(); load_spec_file(sys.argv[1]); print(time.perf_counter() - t)
"""


def run_child(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """(CPU seconds, peak RSS in MB, stdout) of one child process; it must exit 0."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:4]} exited {proc.returncode}: {(out + err).decode(errors='replace')[-1500:]}")
    rss = usage.ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else usage.ru_maxrss / 1024
    WALLS.append(wall)
    return usage.ru_utime + usage.ru_stime, rss, out.decode(errors="replace")


def best(times: int, argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    runs = [run_child(argv, env, cwd) for _ in range(times)]
    return min(r[0] for r in runs), max(r[1] for r in runs)


def _measure_scale(rows: list, args: argparse.Namespace, only: set[str], specs: dict[int, Path],
                   runner: list[str], bare: list[str], env: dict[str, str], work: Path) -> None:
    """Peak RSS at --small and --big requests (with and without reports), and CPU per request at --big.

    CPU per request pairs the runner and the bare loop, run one right after the other, in
    each of --rounds rounds, and keeps the round with the median ratio: on a shared
    machine either side's CPU time moves by a fifth from one minute to the next, and the
    best runner and the best bare loop of different minutes made ratios from 1.04x to
    1.37x in one sitting. The row with reports is the best of its rounds."""
    reports = ["--json", str(work / "r.json"), "--junit", str(work / "r.xml"), "--html", str(work / "r.html")]
    _, rss_small = best(2, runner + [str(specs[args.small])], env, work)
    _, rss_small_r = best(2, runner + [str(specs[args.small])] + reports, env, work)
    big_cpu_r = float("inf")
    pairs: list[tuple[float, float]] = []  # (runner CPU, bare CPU) of each round
    rss_big = rss_big_r = 0.0
    for _ in range(args.rounds if "scale" in only else 1):
        cpu, rss = best(1, runner + [str(specs[args.big])], env, work)
        rss_big = max(rss_big, rss)
        if "scale" in only:
            pairs.append((cpu, best(1, bare + [str(args.big)], env, work)[0]))
        cpu, rss = best(1, runner + [str(specs[args.big])] + reports, env, work)
        big_cpu_r, rss_big_r = min(big_cpu_r, cpu), max(rss_big_r, rss)
    if "memory" in only:
        rows.append((f"peak RSS {args.big} vs {args.small} requests (MB)", rss_big, rss_small, 1.3, "MB"))
        rows.append(("  the same with --json --junit --html (MB)", rss_big_r, rss_small_r, 2.0, "MB"))
    if "scale" in only:
        pairs.sort(key=lambda pair: pair[0] / pair[1])
        big_cpu, bare_cpu = pairs[len(pairs) // 2]
        per_bare = bare_cpu / args.big * 1e6
        rows.append((f"per request, {args.big}-request run (CPU us)", big_cpu / args.big * 1e6, per_bare, 1.15, "us"))
        rows.append(("  the same with --json --junit --html (CPU us)", big_cpu_r / args.big * 1e6,
                     min(bare for _, bare in pairs) / args.big * 1e6, None, "us"))
        ROUND_RATIOS.extend(round(r / b, 3) for r, b in pairs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=("auto", "nginx", "python"), default="auto")
    parser.add_argument("--big", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--out", default=str(BENCH_DIR / "out" / "lean.json"))
    parser.add_argument("--rounds", type=int, default=5, help="paired rounds for CPU per request at --big (the median ratio is kept)")
    parser.add_argument("--only", default="startup,loading,memory,scale",
                        help="comma-separated parts to measure (default: all)")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    kind = args.target if args.target != "auto" else ("nginx" if shutil.which("nginx") else "python")
    py = sys.executable
    rows: list[tuple[str, float, float, float | None, str]] = []  # name, value, reference, target, unit
    with tempfile.TemporaryDirectory(prefix="runner-lean-") as tmp:
        work = Path(tmp)
        target = Target(kind, work).start()
        try:
            env = {k: v for k, v in os.environ.items()
                   if not k.lower().endswith("_proxy") and k != "PYTHONDONTWRITEBYTECODE"}
            env.update({"BENCH_URL": target.url, "BENCH_TOKEN": TOKEN, "NO_COLOR": "1", "PYTHONPATH": str(BENCH_DIR.parent)})
            specs = {}
            for n in (1, args.small, args.big):
                specs[n] = work / f"spec{n}.yaml"
                write_spec(specs[n], n)
            (work / "bare.py").write_text(BARE)
            (work / "load.py").write_text(LOAD)
            runner = [py, "-m", "runner", "run", "--no-color"]
            bare = [py, str(work / "bare.py"), target.url, TOKEN]

            best(1, runner + [str(specs[1])], env, work)  # warm-up: writes the bytecode caches
            best(1, bare + ["1"], env, work)
            if "startup" in only:
                one_runner, _ = best(10, runner + [str(specs[1])], env, work)
                one_bare, _ = best(10, bare + ["1"], env, work)
                rows.append(("start-up: one-request run (CPU s)", one_runner, one_bare, 1.6, "s"))
                # The floor under any runner: importing the libraries the project must use
                # (python-jsonpath compiles its lexers on import), next to the same bare script.
                floor, _ = best(10, [py, "-c", "import json, requests, yaml, jsonpath, jsonschema_rs"], env, work)
                rows.append(("  importing requests+yaml+jsonpath+jsonschema-rs", floor, one_bare, None, "s"))

            if "loading" in only:
                loads = [float(run_child([py, str(work / "load.py"), str(specs[args.big])], env, work)[2])
                         for _ in range(3)]
                rows.append((f"loading a {args.big}-request spec (s)", min(loads), 3.9, 1 / 3, "s"))

            if "memory" in only or "scale" in only:
                _measure_scale(rows, args, only, specs, runner, bare, env, work)
        finally:
            target.stop()

    print(f"\ntarget: {kind}; reference = a bare requests.Session script (loading: 0.1's 3.9 s)")
    print(f"  {'':<46} {'value':>10} {'reference':>10} {'ratio':>7}  target")
    results = []
    for name, value, ref, goal, unit in rows:
        ratio = value / ref if ref else float("nan")
        verdict = "" if goal is None else (f"<= {goal:.2f}x " + ("OK" if ratio <= goal else "MISSED"))
        print(f"  {name:<46} {value:>10.3f} {ref:>10.3f} {ratio:>6.2f}x  {verdict}")
        results.append({"name": name, "value": value, "reference": ref, "ratio": ratio, "target": goal, "unit": unit})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if ROUND_RATIOS:
        print(f"  per request at scale, each round's ratio: {' '.join(f'{r:.2f}x' for r in ROUND_RATIOS)} (the median is kept)")
    out.write_text(json.dumps({"target": kind, "rows": results, "scale_round_ratios": ROUND_RATIOS, "wall_times_s": WALLS},
                              indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
