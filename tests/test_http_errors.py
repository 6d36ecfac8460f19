"""Every HTTP route answers a failing store with JSON `{"error": ...}` and a 5xx, in process."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from server.app import create_app
from server.config import Settings
from server.store.base import (
    AccountStore,
    DocumentStore,
    FileStore,
    MentionStore,
    SearchStore,
    StoreError,
    TrashStore,
)
from tests import inproc

# Every API route with a path that reaches it and a body it accepts: a route missing here
# fails `test_every_route_is_covered`.
REQUESTS: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("GET", "/healthz", "/healthz", None),
    ("GET", "/api/docs", "/api/docs", None),
    ("POST", "/api/docs", "/api/docs", {"title": "t"}),
    ("GET", "/api/docs/{name}", "/api/docs/d", None),
    ("PUT", "/api/docs/{name}", "/api/docs/d", None),
    ("PATCH", "/api/docs/{name}", "/api/docs/d", {"title": "t"}),
    ("DELETE", "/api/docs/{name}", "/api/docs/d", None),
    ("GET", "/api/docs/{name}/export", "/api/docs/d/export", None),
    ("POST", "/api/docs/{name}/copy", "/api/docs/d/copy", None),
    ("GET", "/api/search", "/api/search?q=word", None),
    ("GET", "/api/trash", "/api/trash", None),
    ("POST", "/api/trash/{name}/restore", "/api/trash/d/restore", None),
    ("DELETE", "/api/trash/{name}", "/api/trash/d", None),
    ("GET", "/api/docs/{name}/versions", "/api/docs/d/versions", None),
    ("POST", "/api/docs/{name}/versions", "/api/docs/d/versions", {"label": "v"}),
    ("GET", "/api/docs/{name}/versions/{version_id}", "/api/docs/d/versions/1", None),
    ("GET", "/api/docs/{name}/versions/{version_id}/diff", "/api/docs/d/versions/1/diff", None),
    (
        "POST",
        "/api/docs/{name}/versions/{version_id}/restore",
        "/api/docs/d/versions/1/restore",
        None,
    ),
    (
        "POST",
        "/api/docs/{name}/versions/{version_id}/undo",
        "/api/docs/d/versions/1/undo",
        None,
    ),
    ("POST", "/api/docs/{name}/files", "/api/docs/d/files", None),
    (
        "GET",
        "/api/docs/{name}/files/{sha256}",
        "/api/docs/d/files/" + "ab" * 32,
        None,
    ),
    ("GET", "/api/auth/me", "/api/auth/me", None),
    ("POST", "/api/auth/signup", "/api/auth/signup", {"username": "ann", "password": "x" * 12}),
    ("POST", "/api/auth/signin", "/api/auth/signin", {"username": "ann", "password": "x" * 12}),
    ("POST", "/api/auth/signout", "/api/auth/signout", None),
    ("GET", "/api/docs/{name}/shares", "/api/docs/d/shares", None),
    ("PUT", "/api/docs/{name}/shares/{username}", "/api/docs/d/shares/bob", {"role": "viewer"}),
    ("DELETE", "/api/docs/{name}/shares/{username}", "/api/docs/d/shares/bob", None),
    ("POST", "/api/docs/{name}/links", "/api/docs/d/links", {"role": "viewer"}),
    ("DELETE", "/api/docs/{name}/links/{link_id}", "/api/docs/d/links/1", None),
    ("GET", "/api/docs/{name}/comments", "/api/docs/d/comments", None),
    ("POST", "/api/docs/{name}/comments", "/api/docs/d/comments", {"body": "b", "quote": "q"}),
    ("PATCH", "/api/docs/{name}/comments/{thread}", "/api/docs/d/comments/t", {"resolved": True}),
    (
        "POST",
        "/api/docs/{name}/comments/{thread}/replies",
        "/api/docs/d/comments/t/replies",
        {"body": "b"},
    ),
    (
        "PATCH",
        "/api/docs/{name}/comments/{thread}/replies/{comment}",
        "/api/docs/d/comments/t/replies/c",
        {"body": "b"},
    ),
    (
        "DELETE",
        "/api/docs/{name}/comments/{thread}/replies/{comment}",
        "/api/docs/d/comments/t/replies/c",
        None,
    ),
    ("GET", "/api/docs/{name}/comments/people", "/api/docs/d/comments/people", None),
    ("GET", "/api/mentions", "/api/mentions", None),
    ("POST", "/api/mentions/read", "/api/mentions/read", {"doc": "d", "comments": ["c"]}),
]
# In open mode these answer without the store (there are no accounts to look at).
NEEDS_ACCOUNTS = {"/api/auth/", "/shares", "/links", "/comments/people", "/api/mentions"}
# In open mode an upload with no body is refused (400) before anything is stored or read.
EMPTY_IN_OPEN = {("POST", "/api/docs/{name}/files")}


def store_methods() -> Iterator[str]:
    for protocol in (DocumentStore, AccountStore, MentionStore, FileStore, TrashStore, SearchStore):
        for name, member in vars(protocol).items():
            if inspect.iscoroutinefunction(member) and not name.startswith("_"):
                yield name


@pytest.fixture(params=["open", "accounts"])
async def app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Starlette]:
    """The application in process, in each auth mode."""
    async with inproc.running(Settings(db=tmp_path / "coedit.db", auth=request.param)) as app:
        yield app


def test_every_route_is_covered(tmp_path: Path) -> None:
    app = create_app(Settings(db=tmp_path / "coedit.db"))
    routes = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route) and route.path.startswith(("/api/", "/healthz"))
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert routes == {(method, template) for method, template, _, _ in REQUESTS}


async def test_a_failing_store_is_a_json_503_on_every_route(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> Any:
        raise StoreError("disk I/O error")

    # Every store call fails, as when the database file has gone; each instance attribute is
    # removed again before the lifespan closes the store.
    store = app.state.rooms.store
    for name in store_methods():
        monkeypatch.setattr(store, name, broken)
    mode = app.state.gate.mode
    # A session cookie makes accounts mode look the caller up in the store on every route.
    cookies = {"coedit_session": "token"} if mode == "accounts" else None
    async with inproc.client(app, cookies=cookies) as http:
        for method, template, path, body in REQUESTS:
            if mode == "open" and (
                any(part in template for part in NEEDS_ACCOUNTS)
                or (method, template) in EMPTY_IN_OPEN
            ):
                continue
            response = await http.request(method, path, json=body)
            assert response.status_code == 503, (method, path, response.text)
            assert "disk I/O error" in response.json()["error"], (method, path)


@pytest.mark.parametrize("app", ["open"], indirect=True)
async def test_a_bug_is_a_json_500(app: Starlette, monkeypatch: pytest.MonkeyPatch) -> None:
    async def buggy(*args: object, **kwargs: object) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(app.state.rooms.store, "list_docs", buggy)
    # Starlette re-raises a bug after answering, so that the server logs it.
    async with inproc.client(app, raise_app_exceptions=False) as http:
        response = await http.get("/api/docs")
    assert response.status_code == 500
    assert response.json() == {"error": "internal error"}
