"""`command: [argv, ...]` + optional `timeout`: the standard output of a command.

    secrets:
      gcp_token:
        command: [gcloud, auth, print-access-token]
        timeout: 10

- No shell: argv is run as given. A relative program path with a `/` in it
  (`./scripts/token.sh`) is relative to the declaring file; a bare name is looked up
  on PATH. The command runs in the current directory with the run's environment.
- stdin is /dev/null, so a command that prompts ("Reauthentication required") gets
  EOF at once instead of waiting for a user who is not there.
- It runs in its own process group (session); on timeout, Ctrl-C or SIGTERM the whole
  group is killed, so no orphaned `gcloud` or `sleep` survives.
- stdout is the value, stripped of surrounding whitespace; it must be one line and at
  most 64 KB. A non-zero exit is an error that shows the exit status and the last
  2 KB of stderr (control characters removed, the stdout value, the values of
  `--token=...`-style arguments and of `token=...`/`password: ...` assignments masked),
  never stdout.
- Refreshable: after a 401 the command is run again.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import IO

from ..errors import SecretError
from ..model import SecretDecl
from ..redact import SENSITIVE_KEY
from .base import MAX_VALUE_BYTES, SecretValue, SourceContext, check_value, clean_text, seconds_option

__all__ = ["CommandSource", "build", "reads_relative_path", "STDERR_TAIL_BYTES"]

STDERR_TAIL_BYTES = 2048
_KILL_GRACE_S = 1.0  # SIGTERM, then SIGKILL this long after
_EOF_GRACE_S = 2.0  # after the command exits, how long its children may keep stdout open
_MAX_ARG_CHARS = 40
_SECRET_ARG = re.compile(r"^(-{0,2}[^=\s]*?)=(.*)$", re.S)


# `token=abc`, `password: abc`, `"access_token": "abc"` in a command's stderr: the value is masked.
_ASSIGNMENT = re.compile(
    r"((?:token|secret|password|passwd|api[-_]?key|credential)[\w.-]*[\"']?\s*[=:]\s*[\"']?)([^\s\"',;&]{4,})", re.I
)


_SECRET_FLAG = re.compile(r"^-{1,2}[^=\s]+$")
# `Authorization: Bearer ...`, `X-Api-Key: ...` (curl -H): a header whose name looks secret.
_SECRET_HEADER = re.compile(r"^([A-Za-z0-9_-]+)\s*:\s*(\S.*)$", re.S)
_USER_FLAGS = ("-u", "--user", "-U", "--proxy-user")  # curl's user:password


def _secret_args(argv: tuple[str, ...]) -> tuple[str, ...]:
    """The values of `--token=...`, `--password VALUE`, `Authorization: ...` and
    `--user NAME:PASSWORD` arguments (masked in messages and stderr)."""
    out = []
    for i, arg in enumerate(argv):
        prev = argv[i - 1] if i > 0 else ""
        m = _SECRET_ARG.match(arg)
        h = _SECRET_HEADER.match(arg)
        if m and SENSITIVE_KEY.search(m.group(1)):
            values = [m.group(2)]
        elif h and SENSITIVE_KEY.search(h.group(1)):
            values = [h.group(2), h.group(2).split()[-1]]  # "Bearer abc" and "abc"
        elif prev in _USER_FLAGS and ":" in arg:
            values = [arg, arg.partition(":")[2]]
        elif _SECRET_FLAG.match(prev) and SENSITIVE_KEY.search(prev):
            values = [arg]
        else:
            continue
        out.extend(v for v in values if len(v) >= 4)
    return tuple(out)


def _display_arg(arg: str) -> str:
    """An argv element for messages: `password=...` / `--token=...` / `Authorization: ...`
    values are masked, control characters removed, long arguments (inline scripts) shortened."""
    m = _SECRET_ARG.match(arg)
    if m and SENSITIVE_KEY.search(m.group(1)):
        return shlex.quote(clean_text(m.group(1), 40)) + "=***"
    h = _SECRET_HEADER.match(arg)
    if h and SENSITIVE_KEY.search(h.group(1)):
        return shlex.quote(clean_text(h.group(1), 40) + ": ***")
    return shlex.quote(clean_text(arg, _MAX_ARG_CHARS))


class _Reader(threading.Thread):
    """Drain a pipe so the child never blocks; keep the head (stdout) or the tail (stderr)."""

    def __init__(self, stream: IO[bytes], limit: int, keep: str) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.limit = limit
        self.keep = keep
        self.data = bytearray()
        self.total = 0
        self.overflow = threading.Event()

    def run(self) -> None:
        try:
            while True:
                chunk = self.stream.read1(65536) if hasattr(self.stream, "read1") else self.stream.read(65536)
                if not chunk:
                    return
                self.total += len(chunk)
                if self.keep == "head":
                    room = self.limit + 1 - len(self.data)
                    if room > 0:
                        self.data += chunk[:room]
                    if self.total > self.limit:
                        self.overflow.set()
                else:
                    self.data += chunk
                    if len(self.data) > self.limit:
                        del self.data[: len(self.data) - self.limit]
        except (OSError, ValueError):
            return


def _kill_group(proc: subprocess.Popen, grace: float = _KILL_GRACE_S) -> None:
    """SIGTERM the command's process group, then SIGKILL it; reap the command."""
    killpg = getattr(os, "killpg", None)
    if killpg is None:  # Windows: no process groups; kill the command itself
        try:
            proc.kill()
        except OSError:
            pass
        proc.wait()
        return
    pgid = proc.pid  # start_new_session=True: the command leads its own group
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        try:
            killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            break
        if wait is not None:
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if proc.poll() is not None and not _group_alive(pgid):
                    return
                time.sleep(0.02)
    proc.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(slots=True)
