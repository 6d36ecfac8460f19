"""The command line: import and export files, settings errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pycrdt import XmlFragment

from tests.client import YClient
from tests.live import ROOT, ServerProcess

MARKDOWN = (
    "# Title\n\nSome **bold** text and a [link](https://example.com).\n\n- [ ] task\n- [x] done\n"
)


def coedit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_import_then_export_round_trips(tmp_path: Path) -> None:
    db = tmp_path / "coedit.db"
    source = tmp_path / "notes.md"
    source.write_text(MARKDOWN, encoding="utf-8")
    imported = coedit("import", str(source), "--db", str(db))
    assert imported.returncode == 0, imported.stderr
    name = imported.stdout.strip()
    exported = coedit("export", name, "--format", "md", "--db", str(db))
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == MARKDOWN
    html = coedit("export", name, "--format", "html", "--db", str(db), "-o", str(tmp_path / "o"))
    assert html.returncode == 0
    assert "<strong>bold</strong>" in (tmp_path / "o").read_text(encoding="utf-8")


async def test_imported_document_is_served(tmp_path: Path) -> None:
    db = tmp_path / "coedit.db"
    source = tmp_path / "page.html"
    source.write_text("<h1>From HTML</h1><p>body</p>", encoding="utf-8")
    name = coedit("import", str(source), "--db", str(db)).stdout.strip()
    server = ServerProcess(db)
    server.start()
    try:
        async with YClient.connect(server.ws, name) as client:
            await client.synced.wait()
            assert "From HTML" in str(client.doc.get("default", type=XmlFragment))
    finally:
        server.kill()


def test_errors_are_clear(tmp_path: Path) -> None:
    missing = coedit("export", "nope", "--db", str(tmp_path / "x.db"))
    assert missing.returncode == 1 and "no document named 'nope'" in missing.stderr
    absent = coedit("import", str(tmp_path / "absent.md"), "--db", str(tmp_path / "x.db"))
    assert absent.returncode == 1 and "absent.md" in absent.stderr
    bad = coedit("serve", "--synchronous", "SOMETIMES")
    assert bad.returncode == 2
    env = {"COEDIT_AUTH": "jwt", "PATH": "/usr/bin:/bin"}
    weak = coedit("serve", env=env)
    assert weak.returncode == 2 and "jwt-secret" in weak.stderr
