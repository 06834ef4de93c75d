"""The body of a request: `json:`, `form:`, `body:` and `files:` (multipart), rendered and
encoded, with the Content-Type it implies and the text a report shows of it."""

from __future__ import annotations

import json
import os
from typing import Any, Callable
from urllib.parse import urlencode

from .. import model as m
from .text import RenderError, _text


class _Bodies:
    """Building bodies for a SpecRenderer (a mixin: `value` renders in the request's scope)."""

    _spec_dir: str
    value: Callable[[Any], Any]  # SpecRenderer.value

    def _body(self, body: m.Body | None, headers: list[tuple[str, str]]):
        val = self.value
        data: Any = None
        files = None
        body_text: str | None = None
        if body is None:
            return data, files, body_text
        lower = {h[0].lower() for h in headers}
        if isinstance(body, m.JsonBody):
            value = val(body.value) if body.value is not None else None
            try:
                body_text = json.dumps(value, ensure_ascii=False, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise RenderError(f"json body cannot be encoded ({exc})") from None
            data = body_text.encode("utf-8")
            if "content-type" not in lower:
                headers.append(("Content-Type", "application/json"))
        elif isinstance(body, m.FormBody):
            data = [(_text(val(k)), _text(val(v))) for k, v in body.fields]
            body_text = urlencode(data)
        elif isinstance(body, m.RawBody):
            body_text = _text(val(body.text))
            data = body_text.encode("utf-8")
            if body.content_type and "content-type" not in lower:
                headers.append(("Content-Type", body.content_type))
        elif isinstance(body, m.FilesBody):
            data = [(_text(val(k)), _text(val(v))) for k, v in body.fields] or None
            files = []
            shown = []
            for part in body.files:
                if part.path is not None:
                    path = self._file_path(part.path)
                    try:
                        with open(path, "rb") as fh:
                            content = fh.read()
                    except (OSError, ValueError) as exc:
                        reason = getattr(exc, "strerror", None) or "cannot be read"
                        raise RenderError(f"file {path}: {reason}") from None
                    filename = _text(val(part.filename)) if part.filename else os.path.basename(path)
                else:
                    content = _text(val(part.content)).encode("utf-8")
                    filename = _text(val(part.filename)) if part.filename else part.field
                files.append((part.field, (filename, content, part.content_type)))
                shown.append(f"{part.field}={filename} ({len(content)} bytes)")
            body_text = "multipart: " + ", ".join(shown)
        return data, files, body_text

    def _file_path(self, path: str) -> str:
        """A `files:` path: the loader made literal paths absolute; a templated one is
        rendered now and, when relative, read from the spec's folder."""
        if "$" not in path:
            return path
        rendered = os.path.expanduser(_text(self.value(path)))
        return os.path.normpath(os.path.join(self._spec_dir, rendered))
