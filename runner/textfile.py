"""Reading an input file (spec, config, fragment, data file) with the same caps for all:
no directory, FIFO or device, at most MAX_FILE_BYTES, decoded as the YAML loader does."""

from __future__ import annotations

import os
import stat

from ._yaml import decode
from .errors import SpecError
from .source import Diagnostic

__all__ = ["MAX_FILE_BYTES", "read_text_file"]

MAX_FILE_BYTES = 5 * 1024 * 1024


def read_text_file(path: str | os.PathLike, *, what: str = "spec") -> str:
    """A spec/config file's text. Refuses directories, FIFOs, devices and files over
    MAX_FILE_BYTES before reading; decodes UTF-8 (BOM or not) or UTF-16/32 with a BOM."""
    name = os.fspath(path)

    def fail(message: str) -> SpecError:
        return SpecError([Diagnostic(f"{name}: {message}", None, title="file error")])

    try:
        st = os.stat(name)
    except FileNotFoundError:
        raise fail(f"no such {what} file") from None
    except OSError as exc:
        raise fail(f"cannot read the {what} file: {exc.strerror or 'error'}") from None
    if stat.S_ISDIR(st.st_mode):
        raise fail(f"is a directory, not a {what} file")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file"
        raise fail(f"is {kind}, not a {what} file")
    if st.st_size > MAX_FILE_BYTES:
        raise fail(f"the {what} file is too large ({st.st_size} bytes; the limit is {MAX_FILE_BYTES})")
    try:
        with open(name, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise fail(f"cannot read the {what} file: {exc.strerror or 'error'}") from None
    if len(data) > MAX_FILE_BYTES:
        raise fail(f"the {what} file is too large (the limit is {MAX_FILE_BYTES} bytes)")
    return decode(data, name)
