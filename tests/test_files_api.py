"""Uploading and serving images, against a real server with accounts (owner, editor, viewer,
stranger), and the sweep that removes unused files, against a real SQLite store."""

from __future__ import annotations

import hashlib
import sqlite3
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from pycrdt import Doc

from server.content import write_json
from server.files import FileSweeper, sniff_image
from server.store.base import DocName
from server.store.sqlite import SqliteStore
from tests.live import ServerProcess
from tests.test_accounts import accounts_server, path, person


def png(width: int = 1, height: int = 1, seed: int = 0) -> bytes:
    """A real, valid PNG (`seed` varies its pixels, so its hash)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes([seed % 256, 0, 0]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
LIMIT = 10 * 1024 * 1024
accounts = accounts_server  # the accounts-mode server fixture, as the comments tests use it


def test_types_come_from_the_bytes() -> None:
    assert sniff_image(png()) == "image/png"
    assert sniff_image(b"\xff\xd8\xff\xe0\x00\x10JFIF") == "image/jpeg"
    assert sniff_image(b"GIF89a\x01\x00\x01\x00") == "image/gif"
    assert sniff_image(b"RIFF\x24\x00\x00\x00WEBPVP8 ") == "image/webp"
    for other in (SVG, b"<?xml version='1.0'?><svg/>", b"<html>", b"%PDF-1.7", b"", b"RIFF"):
        assert sniff_image(other) is None


async def test_upload_rules_and_serving(accounts: ServerProcess) -> None:
    server = accounts
    async with (
        person(server, "owner") as owner,
        person(server, "vera") as viewer,
        person(server, "ed") as editor,
        person(server, "stranger") as stranger,
        person(server, None) as anonymous,
    ):
        name = (await owner.post("/api/docs", json={"title": "Pics"})).json()["name"]
        other = (await owner.post("/api/docs", json={"title": "Other"})).json()["name"]
        assert (await owner.put(path(name, "/shares/vera"), json={"role": "viewer"})).is_success
        assert (await owner.put(path(name, "/shares/ed"), json={"role": "editor"})).is_success
        image = png(3, 2)

        # an editor uploads the raw body: 201 with the address, hash, type and size
        response = await editor.post(
            path(name, "/files"), content=image, headers={"Content-Type": "image/png"}
        )
        assert response.status_code == 201, response.text
        sha = hashlib.sha256(image).hexdigest()
        assert response.json() == {
            "url": path(name, f"/files/{sha}"),
            "sha256": sha,
            "type": "image/png",
            "bytes": len(image),
        }
        url = response.json()["url"]

        # a viewer, a stranger and an anonymous caller may not upload
        for who, status in ((viewer, 403), (stranger, 403), (anonymous, 401)):
            refused = await who.post(path(name, "/files"), content=png(seed=9))
            assert refused.status_code == status, refused.text
            assert "error" in refused.json()

        # readers get it, with its type, nosniff and a long private cache lifetime
        for reader in (owner, editor, viewer):
            served = await reader.get(url)
            assert served.status_code == 200
            assert served.content == image
            assert served.headers["content-type"] == "image/png"
            assert served.headers["x-content-type-options"] == "nosniff"
            assert "immutable" in served.headers["cache-control"]
            assert "max-age=31536000" in served.headers["cache-control"]
        # nobody else; nor through a document that does not use it
        assert (await stranger.get(url)).status_code == 403
        assert (await anonymous.get(url)).status_code == 401
        assert (await owner.get(path(other, f"/files/{sha}"))).status_code == 404
        assert (await owner.get(path(name, f"/files/{'0' * 64}"))).status_code == 404
        assert (await owner.get(path(name, "/files/..%2F..%2Fetc"))).status_code == 404

        # a PNG named .txt with a false type, as a multipart form: the bytes decide
        forged = png(seed=7)
        response = await editor.post(
            path(name, "/files"), files={"file": ("notes.txt", forged, "text/plain")}
        )
        assert response.status_code == 201, response.text
        assert response.json()["type"] == "image/png"
        served = await viewer.get(response.json()["url"])
        assert served.headers["content-type"] == "image/png" and served.content == forged

        # SVG (which can hold script) and other things are refused, however they are labelled
        for body in (SVG, b"hello", b"%PDF-1.7\n"):
            refused = await editor.post(
                path(name, "/files"), content=body, headers={"Content-Type": "image/png"}
            )
            assert refused.status_code == 415, refused.text
        refused = await editor.post(
            path(name, "/files"), files={"file": ("x.svg", SVG, "image/svg+xml")}
        )
        assert refused.status_code == 415

        # 10 MiB is accepted, one byte more is not: declared, or streamed without a length
        big = image + b"\x00" * (LIMIT - len(image))
        accepted = await editor.post(path(name, "/files"), content=big, timeout=60)
        assert accepted.status_code == 201, accepted.text
        too_big = await editor.post(path(name, "/files"), content=big + b"\x00", timeout=60)
        assert too_big.status_code == 413, too_big.text

        async def streamed() -> AsyncIterator[bytes]:
            for _ in range(11):
                yield image + b"\x00" * (1024 * 1024)

        too_big = await editor.post(path(name, "/files"), content=streamed(), timeout=60)
        assert too_big.status_code == 413
        multipart_big = await editor.post(
            path(name, "/files"), files={"file": ("big.png", big + b"\x00")}, timeout=60
        )
        assert multipart_big.status_code == 413

        # the same bytes again, by someone else, into another document: one stored file
        again = await owner.post(path(other, "/files"), content=image)
        assert again.status_code == 201 and again.json()["sha256"] == sha
        assert (await owner.get(again.json()["url"])).content == image
    with sqlite3.connect(server.db) as db:
        stored = db.execute("SELECT count(*) FROM files WHERE sha256 = ?", (sha,)).fetchone()
        uses = db.execute("SELECT count(*) FROM file_uses WHERE sha256 = ?", (sha,)).fetchone()
        total = db.execute("SELECT count(*) FROM files").fetchone()
    assert stored == (1,) and uses == (2,)
    assert total == (3,)  # the image, the forged .txt one and the 10 MiB one


async def test_sweep_keeps_images_in_documents_and_versions(tmp_path: Path) -> None:
    day = 86400.0
    clock = [1_000_000.0]
    async with SqliteStore(tmp_path / "coedit.db") as store:
        names = {k: DocName(k) for k in ("live", "versioned", "forgotten")}
        for name in names.values():
            await store.ensure(name)
        shas = {k: hashlib.sha256(png(seed=i)).hexdigest() for i, k in enumerate(names)}
        for key, name in names.items():
            data = png(seed=list(names).index(key))
            await store.put_file(
                name, sha256=shas[key], media_type="image/png", data=data, now=clock[0]
            )
        # "live" has the image's address in its content, "versioned" only in an old version
        await store.append(names["live"], _update_with(shas["live"]))
        await store.add_version(
            names["versioned"],
            kind="auto",
            state=_update_with(shas["versioned"]),
            created_at=clock[0],
        )
        await store.flush()
        sweeper = FileSweeper(
            store, retention_seconds=30 * day, interval=3600, clock=lambda: clock[0]
        )
        clock[0] += 29 * day
        result = await sweeper.sweep()
        assert (result.kept, result.dropped, result.deleted) == (0, 0, 0)  # too recent to check
        clock[0] += 2 * day
        result = await sweeper.sweep()
        # the forgotten image is unused and older than 30 days: gone
        assert (result.kept, result.dropped, result.deleted) == (2, 1, 1)
        assert await store.get_file(names["forgotten"], shas["forgotten"]) is None
        clock[0] += 31 * day
        result = await sweeper.sweep()
        assert (result.kept, result.dropped, result.deleted) == (2, 0, 0)
        assert await store.get_file(names["live"], shas["live"]) is not None
        assert await store.get_file(names["versioned"], shas["versioned"]) is not None
        # deleting a document ends its uses; its file goes once it is old enough
        await store.delete(names["live"])
        clock[0] += 31 * day
        result = await sweeper.sweep()
        assert result.deleted == 1


def _update_with(sha: str) -> bytes:
    doc: Doc[Any] = Doc()
    src = f"/api/docs/x/files/{sha}"
    node = {"type": "doc", "content": [{"type": "image", "attrs": {"src": src}}]}
    write_json(doc, node)
    update: bytes = doc.get_update()
    return update
