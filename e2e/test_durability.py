"""What the server has said is saved survives a graceful restart and a crash."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from e2e.helpers import People, Person, fetch_server_doc, fragment_text
from tests.live import ServerProcess

pytestmark = pytest.mark.timeout(120)


def _write_and_wait_for_saved(people: People, doc_name: str, words: str, title: str) -> Person:
    alice = people.add("Alice", doc=doc_name)
    alice.wait_synced()
    alice.page.locator("#title").fill(title)
    alice.click_end()
    alice.type(words)
    alice.wait_saved()
    expect(alice.page.locator("#saved-label")).to_contain_text("Saved")
    return alice


def _reopen_on(server: ServerProcess, people: People, doc_name: str) -> Person:
    """Someone new opens the document on the restarted server (new port, same database)."""
    people.base = server.url
    reader = people.add("Reader", doc=doc_name)
    reader.wait_synced()
    return reader


def test_content_survives_a_graceful_server_restart(
    people: People, server: ServerProcess, doc_name: str
) -> None:
    _write_and_wait_for_saved(people, doc_name, "Survives SIGTERM.", "Restart notes")

    assert server.stop() == 0, f"graceful shutdown should exit 0; log:\n{server.log_text()}"
    server.start()  # same SQLite file, new port

    reader = _reopen_on(server, people, doc_name)
    reader.wait_text_equals("Survives SIGTERM.")
    expect(reader.page.locator("#title")).to_have_value("Restart notes")


def test_content_marked_saved_survives_kill_9_of_the_server(
    people: People, server: ServerProcess, doc_name: str
) -> None:
    writer = _write_and_wait_for_saved(people, doc_name, "Survives SIGKILL.", "Crash notes")
    # Keep typing right up to the crash; only what was marked saved must survive.
    writer.type(" More")
    writer.wait_saved()
    saved_text = writer.text()

    server.kill()
    server.start()

    assert fragment_text(fetch_server_doc(server.url, doc_name)) == saved_text
    reader = _reopen_on(server, people, doc_name)
    reader.wait_text_equals(saved_text)
    expect(reader.page.locator("#title")).to_have_value("Crash notes")
