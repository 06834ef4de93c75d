"""`runner demo`: the embedded Pets API and the specs that exercise it.

    with DemoServer() as server:
        env = {**os.environ, **demo_environ(server)}
        paths = demo_spec_paths()                    # DEFAULT_SPECS, in order
        paths = demo_spec_paths(include_auth_failure=True)   # + the AUTH showcase
        paths = demo_spec_paths(include_contract_failure=True)   # + the contract-failure showcase

The demo specs ship inside the wheel as the package `runner.demo.specs` (pyproject maps
`specs/demo` there); from a source checkout they are read from `specs/demo`.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
from pathlib import Path

from .server import CLIENT_SECRET, DEMO_USER_PASSWORD, DemoServer

__all__ = [
    "AUTH_FAILURE_SPECS",
    "CONTRACT_FAILURE_SPECS",
    "DEFAULT_SPECS",
    "DemoServer",
    "EXPIRED_TOKEN_AGE_S",
    "demo_environ",
    "demo_spec_paths",
    "spec_dir",
]

# Run by a plain `runner demo`: they all pass, so it exits 0.
# 03 and 04 log in once through the same `http` secret: one POST /auth/login for both.
DEFAULT_SPECS: tuple[str, ...] = (
    "01-pets-flow.yaml", "02-static-token.yaml", "03-login-read.yaml", "04-login-write.yaml",
)
# The AUTH-failure showcase (an expired token -> an unexpected 401, exit 3): only on request.
AUTH_FAILURE_SPECS: tuple[str, ...] = ("90-expired-token.yaml",)
# The contract-failure showcase (a response that breaks openapi.json -> a contract FAIL, exit 1).
CONTRACT_FAILURE_SPECS: tuple[str, ...] = ("91-contract-failure.yaml",)

# The expired demo token expired this long ago ("expired 2 h 14 min ago").
EXPIRED_TOKEN_AGE_S = 2 * 3600 + 14 * 60


def _has_specs(path: Path) -> bool:
    return all((path / name).is_file() for name in DEFAULT_SPECS)


def spec_dir() -> Path:
    """The directory holding the demo specs (installed package data, else the checkout's)."""
    try:
        files = importlib.resources.files("runner.demo.specs")
    except (ImportError, TypeError, ValueError):
        files = None
    # The runner needs a real path (to read the files and name them in reports): a
    # plain install gives a pathlib.Path; a namespace package gives a MultiplexedPath,
    # whose directories find_spec lists.
    if isinstance(files, Path) and _has_specs(files):
        return files
    if files is not None:
        try:
            spec = importlib.util.find_spec("runner.demo.specs")
        except (ImportError, ValueError):
            spec = None
        for location in (spec.submodule_search_locations or ()) if spec else ():
            if _has_specs(Path(location)):
                return Path(location)
    checkout = Path(__file__).resolve().parents[2] / "specs" / "demo"
    if _has_specs(checkout):
        return checkout
    raise FileNotFoundError(
        "the demo specs are missing: neither the package runner.demo.specs nor specs/demo was found"
    )


def demo_spec_paths(*, include_auth_failure: bool = False, include_contract_failure: bool = False) -> list[Path]:
    """The spec files `runner demo` runs, in order."""
    names = (DEFAULT_SPECS + (AUTH_FAILURE_SPECS if include_auth_failure else ())
             + (CONTRACT_FAILURE_SPECS if include_contract_failure else ()))
    base = spec_dir()
    return [base / name for name in names]


def demo_environ(server: DemoServer) -> dict[str, str]:
    """The environment variables the demo specs read (`${env:...}` and `env:` secrets)."""
    return {
        "DEMO_API_URL": server.url,
        "DEMO_CLIENT_SECRET": CLIENT_SECRET,
        "DEMO_USER_PASSWORD": DEMO_USER_PASSWORD,
        # A valid token (read and create, not delete) for the static-token spec.
        "DEMO_STATIC_TOKEN": server.mint_token(3600, scope="pets:read pets:create"),
        # A token that expired 2 h 14 min ago, for the AUTH-failure showcase.
        "DEMO_EXPIRED_TOKEN": server.mint_token(-EXPIRED_TOKEN_AGE_S, scope="pets:read"),
    }
