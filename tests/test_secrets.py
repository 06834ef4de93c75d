"""Secret sources other than oauth2 (see test_oauth2.py): file, dotenv, command, keyring,
the shared value checks, and the store's caching and refresh rules.

Every failure test also checks that the canary value never shows in the error.
"""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from runner.errors import ExitCode, SecretError
from runner.model import SecretDecl
from runner.redact import Redactor
from runner.secrets import SecretStore, SourceContext, make_source
from runner.secrets.base import MAX_VALUE_BYTES, check_value, clean_text
from runner.secrets.store import renew_at
from runner.source import Span
from tests.helpers import CANARY

PY = sys.executable


def decl(kind: str, options: dict, base_dir: str | os.PathLike = ".", name: str = "api_token") -> SecretDecl:
    return SecretDecl(name, kind, options, Span.point("specs/api.yaml", 7, 5), str(base_dir))


def ctx(**kw) -> SourceContext:
    kw.setdefault("environ", dict(os.environ))
    return SourceContext(**kw)


def fetch(d: SecretDecl, **kw) -> str:
    kw.setdefault("environ", {**os.environ, "RR_CANARY": CANARY})  # commands read it from there
    return make_source(d, ctx(**kw)).fetch().value


def failure(d: SecretDecl, **kw) -> SecretError:
    with pytest.raises(SecretError) as info:
        fetch(d, **kw)
    err = info.value
    assert_clean(err)
    assert err.exit_code == ExitCode.CREDENTIALS
    assert err.secret == d.name
    assert "specs/api.yaml:7:5" in str(err)  # names where it was declared
    return err


def assert_clean(err: BaseException) -> None:
    for text in (str(err), repr(err), getattr(err, "reason", ""), getattr(err, "source", ""), repr(err.args)):
        assert CANARY not in text
        assert "\x1b" not in text


def in_thread(fn, timeout: float = 10.0):
    """Run fn in a thread; fail (instead of hanging the suite) if it blocks."""
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "blocked"
    if "error" in box:
        raise box["error"]
    return box.get("value")


def process_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")  # a zombie is dead
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def wait_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process_gone(pid):
            return True
        time.sleep(0.05)
    return process_gone(pid)


# ---- check_value / clean_text ---------------------------------------------------------


@pytest.mark.parametrize("raw", [CANARY, CANARY + "\n", CANARY + "\r\n"])
def test_one_trailing_line_ending_is_stripped(raw):
    assert check_value(decl("env", {}), "env X", raw) == CANARY


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (CANARY + "\n\n", "control character (U+000A) at position 23"),
        (CANARY + "\r", "control character (U+000D) at position 23"),
        ("ab\x1bcd" + CANARY, "control character (U+001B) at position 3"),
        ("Bearer\t" + CANARY, "control character (U+0009) at position 7"),
        (CANARY + "\u201d", "non-latin-1 character (U+201D) at position 23"),
        ("", "the value is empty"),
        ("   \n", "only whitespace"),
    ],
)
def test_bad_values_are_refused_by_position(raw, needle):
    with pytest.raises(SecretError) as info:
        check_value(decl("env", {}), "env X", raw)
    assert needle in str(info.value)
    assert_clean(info.value)


def test_clean_text_masks_after_removing_control_characters():
    text = clean_text("boom rr-CANARY-\x1b9f8e7d6c5b4a\r\nnext\x07 line", mask=(CANARY,), keep_newlines=True)
    assert text == "boom ***\nnext line"
    assert clean_text("x" * 500, 20) == "x" * 17 + "..."


# ---- file -----------------------------------------------------------------------------


def test_file_value_relative_to_declaring_file(tmp_path):
    (tmp_path / "token.txt").write_text(CANARY + "\n")
    assert fetch(decl("file", {"file": "token.txt"}, tmp_path)) == CANARY
    source = make_source(decl("file", {"file": "token.txt"}, tmp_path), ctx())
    assert source.describe() == "file token.txt"
    assert source.refreshable is False and source.env_name() is None


def test_file_crlf_and_bom(tmp_path):
    (tmp_path / "t").write_bytes(b"\xef\xbb\xbf" + CANARY.encode() + b"\r\n")
    assert fetch(decl("file", {"file": "t"}, tmp_path)) == CANARY


