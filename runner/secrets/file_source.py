"""`file: path`: the content of a small file (Docker and Kubernetes secret files).

The path is relative to the file that declared the secret (`~` is expanded). One
trailing line ending is stripped. The file type and size are checked with `os.stat`
before anything is opened, and the file is opened non-blocking, so a FIFO, a device
(`/dev/zero`) or a huge file gives an error instead of a hang.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

from ..errors import SecretError
from ..model import SecretDecl
from .base import MAX_VALUE_BYTES, SecretValue, SourceContext, check_value

__all__ = ["FileSource", "build", "read_small_file", "resolve_path", "reads_relative_path"]


def resolve_path(decl: SecretDecl, path: str) -> str:
    path = os.path.expanduser(path)
    if not os.path.isabs(path):
        path = os.path.join(decl.base_dir or ".", path)
    return os.path.normpath(path)


def _kind_of(mode: int) -> str | None:
    """A description of a non-regular file type, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe), not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    return "is not a regular file"


def read_small_file(decl: SecretDecl, source: str, path: str, what: str = "file") -> str:
    """Read a regular file of at most MAX_VALUE_BYTES as UTF-8 (a BOM is dropped).

    Every failure is a SecretError that names the path and never the content.
    """

    def fail(reason: str) -> SecretError:
        return SecretError(decl.name, source, reason, decl.span)

    if "\0" in path:
        raise fail(f"the path of the {what} has a NUL character")
    try:
        st = os.stat(path)  # follows symlinks (Kubernetes mounts are symlinks)
    except FileNotFoundError:
        if os.path.islink(path):
            raise fail(f"{path} is a symlink to a missing file (dangling symlink)") from None
        raise fail(f"{what} {path} does not exist") from None
    except PermissionError:
        raise fail(f"permission denied reading {path}") from None
    except NotADirectoryError:
        raise fail(f"{path}: a parent of this path is not a directory") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise fail(f"{path}: too many levels of symbolic links") from None
        raise fail(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    problem = _kind_of(st.st_mode)
    if problem:
        raise fail(f"{path} {problem}")
    if st.st_size > MAX_VALUE_BYTES:
        raise fail(f"{what} {path} is too large ({st.st_size:,} bytes; the limit is {MAX_VALUE_BYTES // 1024} KB)")
    if st.st_size == 0:
        raise fail(f"{what} {path} is empty")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except PermissionError:
        raise fail(f"permission denied reading {path}") from None
    except OSError as exc:
        raise fail(f"cannot open {path}: {exc.strerror or type(exc).__name__}") from None
    try:
        # The path may have been swapped for a FIFO or device since the stat: check again.
        problem = _kind_of(os.fstat(fd).st_mode)
        if problem:
            raise fail(f"{path} {problem}")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_VALUE_BYTES:
            chunk = os.read(fd, MAX_VALUE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > MAX_VALUE_BYTES:
        raise fail(f"{what} {path} is too large (more than {MAX_VALUE_BYTES // 1024} KB)")
    if not data:
        raise fail(f"{what} {path} is empty")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail(f"{what} {path} is not valid UTF-8 (byte {exc.start + 1})") from None


@dataclass(slots=True)
class FileSource:
    decl: SecretDecl
    path: str  # as written in the spec
    ctx: SourceContext
    refreshable: bool = False

    def describe(self) -> str:
        return f"file {self.path}"

    def env_name(self) -> str | None:
        return None

    def fetch(self) -> SecretValue:
        text = read_small_file(self.decl, self.describe(), resolve_path(self.decl, self.path))
        return SecretValue(check_value(self.decl, self.describe(), text))


def reads_relative_path(decl: SecretDecl) -> bool:
    """The path is relative to the declaring file: see base.source_identity."""
    return True


def build(decl: SecretDecl, ctx: SourceContext) -> FileSource:
    return FileSource(decl, str(decl.options["file"]), ctx)
