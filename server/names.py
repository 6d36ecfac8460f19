"""What makes a string a document name, the same rule for HTTP paths and WebSocket paths."""

from __future__ import annotations

import unicodedata

MAX_NAME_BYTES = 512


def name_problem(name: str) -> str | None:
    """Why a document name is refused, or None when it is acceptable."""
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "document name is not valid UTF-8"
    if size == 0:
        return "document name is empty"
    if size > MAX_NAME_BYTES:
        return f"document name is longer than {MAX_NAME_BYTES} UTF-8 bytes"
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return "document name contains control characters"
    return None