class CommandSource:
    decl: SecretDecl
    argv: tuple[str, ...]
    timeout: float
    ctx: SourceContext
    refreshable: bool = True
    _shown: str = field(default="", repr=False)

    def describe(self) -> str:
        if not self._shown:
            hidden = set(_secret_args(self.argv))
            self._shown = "command " + " ".join("***" if a in hidden else _display_arg(a) for a in self.argv)
        return self._shown

    def env_name(self) -> str | None:
        return None

    def _fail(self, reason: str) -> SecretError:
        return SecretError(self.decl.name, self.describe(), reason, self.decl.span)

    def _program(self) -> str:
        prog = os.path.expanduser(self.argv[0])
        if _relative_program(self.argv[0]):
            prog = os.path.normpath(os.path.join(self.decl.base_dir or ".", prog))
        return prog

    def fetch(self) -> SecretValue:
        if not self.argv or not all(isinstance(a, str) and a for a in self.argv):
            raise self._fail("'command' must be a non-empty list of non-empty strings")
        if any("\0" in a for a in self.argv):
            raise self._fail("'command' has an argument with a NUL character")
        prog = self._program()
        env = dict(os.environ)
        env.update(self.ctx.environ)
        try:
            proc = subprocess.Popen(
                [prog, *self.argv[1:]],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        except FileNotFoundError:
            if prog == self.argv[0] and os.sep not in prog:
                raise self._fail(f"command '{self.argv[0]}' not found on PATH") from None
            raise self._fail(f"command '{prog}' not found") from None
        except PermissionError:
            raise self._fail(f"command '{prog}' is not executable (permission denied)") from None
        except OSError as exc:
            raise self._fail(f"command '{prog}' could not be started: {exc.strerror or type(exc).__name__}") from None

        assert proc.stdout is not None and proc.stderr is not None
        out = _Reader(proc.stdout, MAX_VALUE_BYTES, "head")
        err = _Reader(proc.stderr, STDERR_TAIL_BYTES, "tail")
        out.start()
        err.start()
        deadline = time.monotonic() + self.timeout
        timed_out = too_big = interrupted = False
        stop = self.ctx.stop
        try:
            while True:
                try:
                    proc.wait(timeout=0.05)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if out.overflow.is_set():
                    too_big = True
                    _kill_group(proc)
                    break
                if time.monotonic() >= deadline:
                    timed_out = True
                    _kill_group(proc)
                    break
                if stop is not None and stop.is_set():
                    interrupted = True
                    _kill_group(proc, grace=0.2)
                    break
            # The command exited; a child it left behind may still hold the pipes open.
            for reader in (out, err):
                reader.join(max(0.0, min(_EOF_GRACE_S, deadline - time.monotonic())) if not (timed_out or too_big or interrupted) else 0.5)
            if out.is_alive() or err.is_alive():
                _kill_group(proc, grace=0.2)
                out.join(1.0)
                err.join(1.0)
        except BaseException:  # KeyboardInterrupt, SystemExit: never leave the group running
            _kill_group(proc, grace=0.2)
            raise
        finally:
            for stream in (proc.stdout, proc.stderr):
                try:
                    stream.close()
                except OSError:
                    pass

        stdout_bytes = bytes(out.data)
        stdout_text = stdout_bytes.decode("utf-8", errors="replace")
        mask = tuple(line.strip() for line in stdout_text.splitlines() if len(line.strip()) >= 4)
        mask += _secret_args(self.argv)
        stderr_raw = bytes(err.data).decode("utf-8", errors="replace")
        stderr_text = clean_text(
            _ASSIGNMENT.sub(lambda m: m.group(1) + "***", stderr_raw),
            limit=STDERR_TAIL_BYTES, mask=mask, keep_newlines=True,
        )
        stderr_part = f"; stderr: {stderr_text}" if stderr_text else "; no stderr"

        if interrupted:
            raise self._fail("interrupted: the command was stopped with its process group")
        if timed_out:
            raise self._fail(
                f"command did not finish within {self.timeout:g} s and was killed (is it waiting for input or a login?)"
                + (f"; stderr: {stderr_text}" if stderr_text else "")
            )
        if too_big or out.total > MAX_VALUE_BYTES:
            raise self._fail(f"command printed more than {MAX_VALUE_BYTES // 1024} KB on stdout")
        code = proc.returncode
        if code != 0:
            if code < 0:
                try:
                    what = f"was killed by {signal.Signals(-code).name}"
                except ValueError:
                    what = f"was killed by signal {-code}"
            else:
                what = f"exited with status {code}"
            raise self._fail(f"command {what}{stderr_part}")
        try:
            text = stdout_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self._fail(f"command output is not valid UTF-8 (byte {exc.start + 1})") from None
        text = text.strip()
        if not text:
            raise self._fail("command printed nothing on stdout" + (f"; stderr: {stderr_text}" if stderr_text else ""))
        lines = text.splitlines()
        if len(lines) > 1:
            raise self._fail(f"command printed {len(lines)} lines on stdout; it must print the value alone, on one line")
        return SecretValue(check_value(self.decl, self.describe(), text))


def _relative_program(program: str) -> bool:
    """`./scripts/token.sh` (a path, not absolute): read relative to the declaring file."""
    prog = os.path.expanduser(program)
    has_sep = os.sep in prog or bool(os.altsep and os.altsep in prog)
    return has_sep and not os.path.isabs(prog)


def _argv(decl: SecretDecl) -> tuple[str, ...]:
    raw = decl.options["command"]
    if isinstance(raw, str):
        try:
            return tuple(shlex.split(raw))
        except ValueError as exc:  # "No closing quotation", "No escaped character"
            raise SecretError(decl.name, "command", f"'command' cannot be split into arguments: {exc}", decl.span) from None
    return tuple(str(a) if not isinstance(a, str) else a for a in raw)


def reads_relative_path(decl: SecretDecl) -> bool:
    """Only a relative program path depends on the declaring folder (the command runs in
    the current directory; a bare name is found on PATH): see base.source_identity."""
    try:
        argv = _argv(decl)
    except SecretError:
        return True  # fails in build() with its own message
    return bool(argv) and _relative_program(argv[0])


def build(decl: SecretDecl, ctx: SourceContext) -> CommandSource:
    argv = _argv(decl)
    return CommandSource(decl, argv, seconds_option(decl.options.get("timeout"), ctx.command_timeout), ctx)
