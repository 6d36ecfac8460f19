"""The browser's close codes (web/src/closecodes.ts) against the server's (server/closecodes.py):
every code the browser names means the same there, and the document page handles every 44xx
code the server sends (y-websocket does not reconnect after those)."""

from __future__ import annotations

import re
from pathlib import Path

from server.closecodes import Close

WEB_SRC = Path(__file__).resolve().parent.parent / "web" / "src"
# `export const Close = { NAME: 4403, ... } as const;`
CLOSE_OBJECT = re.compile(r"export const Close = \{(?P<body>.*?)\} as const;", re.S)
ENTRY = re.compile(r"^\s*(?P<name>[A-Z][A-Z0-9_]*):\s*(?P<code>\d+),", re.M)
# Where the page acts on a close code: `case Close.NAME:` in the connection's state machine.
HANDLED = re.compile(r"case Close\.(?P<name>[A-Z][A-Z0-9_]*):")


def browser_codes() -> dict[str, int]:
    text = (WEB_SRC / "closecodes.ts").read_text(encoding="utf-8")
    found = CLOSE_OBJECT.search(text)
    assert found, "web/src/closecodes.ts has no `export const Close = { ... } as const;`"
    codes = {m["name"]: int(m["code"]) for m in ENTRY.finditer(found["body"])}
    assert codes, "web/src/closecodes.ts names no close code"
    return codes


def test_every_browser_code_is_the_servers_under_the_same_name() -> None:
    for name, code in browser_codes().items():
        assert name in Close.__members__, f"Close.{name} ({code}) is not in server/closecodes.py"
        assert Close[name] == code, f"Close.{name}: browser {code}, server {int(Close[name])}"


def test_the_browser_knows_every_44xx_code_the_server_sends() -> None:
    ours = {c.name: int(c) for c in Close if 4400 <= c < 4500}
    assert ours, "the server sends no 44xx code?"
    assert {n: c for n, c in browser_codes().items() if n in ours} == ours


def test_the_document_page_handles_every_44xx_code() -> None:
    text = (WEB_SRC / "doc" / "connection.ts").read_text(encoding="utf-8")
    handled = {m["name"] for m in HANDLED.finditer(text)}
    missing = {c.name for c in Close if 4400 <= c < 4500} - handled
    assert not missing, f"web/src/doc/connection.ts has no `case Close.X:` for {sorted(missing)}"
    assert handled <= set(browser_codes()), handled - set(browser_codes())


def test_no_code_the_server_never_sends() -> None:
    # 4401 ("sign in again") was handled once but never sent: a handshake the server refuses
    # answers HTTP 403, which the page notices as a failing socket and asks again (PUT).
    text = "\n".join(p.read_text(encoding="utf-8") for p in WEB_SRC.rglob("*.ts"))
    sent = {str(int(c)) for c in Close}
    for code in set(re.findall(r"\b44\d\d\b", text)):
        assert code in sent, f"web/src mentions close code {code}, which the server never sends"
