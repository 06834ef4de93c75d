"""Start-up: a run imports only what it uses (issue 13, item 4; bench/lean.py measures the time)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import write

ROOT = Path(__file__).resolve().parent.parent

PROBE = (
    "import sys\nfrom runner.cli import main\ncode = main(['run', *sys.argv[2:], sys.argv[1]])\n"
    "print(code, sorted({m.split('.')[0] for m in sys.modules} & {'rich', 'jsonschema', 'difflib'}))"
)


def _probe(spec, cwd, *flags: str, **env: str) -> str:
    environ = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **env}
    proc = subprocess.run([sys.executable, "-c", PROBE, str(spec), *flags], cwd=cwd, capture_output=True, text=True,
                          env=environ, timeout=60)
    return proc.stdout.strip().splitlines()[-1] + proc.stderr


def _spec(tmp_path, url: str):
    return write(tmp_path / "s.yaml", f"""
        base_url: {url}
        requests:
          - name: ok
            url: /ok
            expect:
              status: 200
        """)


def test_a_plain_log_run_imports_neither_rich_nor_jsonschema(tmp_path, http_server):
    # not a TTY, no colour: plain lines need no rich; a valid spec needs no jsonschema messages
    assert _probe(_spec(tmp_path, http_server.url), tmp_path, "--no-color") == "0 []"


def test_colour_still_goes_through_rich(tmp_path, http_server):
    assert _probe(_spec(tmp_path, http_server.url), tmp_path, FORCE_COLOR="1").startswith("0 ['rich']")