def test_file_through_symlink_as_kubernetes_mounts_it(tmp_path):
    data = tmp_path / "..data"
    data.mkdir()
    (data / "token").write_text(CANARY)
    (tmp_path / "token").symlink_to(data / "token")
    assert fetch(decl("file", {"file": str(tmp_path / "token")})) == CANARY


def test_file_missing(tmp_path):
    err = failure(decl("file", {"file": "nope.txt"}, tmp_path))
    assert "does not exist" in err.reason and "nope.txt" in err.reason
    assert err.source == "file nope.txt"


def test_file_is_a_directory(tmp_path):
    assert "is a directory" in failure(decl("file", {"file": "."}, tmp_path)).reason


def test_file_permission_denied(tmp_path):
    p = tmp_path / "t"
    p.write_text(CANARY)
    p.chmod(0)
    if os.geteuid() != 0:
        try:
            assert "permission denied" in failure(decl("file", {"file": "t"}, tmp_path)).reason
        finally:
            p.chmod(0o600)
        return
    # root reads any file: check as an unprivileged user in a child process instead
    import subprocess
    import tempfile

    shared = Path(tempfile.mkdtemp(prefix="rr-perm-"))
    try:
        shared.chmod(0o755)
        (shared / "t").write_text(CANARY)
        (shared / "t").chmod(0o600)
        script = (
            "from runner.model import SecretDecl\n"
            "from runner.secrets import SourceContext, make_source\n"
            "from runner.source import Span\n"
            "from runner.errors import SecretError\n"
            f"d = SecretDecl('t', 'file', {{'file': 't'}}, Span.point('s.yaml'), {str(shared)!r})\n"
            "try:\n    make_source(d, SourceContext(environ={})).fetch()\n"
            "except SecretError as exc:\n    print(exc)\n"
        )
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(Path(__file__).parents[1])}
        try:
            out = subprocess.run([PY, "-c", script], user=65534, group=65534, env=env, capture_output=True,
                                 text=True, timeout=60, cwd="/")
        except (PermissionError, OSError) as exc:
            pytest.skip(f"cannot switch to an unprivileged user: {exc}")
        if "Permission denied" in out.stderr and "python" in out.stderr.lower() and not out.stdout:
            pytest.skip("the interpreter is not readable by an unprivileged user")
        assert "permission denied reading" in out.stdout, out.stderr
        assert CANARY not in out.stdout + out.stderr
    finally:
        (shared / "t").unlink()
        shared.rmdir()


def test_file_and_dotenv_path_with_a_nul_character_is_a_secret_error(tmp_path):
    assert "NUL character" in failure(decl("file", {"file": "tok\0en"}, tmp_path)).reason
    assert "NUL character" in failure(decl("dotenv", {"dotenv": ".e\0nv", "key": "K"}, tmp_path)).reason


def test_file_empty(tmp_path):
    (tmp_path / "t").write_text("")
    assert "is empty" in failure(decl("file", {"file": "t"}, tmp_path)).reason


def test_file_only_a_newline(tmp_path):
    (tmp_path / "t").write_text("\n")
    assert "empty" in failure(decl("file", {"file": "t"}, tmp_path)).reason


