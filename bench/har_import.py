"""Benchmark: peak memory of `runner import har` on a 100 MB HAR of base64 images (HAZARDS 83).

    python bench/har_import.py [--mb 100]

Writes a HAR of MB megabytes (image and font entries of 2 MB of base64 each, with
API calls between them) to a temporary folder, then measures in child processes the
peak resident memory (ru_maxrss) of: `runner import har` (ijson streaming when the `har`
extra is installed), and for comparison the stdlib's `json.load` of the same file.
Writes bench/out/har.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def write_har(path: Path, megabytes: int) -> int:
    blob = base64.b64encode(os.urandom(1_500_000)).decode()  # ~2 MB of base64
    api = {"_resourceType": "fetch", "request": {"method": "GET", "url": "http://127.0.0.1:9/api/items",
                                                 "headers": [{"name": "Accept", "value": "application/json"}]},
           "response": {"status": 200, "content": {"mimeType": "application/json", "text": "{}"}}}
    calls = 0
    with path.open("w") as fh:
        fh.write('{"log": {"version": "1.2", "creator": {"name": "bench"}, "entries": [')
        first = True
        while fh.tell() < megabytes * 2**20:
            image = {"_resourceType": "image", "request": {"method": "GET", "url": "http://127.0.0.1:9/i.png", "headers": []},
                     "response": {"status": 200, "content": {"mimeType": "image/png", "encoding": "base64", "text": blob}}}
            for entry in (image, api):
                fh.write(("" if first else ",") + json.dumps(entry))
                first = False
            calls += 1
        fh.write("]}}")
    return calls


def peak_of(argv: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one child process."""
    start = time.perf_counter()
    code = subprocess.call(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"{argv[:4]} exited {code}")
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        har = Path(tmp) / "big.har"
        calls = write_har(har, args.mb)
        size = har.stat().st_size / 2**20
        # RUSAGE_CHILDREN is the max over every child so far: measure the small one first.
        importer_mb, importer_s = peak_of([sys.executable, "-m", "runner", "import", "har", str(har), "-o", str(Path(tmp) / "o.yaml")])
        stdlib_mb, stdlib_s = peak_of([sys.executable, "-c", "import json,sys; json.load(open(sys.argv[1]))", str(har)])
    result = {"har_mb": round(size, 1), "api_calls": calls, "import_peak_rss_mb": round(importer_mb, 1),
              "import_seconds": round(importer_s, 2), "stdlib_json_load_peak_rss_mb": round(stdlib_mb, 1),
              "stdlib_json_load_seconds": round(stdlib_s, 2)}
    OUT.mkdir(exist_ok=True)
    (OUT / "har.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
