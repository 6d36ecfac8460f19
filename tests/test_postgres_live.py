"""Everything beside live editing works on the PostgreSQL store as it does on SQLite (issue 14,
point 5): a real server on `--store postgresql://...` in accounts mode, through its HTTP API,
WebSocket and command line. The store-level contract tests run on both in tests/test_store.py."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pycrdt import Text

from tests.live import ROOT, ServerProcess
from tests.pgproc import Postgres
from tests.test_accounts import path, person, socket
from tests.test_files_api import png


@pytest.fixture
def dsn(postgres: Postgres) -> str:
    return postgres.new_database()


@pytest.fixture
def pg_server(tmp_path: Path, dsn: str) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        tmp_path / "unused.db", env={"COEDIT_AUTH": "accounts"}, args=["--store", dsn]
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.kill()


async def test_accounts_shares_links_history_comments_and_files(pg_server: ServerProcess) -> None:
    server = pg_server
    async with (
        person(server, "ana") as ana,
        person(server, "ben") as ben,
        person(server, None) as anonymous,
    ):
        # Case-insensitive usernames, as on SQLite.
        assert (
            await anonymous.post("/api/auth/signup", json={"username": "ANA", "password": "x" * 12})
        ).status_code == 409
        made = await ana.post("/api/docs", json={"markdown": "# Plan\n\nHello world, dear reader."})
        assert made.status_code == 201, made.text
        name = made.json()["name"]
        assert (await ben.get(path(name))).status_code in (403, 404)
        assert (await ana.put(path(name, "/shares/ben"), json={"role": "commenter"})).is_success
        assert [d["name"] for d in (await ben.get("/api/docs")).json()["docs"]] == [name]

        # History: a named version, read back, restored after an edit.
        saved = await ana.post(path(name, "/versions"), json={"label": "first"})
        assert saved.status_code == 201, saved.text
        async with socket(server, name, ana) as live:
            frag = live.doc.get("t", type=Text)
            frag.insert(0, "x")
            await live.roundtrip()
        versions = (await ana.get(path(name, "/versions"))).json()["versions"]
        assert any(v["label"] == "first" for v in versions)
        restored = await ana.post(path(name, f"/versions/{saved.json()['id']}/restore"))
        assert restored.status_code == 200, restored.text

        # Export as the document was imported.
        exported = await ana.get(path(name, "/export"), params={"format": "md"})
        assert "Hello world, dear reader." in exported.text

        # Comments and mentions.
        thread = await ben.post(
            path(name, "/comments"), json={"body": "Which world, @ana?", "quote": "world"}
        )
        assert thread.status_code == 201, thread.text
        listed = (await ana.get(path(name, "/comments"))).json()
        assert "Which world, @ana?" in str(listed)
        mentions = (await ana.get("/api/mentions")).json()
        assert "Which world" in str(mentions)

        # Files: stored once, served to readers only.
        image = png(2, 2)
        up = await ana.post(
            path(name, "/files"), content=image, headers={"Content-Type": "image/png"}
        )
        assert up.status_code == 201, up.text
        assert up.json()["sha256"] == hashlib.sha256(image).hexdigest()
        served = await ben.get(up.json()["url"])
        assert served.status_code == 200 and served.content == image
        assert (await anonymous.get(up.json()["url"])).status_code in (401, 403, 404)

        # A share link, revoked: its holder is dropped.
        link = (await ana.post(path(name, "/links"), json={"role": "viewer"})).json()
        async with socket(server, name, query=f"?share={link['token']}") as guest:
            assert (await ana.delete(path(name, f"/links/{link['id']}"))).status_code == 204
            await asyncio.wait_for(guest.ws.wait_closed(), 5)
            assert guest.ws.close_code == 4403

        # Deleted with its comments.
        assert (await ana.delete(path(name))).status_code == 204
        assert (await ana.get(path(name, "/comments"))).status_code == 404


def test_migrate_import_and_export_on_the_command_line(dsn: str, tmp_path: Path) -> None:
    def coedit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "server", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    migrated = coedit("migrate", "--store", dsn)
    assert migrated.returncode == 0, migrated.stderr
    source = tmp_path / "notes.md"
    source.write_text("# Notes\n\n- one\n- two\n", encoding="utf-8")
    imported = coedit("import", str(source), "--store", dsn)
    assert imported.returncode == 0, imported.stderr
    name = imported.stdout.strip()
    exported = coedit("export", name, "--format", "md", "--store", dsn)
    assert exported.returncode == 0, exported.stderr
    assert "- one\n- two" in exported.stdout
    missing = coedit("export", "no-such-doc", "--store", dsn)
    assert missing.returncode == 1 and "no document" in missing.stderr
    refused = coedit("serve", "--bus", "redis://127.0.0.1:1/0")
    assert refused.returncode == 2 and "--bus needs --store" in refused.stderr