def test_file_too_large(tmp_path):
    (tmp_path / "t").write_text(CANARY * (MAX_VALUE_BYTES // len(CANARY) + 1))
    assert "too large" in failure(decl("file", {"file": "t"}, tmp_path)).reason


def test_file_fifo_never_blocks(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    err = in_thread(lambda: pytest.raises(SecretError, fetch, decl("file", {"file": "fifo"}, tmp_path)).value)
    assert "FIFO" in err.reason


def test_file_dev_zero_never_hangs():
    err = in_thread(lambda: pytest.raises(SecretError, fetch, decl("file", {"file": "/dev/zero"})).value)
    assert "is a device" in err.reason


def test_file_dangling_symlink(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    assert "dangling symlink" in failure(decl("file", {"file": "link"}, tmp_path)).reason


def test_file_not_utf8(tmp_path):
    (tmp_path / "t").write_bytes(CANARY.encode() + b"\xff\xfe")
    assert "not valid UTF-8 (byte 23)" in failure(decl("file", {"file": "t"}, tmp_path)).reason


def test_file_control_character_names_position_not_value(tmp_path):
    (tmp_path / "t").write_text(CANARY + "\x07" + CANARY)
    assert "U+0007) at position 23" in failure(decl("file", {"file": "t"}, tmp_path)).reason


def test_file_world_readable_is_accepted(tmp_path):
    p = tmp_path / "t"
    p.write_text(CANARY)
    p.chmod(0o644)
    assert fetch(decl("file", {"file": "t"}, tmp_path)) == CANARY


# ---- dotenv ---------------------------------------------------------------------------


def write_env(tmp_path: Path, text: str, name: str = ".env") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8"))
    return p


@pytest.mark.parametrize(
    "line",
    [
        f"TOKEN={CANARY}",
        f"export TOKEN={CANARY}",
        f"TOKEN='{CANARY}'",
        f'TOKEN="{CANARY}"',
        f"TOKEN = {CANARY}  # a comment",
    ],
)
def test_dotenv_syntax(tmp_path, line):
    write_env(tmp_path, f"# settings\nOTHER=x\n{line}\nLAST=y\n")
    assert fetch(decl("dotenv", {"dotenv": ".env", "key": "TOKEN"}, tmp_path)) == CANARY


def test_dotenv_bom_on_the_first_key(tmp_path):
    write_env(tmp_path, f"\ufeffTOKEN={CANARY}\nB=2\n")
    assert fetch(decl("dotenv", {"dotenv": ".env", "key": "TOKEN"}, tmp_path)) == CANARY


def test_dotenv_crlf_file(tmp_path):
    write_env(tmp_path, f"A=1\r\nTOKEN={CANARY}\r\nB=2\r\n")
    assert fetch(decl("dotenv", {"dotenv": ".env", "key": "TOKEN"}, tmp_path)) == CANARY


def test_dotenv_does_not_interpolate(tmp_path):
    write_env(tmp_path, "TOKEN=abc${UNDEFINED_VARIABLE_X}def\n")
    assert fetch(decl("dotenv", {"dotenv": ".env", "key": "TOKEN"}, tmp_path)) == "abc${UNDEFINED_VARIABLE_X}def"


def test_dotenv_key_defaults_to_secret_name(tmp_path):
    write_env(tmp_path, f"api_token={CANARY}\n")
    assert fetch(decl("dotenv", {"dotenv": ".env"}, tmp_path)) == CANARY


def test_dotenv_describe_and_env_name(tmp_path):
    source = make_source(decl("dotenv", {"dotenv": ".env", "key": "TOKEN"}, tmp_path), ctx())
    assert source.describe() == "dotenv .env key TOKEN"
    assert source.env_name() == "TOKEN"
    assert source.refreshable is False


def test_dotenv_bare_key_has_no_value(tmp_path):
    write_env(tmp_path, f"OTHER={CANARY}\nTOKEN\n")
    assert "has no value" in failure(decl("dotenv", {"dotenv": ".env", "key": "TOKEN"}, tmp_path)).reason


def test_dotenv_missing_key_lists_names_never_values(tmp_path):
    write_env(tmp_path, f"API_TOKEN={CANARY}\nBASE_URL=http://x\n")
    err = failure(decl("dotenv", {"dotenv": ".env", "key": "TOKEN"}, tmp_path))
    assert "key TOKEN is not in" in err.reason
    assert "keys present: API_TOKEN, BASE_URL" in err.reason
    assert "http://x" not in err.reason


def test_dotenv_missing_key_suggests(tmp_path):
    write_env(tmp_path, f"API_TOKEN={CANARY}\n")
    assert "did you mean API_TOKEN?" in failure(decl("dotenv", {"dotenv": ".env", "key": "API_TOKN"}, tmp_path)).reason


def test_dotenv_missing_file(tmp_path):
    err = failure(decl("dotenv", {"dotenv": "missing.env", "key": "TOKEN"}, tmp_path))
    assert ".env file" in err.reason and "does not exist" in err.reason


def test_dotenv_cr_inside_a_value_is_refused(tmp_path):
    write_env(tmp_path, f'TOKEN="{CANARY}\rX"\n')
    assert "U+000D" in failure(decl("dotenv", {"dotenv": ".env", "key": "TOKEN"}, tmp_path)).reason


def test_dotenv_empty_value(tmp_path):
    write_env(tmp_path, "TOKEN=\n")
    assert "is empty" in failure(decl("dotenv", {"dotenv": ".env", "key": "TOKEN"}, tmp_path)).reason


def test_dotenv_unparsable_lines_are_named_not_printed(tmp_path, capfd):
    write_env(tmp_path, f"A=1\n'{CANARY}\nB=2\n")
    err = failure(decl("dotenv", {"dotenv": ".env", "key": "TOKEN"}, tmp_path))
    assert "could not parse: 2" in err.reason
    out, errout = capfd.readouterr()
    assert CANARY not in out + errout


# ---- command --------------------------------------------------------------------------


def cmd(*argv: str, **options) -> SecretDecl:
    return decl("command", {"command": list(argv), **options})


def py(code: str, **options) -> SecretDecl:
    """A Python one-liner; `CANARY` in it is read from the environment, never put in argv."""
    code = textwrap.dedent(code).replace(f"'{CANARY}'", "os.environ['RR_CANARY']")
    return cmd(PY, "-c", "import os, sys\n" + code, **options)


def test_command_stdout_is_the_value():
    assert fetch(py(f"print('  {CANARY}  ')")) == CANARY
    source = make_source(cmd("gcloud", "auth", "print-access-token"), ctx())
    assert source.describe() == "command gcloud auth print-access-token"
    assert source.refreshable is True


def test_command_string_with_unbalanced_quotes_is_a_secret_error():
    err = failure(decl("command", {"command": "op read 'op://vault/item"}))
    assert "cannot be split into arguments" in err.reason


def test_command_argument_with_a_nul_character_is_a_secret_error():
    assert "NUL character" in failure(cmd("echo", "a\0b")).reason


def test_command_gets_eof_on_stdin_at_once():
    code = "import sys; data = sys.stdin.read(); print('eof' if data == '' else 'data')"
    assert in_thread(lambda: fetch(py(code, timeout=5))) == "eof"


def test_command_sees_the_run_environment():
    assert fetch(py("import os; print(os.environ['RR_TEST_VALUE'])"), environ={"RR_TEST_VALUE": CANARY}) == CANARY


def test_command_nonzero_exit_shows_stderr_never_stdout():
    err = failure(
        py(
            f"""
            import sys
            print('{CANARY}')
            sys.stderr.write('ERROR: (gcloud.auth) Reauthentication required. token=' + '{CANARY}' + '\\x1b[31m\\n')
            sys.exit(3)
            """
        )
    )
    assert "exited with status 3" in err.reason
    assert "Reauthentication required" in err.reason
    assert "token=***" in err.reason


def test_command_stderr_is_the_last_2kb():
    err = failure(py("import sys; sys.stderr.write('A' * 10000 + 'THE END'); sys.exit(1)"))
    assert err.reason.endswith("THE END")
    assert len(err.reason) < 2200


def test_command_not_found():
    assert "command 'rr-no-such-command-xyz' not found on PATH" in failure(cmd("rr-no-such-command-xyz")).reason


def test_command_relative_path_is_relative_to_declaring_file(tmp_path):
    script = tmp_path / "get-token.sh"
    script.write_text(f"#!/bin/sh\necho {CANARY}\n")
    script.chmod(0o755)
    assert fetch(decl("command", {"command": ["./get-token.sh"]}, tmp_path)) == CANARY


@pytest.mark.skipif(os.geteuid() == 0, reason="root may execute anything")
def test_command_not_executable(tmp_path):
    script = tmp_path / "t.sh"
    script.write_text("#!/bin/sh\necho x\n")
    script.chmod(0o644)
    assert "not executable" in failure(decl("command", {"command": ["./t.sh"]}, tmp_path)).reason


def test_command_empty_output():
    assert "printed nothing on stdout" in failure(py("pass")).reason


def test_command_multiline_output():
    err = failure(py(f"print('{CANARY}'); print('{CANARY}')"))
    assert "printed 2 lines" in err.reason


def test_command_output_too_large():
    err = in_thread(lambda: failure(py("import sys\nwhile True: sys.stdout.write('x' * 65536)")))
    assert "more than 64 KB" in err.reason


def test_command_killed_by_signal():
    assert "killed by SIGKILL" in failure(cmd("sh", "-c", "kill -9 $$")).reason


def test_command_masks_secret_looking_arguments():
    source = make_source(cmd("tool", f"--password={CANARY}", "token=" + CANARY, "get"), ctx())
    assert source.describe() == "command tool --password=*** token=*** get"
    source = make_source(cmd("tool", "--token", CANARY, "-k", "plain"), ctx())
    assert source.describe() == "command tool --token *** -k plain"


def test_command_masks_credential_headers_and_user_password_arguments():
    argv = ("curl", "-H", f"Authorization: Bearer {CANARY}", "-H", f"X-Api-Key: {CANARY}", "-H", "Accept: text/plain")
    source = make_source(cmd(*argv, "--user", f"bob:{CANARY}", "-u", "alice", "https://idp/token"), ctx())
    assert source.describe() == (
        "command curl -H 'Authorization: ***' -H 'X-Api-Key: ***' -H 'Accept: text/plain' --user *** -u alice https://idp/token"
    )
    code = "import sys; sys.stderr.write('sent ' + sys.argv[2] + ' ' + sys.argv[4] + '\\n'); sys.exit(1)"
    err = failure(cmd(sys.executable, "-c", code, "-H", f"Authorization: Bearer {CANARY}", "-u", f"bob:{CANARY}"))
    assert "sent Authorization: *** ***" in err.reason, err.reason


def test_command_stderr_masks_secret_arguments_and_assignments():
    code = "import sys; sys.stderr.write('bad token=abc12345 \"api_key\": \"k-9876\" ' + sys.argv[2] + '\\n'); sys.exit(1)"
    err = failure(cmd(sys.executable, "-c", code, "--token", CANARY))
    assert "token=*** \"api_key\": \"***\" ***" in err.reason, err.reason
    assert_clean(err)


def _pid_from(path: Path, seconds: float = 5.0) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.02)
    raise AssertionError("the command did not start")


def test_command_timeout_kills_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "pid"
    d = cmd("sh", "-c", f"sleep 60 & echo $! > {pidfile}; sleep 60", timeout=1)
    started = time.monotonic()
    err = in_thread(lambda: failure(d))
    assert time.monotonic() - started < 5
    assert "did not finish within 1 s and was killed" in err.reason
    assert wait_gone(_pid_from(pidfile)), "the background child survived"


def test_command_default_timeout_comes_from_the_context(tmp_path):
    err = in_thread(lambda: failure(cmd("sleep", "30"), command_timeout=0.5))
    assert "within 0.5 s" in err.reason


@pytest.mark.parametrize("timeout", [10**400, 1e300, 0, -1, float("nan"), True])
def test_timeout_options_that_are_absurd_never_crash(timeout):
    """A huge timeout means no practical limit (an int beyond float range was OverflowError)."""
    from runner.secrets.base import MAX_TIMEOUT_S

    assert fetch(py("print('abcd')", timeout=timeout)) == "abcd"
    command = make_source(py("print('abcd')", timeout=timeout), ctx(command_timeout=7.0))
    keyring = make_source(decl("keyring", {"keyring": {"service": "s", "username": "u"}, "timeout": timeout}), ctx())
    for source, default in ((command, 7.0), (keyring, 10.0)):
        assert 0 < source.timeout <= MAX_TIMEOUT_S
        if timeout in (0, -1, True) or timeout != timeout:
            assert source.timeout == default


def test_command_child_holding_stdout_does_not_hang(tmp_path):
    pidfile = tmp_path / "pid"
    d = cmd("sh", "-c", f"sleep 60 & echo $! > {pidfile}; echo {CANARY}", timeout=20)
    started = time.monotonic()
    assert in_thread(lambda: fetch(d)) == CANARY
    assert time.monotonic() - started < 10
    assert wait_gone(_pid_from(pidfile))


def test_command_interrupted_kills_the_group(tmp_path):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("needs the main thread for SIGINT")
    pidfile = tmp_path / "pid"
    d = cmd("sh", "-c", f"sleep 60 & echo $! > {pidfile}; sleep 60", timeout=30)
    done = threading.Event()

    def interrupt_once_started() -> None:
        # Wait for the background child to exist (slow under load), then Ctrl-C.
        deadline = time.monotonic() + 15
        while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
            if done.wait(0.05):
                return
        if not done.is_set():
            os.kill(os.getpid(), signal.SIGINT)

    killer = threading.Thread(target=interrupt_once_started, daemon=True)
    # A suite started in the background (`make test &`) inherits SIGINT ignored: Ctrl-C
    # must raise KeyboardInterrupt here whatever the parent shell did.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    killer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            fetch(d)
    finally:
        done.set()
        killer.join()
        signal.signal(signal.SIGINT, previous)
    assert wait_gone(_pid_from(pidfile), seconds=20)  # generous: a loaded machine is slow to reap


# ---- keyring --------------------------------------------------------------------------

keyring = pytest.importorskip("keyring")
from keyring.backend import KeyringBackend  # noqa: E402


class DictKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self, entries=None, delay: float = 0.0):
        super().__init__()
        self.entries = dict(entries or {})
        self.delay = delay

    def get_password(self, service, username):
        if self.delay:
            time.sleep(self.delay)
        return self.entries.get((service, username))

    def set_password(self, service, username, password):
        self.entries[(service, username)] = password

    def delete_password(self, service, username):
        self.entries.pop((service, username), None)


@pytest.fixture
def use_keyring():
    previous = keyring.get_keyring()

    def use(backend):
        keyring.set_keyring(backend)
        return backend

    yield use
    keyring.set_keyring(previous)


def kr(**options) -> SecretDecl:
    return decl("keyring", {"keyring": {"service": "pets-api", "username": "ci"}, **options})


def test_keyring_value(use_keyring):
    use_keyring(DictKeyring({("pets-api", "ci"): CANARY + "\n"}))
    assert fetch(kr()) == CANARY
    source = make_source(kr(), ctx())
    assert source.describe() == "keyring pets-api/ci"
    assert source.refreshable is False


def test_keyring_no_entry(use_keyring):
    use_keyring(DictKeyring({("other", "ci"): CANARY}))
    err = failure(kr())
    assert "no entry for service 'pets-api', user 'ci'" in err.reason


def test_keyring_fail_backend(use_keyring):
    from keyring.backends import fail

    use_keyring(fail.Keyring())
    err = failure(kr())
    assert "no OS keyring is available" in err.reason and "'pets-api'" in err.reason


def test_keyring_fail_backend_from_environment(tmp_path):
    import subprocess

    script = textwrap.dedent(
        """
        from runner.model import SecretDecl
        from runner.secrets import SourceContext, make_source
        from runner.source import Span
        from runner.errors import SecretError
        d = SecretDecl("t", "keyring", {"keyring": {"service": "svc", "username": "me"}}, Span.point("s.yaml"), ".")
        try:
            make_source(d, SourceContext(environ={})).fetch()
        except SecretError as exc:
            print(exc)
        """
    )
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", "PYTHONPATH": str(Path(__file__).parents[1])}
    out = subprocess.run([PY, "-c", script], env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert "secret 't' from keyring svc/me: no OS keyring is available" in out.stdout, out.stderr
    assert "Traceback" not in out.stderr


def test_keyring_hang_times_out(use_keyring):
    use_keyring(DictKeyring({("pets-api", "ci"): CANARY}, delay=5))
    started = time.monotonic()
    err = failure(kr(timeout=0.3))
    assert time.monotonic() - started < 3
    assert "did not answer within 0.3 s" in err.reason


def test_keyring_backend_error(use_keyring):
    class Broken(DictKeyring):
        def get_password(self, service, username):
            raise keyring.errors.KeyringError("D-Bus\x1b[2J said no")

    use_keyring(Broken())
    err = failure(kr())
    assert "keyring lookup of service 'pets-api', user 'ci' failed: KeyringError: D-Bus[2J said no" in err.reason


def test_keyring_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "keyring", None)
    err = failure(kr())
    assert "the keyring source needs the optional extra: pip install 'request-runner[keyring]'" in err.reason


def test_keyring_missing_username():
    assert "needs both 'service' and 'username'" in failure(decl("keyring", {"keyring": {"service": "s"}})).reason


# ---- store ----------------------------------------------------------------------------


def test_store_fetches_once_and_shares_by_identity(tmp_path):
    counter = tmp_path / "count"
    code = f"import pathlib; p = pathlib.Path({str(counter)!r}); p.write_text(p.read_text() + 'x' if p.exists() else 'x'); print('{CANARY}')"
    redactor = Redactor()
    store = SecretStore(ctx(), redactor)
    a = decl("command", {"command": [PY, "-c", code]}, name="a")
    b = decl("command", {"command": [PY, "-c", code]}, name="a")
    assert store.get(a) == CANARY and store.get(b) == CANARY
    assert counter.read_text() == "x"
    assert redactor.mask(f"Bearer {CANARY}") == "Bearer ***"
    assert store.describe(a).startswith("command ")
    assert store.refreshable(a) is True


def test_store_refresh_of_a_command_runs_it_again(tmp_path):
    counter = tmp_path / "count"
    code = (
        f"import pathlib; p = pathlib.Path({str(counter)!r}); n = len(p.read_text()) if p.exists() else 0;"
        f" p.write_text('x' * (n + 1)); print('tok-%d' % (n + 1))"
    )
    store = SecretStore(ctx(), Redactor())
    d = decl("command", {"command": [PY, "-c", code]})
    assert store.get(d) == "tok-1"
    assert store.refresh(d, "tok-1") == "tok-2"
    assert store.refresh(d, "tok-1") == "tok-2"  # already refreshed: no third run
    assert counter.read_text() == "xx"


def test_store_error_is_cached_and_names_the_declaration(tmp_path):
    store = SecretStore(ctx(), Redactor())
    d = decl("file", {"file": "missing"}, tmp_path)
    for _ in range(2):
        with pytest.raises(SecretError) as info:
            store.get(d)
        assert "declared at specs/api.yaml:7:5" in str(info.value)


def test_store_override_wins_and_is_masked(tmp_path):
    redactor = Redactor()
    store = SecretStore(ctx(), redactor, overrides={"api_token": CANARY})
    d = decl("file", {"file": "missing"}, tmp_path)
    assert store.get(d) == CANARY
    assert store.describe(d) == "--secret on the command line"
    assert redactor.mask(CANARY) == "***"
    assert store.refresh(d, CANARY) == CANARY  # not refreshable: same value, no loop


def test_store_static_source_refresh_does_not_refetch(tmp_path):
    p = tmp_path / "t"
    p.write_text("first")
    store = SecretStore(ctx(), Redactor())
    d = decl("file", {"file": "t"}, tmp_path)
    assert store.get(d) == "first"
    p.write_text("second")
    assert store.refresh(d, "first") == "first"
    assert store.fetch_count(d) == 1


def test_renew_leeway_is_60s_or_half_the_lifetime():
    assert renew_at(0.0, 3600.0) == 3540.0
    assert renew_at(0.0, 120.0) == 60.0
    assert renew_at(10.0, 12.0) == 11.0
    assert renew_at(5.0, 5.0) == 5.0


def test_unknown_kind():
    with pytest.raises(SecretError) as info:
        make_source(decl("vault", {"vault": "x"}), ctx())
    assert "unknown source kind 'vault'" in str(info.value)


def test_secret_value_repr_hides_the_value():
    from runner.secrets import SecretValue

    v = SecretValue(CANARY, also_mask=(CANARY,))
    assert CANARY not in repr(v)


def test_command_stopped_by_the_run_stop_event(tmp_path):
    """SIGINT/SIGTERM handled by the app sets RunOptions.stop; a command in a worker thread dies with it."""
    pidfile = tmp_path / "pid"
    stop = threading.Event()
    d = cmd("sh", "-c", f"sleep 60 & echo $! > {pidfile}; sleep 60", timeout=30)
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    err = in_thread(lambda: failure(d, stop=stop))
    assert time.monotonic() - started < 5
    assert "interrupted" in err.reason
    assert wait_gone(_pid_from(pidfile))
