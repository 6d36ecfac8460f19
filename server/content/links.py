"""Which link targets a document may keep, checked the way browsers parse a URL.

The browser keeps the same rule (web/src/rules.ts `safeHref`); both are checked against the
cases in tests/fixtures/shared_rules.json. `tel:` and `mailto:` links are normal in documents;
`javascript:`, `data:`, `vbscript:` and every other scheme never are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html import unescape

from .schema import PMNode

_SAFE_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
_URL_STRIPPED = re.compile(r"[\t\n\r]")


def safe_href(href: str) -> str | None:
    """`href` if it is http(s), mailto, tel or relative; None for anything else (javascript:, data:
    ...). Checked the way browsers parse: tabs and newlines anywhere and leading control
    characters or spaces are ignored, so "java\\tscript:" is caught too."""
    # Checked decoded too, for whatever decodes entities once more on the way.
    return href if _safe_url(href) and _safe_url(unescape(href)) else None


def _safe_url(href: str) -> bool:
    cleaned = _URL_STRIPPED.sub("", href).lstrip("".join(map(chr, range(0x21))))
    if not cleaned:
        return False
    scheme = _SCHEME.match(cleaned)
    if scheme is not None:
        return scheme.group(1).lower() in _SAFE_SCHEMES
    # Without a scheme a colon before the path would make some parsers see one.
    return ":" not in re.split(r"[/?#]", cleaned, maxsplit=1)[0]


def safe_marks(marks: Iterable[PMNode]) -> list[PMNode]:
    return [m for m in marks if m["type"] != "link" or safe_href(m["attrs"]["href"]) is not None]


def safe_src(src: str | None) -> str | None:
    """`src` if an image may load from it: http(s) or relative. Never a data: URL (an image is
    stored by the server, not inside the document), nor mailto: or tel:."""
    if not src or safe_href(src) is None:
        return None
    scheme = _SCHEME.match(_URL_STRIPPED.sub("", src).lstrip("".join(map(chr, range(0x21)))))
    return src if scheme is None or scheme.group(1).lower() in ("http", "https") else None


def absolute(src: str, base: str) -> str:
    """A server-relative image address made absolute, so an exported file still finds it."""
    from urllib.parse import urljoin

    return urljoin(base, src) if base else src
