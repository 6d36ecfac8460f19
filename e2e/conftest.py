"""Fixtures for the browser tests: one Chromium per session, a real server per test, and
people (each a fresh browser context) who open documents on it.

On failure, screenshots, Playwright traces and the server log go to e2e/artifacts/<test>/.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from e2e.helpers import ARTIFACTS, REPO, People
from tests.live import ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
WEB_DIST = REPO / "web" / "dist"

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "api_docs: needs the server's GET /api/docs (the home page's document list)",
    )
    config.addinivalue_line("markers", "perf: measures the editor's speed on a large document")
    config.addinivalue_line(
        "markers",
        "server_args(*args, env=None): extra `serve` flags (and environment) for this test's "
        "server, e.g. server_args('--auth', 'accounts')",
    )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def _failed(node: pytest.Item) -> bool:
    reports = node.stash.get(_REPORTS, {})
    return any(r.failed for r in reports.values())


def _artifact_dir(node: pytest.Item) -> Path:
    return ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", node.name)


@pytest.fixture(scope="session")
def built_web() -> Path:
    """The built editor; builds it when missing (needs `npm ci` to have run)."""
    if not (WEB_DIST / "doc.html").is_file() or not (WEB_DIST / "index.html").is_file():
        if not (REPO / "node_modules").is_dir():
            pytest.fail("web/dist is missing: run `npm ci && npm run build` first")
        subprocess.run(["npm", "run", "build"], cwd=REPO, check=True, timeout=300)
    return WEB_DIST


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    """One Chromium for the whole session; tests get fresh contexts."""
    executable = str(CHROMIUM) if CHROMIUM.exists() else None
    browser = playwright_instance.chromium.launch(
        executable_path=executable, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """Where this test's failure artifacts go; emptied first so nothing stale stays there."""
    target = _artifact_dir(request.node)
    shutil.rmtree(target, ignore_errors=True)
    return target


@pytest.fixture
def server(
    request: pytest.FixtureRequest, tmp_path: Path, built_web: Path, artifacts: Path
) -> Iterator[ServerProcess]:
    """A real server on an ephemeral port with a fresh SQLite file; restartable on that file.

    `@pytest.mark.server_args("--auth", "accounts", env={...})` adds flags and environment."""
    marker = request.node.get_closest_marker("server_args")
    args: tuple[str, ...] = tuple(marker.args) if marker else ()
    env: dict[str, str] = dict(marker.kwargs.get("env") or {}) if marker else {}
    proc = ServerProcess(tmp_path / "coedit.db", env, args=args, log_path=tmp_path / "server.log")
    proc.start()
    try:
        yield proc
    finally:
        proc.kill()
        if _failed(request.node):
            artifacts.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tmp_path / "server.log", artifacts / "server.log")


@pytest.fixture
def people(
    request: pytest.FixtureRequest,
    browser: Browser,
    server: ServerProcess,
    artifacts: Path,
) -> Iterator[People]:
    """Adds people (browser contexts) who use `server`; see People.add."""
    crowd = People(browser=browser, base=server.url, artifacts=artifacts)
    try:
        yield crowd
    finally:
        crowd.finish(failed=_failed(request.node))


@pytest.fixture
def doc_name(request: pytest.FixtureRequest) -> str:
    """A fresh document name; has a slash and a space to exercise URL encoding."""
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    return f"e2e/{stem} {uuid.uuid4().hex[:6]}"
