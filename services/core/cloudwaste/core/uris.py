"""file:// URIs confined to a root folder (exports, datasets). Errors name the request field."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from cloudwaste.core.errors import InvalidArgument


def local_path(field: str, uri: str, root: str, example: str) -> Path:
    """The absolute path a file:// `uri` names, which must lie inside `root`."""
    if not uri:
        raise InvalidArgument(field, f"is required, e.g. {example}")
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise InvalidArgument(field, f'scheme "{parsed.scheme}" is not supported yet; use file://')
    if parsed.netloc not in ("", "localhost"):
        raise InvalidArgument(field, "file:// URIs must not name a host")
    path = Path(unquote(parsed.path)).resolve()
    base = Path(root).resolve()
    if path != base and base not in path.parents:
        raise InvalidArgument(field, f"must be inside {base}")
    return path
