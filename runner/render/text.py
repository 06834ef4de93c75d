"""What every part of building a request shares: the error that says it cannot be built,
and the text form of a rendered value."""

from __future__ import annotations

from typing import Any

from ..template import as_text


class RenderError(Exception):
    """The request cannot be built (no base_url, an unreadable file, a value that is not text)."""


def _text(value: Any) -> str:
    """A rendered value as sent in a URL, query, header or form field (null is empty)."""
    return value if isinstance(value, str) else as_text(value)
