"""`runner import`: spec files from what users already have.

Each importer (curl.py, har.py, postman.py, openapi.py) turns its input into
`ImportedSpec` data (specdata.py); `writer.py` is the one place that writes YAML.
Credentials never reach the data: `credentials.py` turns them into env secrets.
"""

from __future__ import annotations

from .specdata import ImportedRequest, ImportedSpec, ImportResult

__all__ = ["ImportedRequest", "ImportedSpec", "ImportResult"]
