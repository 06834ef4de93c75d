import subprocess
import sys

import runner


def test_all_is_sorted_and_complete():
    assert runner.__all__ == sorted(runner.__all__)
    for name in runner.__all__:
        assert getattr(runner, name) is not None, name


def test_version_does_not_import_heavy_modules():
    code = (
        "import sys, runner.cli as c, io; c.main(['--version'], stdout=io.StringIO());"
        "print(','.join(m for m in ('requests','rich','jsonschema','yaml') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""
