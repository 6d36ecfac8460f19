"""Comments in the browser: threads on selected text seen live by another person (separate
browser contexts), replies, resolving, highlights that follow the text, detached threads, a
comment written offline, and a comment link whose holder comments but cannot change the text."""

from __future__ import annotations

import re
import time
from urllib.parse import quote

import pytest
from playwright.sync_api import Locator, expect

from e2e.helpers import SEE_MS, People, Person

pytestmark = pytest.mark.timeout(150)


def select_last(person: Person, chars: int) -> None:
    """Select the last `chars` characters of the document."""
    person.click_end()
    for _ in range(chars):
        person.page.keyboard.press("Shift+ArrowLeft")


def comment_on_selection(person: Person, body: str, *, shortcut: bool = False) -> float:
    """Comment on the selection; returns when (time.monotonic) the comment was submitted."""
    page = person.page
    if shortcut:
        page.keyboard.press("Control+Alt+KeyM")
    else:
        page.locator("#add-comment").click()
    expect(page.locator("#new-thread")).to_be_visible()
    page.locator("#new-thread-body").fill(body)
    submitted = time.monotonic()
    page.locator("#new-thread").get_by_role("button", name="Comment").click()
    expect(page.locator("#new-thread")).to_be_hidden()
    return submitted


def thread(person: Person, body: str) -> Locator:
    return person.page.locator("#threads .thread", has_text=body)


def open_panel(person: Person) -> None:
    if person.page.locator("#comments-panel").is_hidden():
        person.page.locator("#comments-button").click()
    expect(person.page.locator("#comments-panel")).to_be_visible()


def highlight(person: Person) -> Locator:
    return person.editor.locator(".comment-highlight")


def test_comment_reply_resolve_between_two_people(people: People, doc_name: str) -> None:
    alice, bob = people.pair(doc_name)
    alice.click_end()
    alice.type("The quick brown fox jumps.")
    bob.wait_text_equals("The quick brown fox jumps.")
    open_panel(bob)

    select_last(alice, len("fox jumps."))
    started = comment_on_selection(alice, "Is it a fox?")
    expect(thread(bob, "Is it a fox?")).to_be_visible(timeout=SEE_MS)
    # Reported, not asserted (a loaded CI machine is no measure): the target is 1 s.
    print(f"Bob saw Alice's comment {time.monotonic() - started:.2f}s after she submitted it")
    # Both see the anchored text highlighted, and who wrote it.
    for person in (alice, bob):
        expect(highlight(person)).to_have_text("fox jumps.")
        expect(thread(person, "Is it a fox?").locator(".comment-author").first).to_have_text(
            "Alice"
        )

    bob_thread = thread(bob, "Is it a fox?")
    bob_thread.get_by_placeholder("Reply").fill("Yes, a brown one.")
    bob_thread.get_by_role("button", name="Reply").click()
    expect(thread(alice, "Is it a fox?")).to_contain_text("Yes, a brown one.", timeout=SEE_MS)

    thread(alice, "Is it a fox?").get_by_role("button", name="Resolve").click()
    for person in (alice, bob):
        expect(thread(person, "Is it a fox?")).to_be_hidden(timeout=SEE_MS)
        expect(highlight(person)).to_have_count(0)
        person.page.locator("#show-resolved").check()
        expect(thread(person, "Is it a fox?")).to_have_class(re.compile(r"\bresolved\b"))
        expect(thread(person, "Is it a fox?").get_by_role("button", name="Reopen")).to_be_visible()


def test_highlight_follows_edits_and_deleting_the_text_detaches_the_thread(
    people: People, doc_name: str
) -> None:
    alice, bob = people.pair(doc_name)
    alice.click_end()
    alice.type("alpha beta gamma")
    bob.wait_text_equals("alpha beta gamma")
    open_panel(bob)
    select_last(alice, len("gamma"))
    comment_on_selection(alice, "Greek letter")
    expect(highlight(bob)).to_have_text("gamma", timeout=SEE_MS)

    # Bob writes before the anchored word and right after it: the highlight stays on "gamma".
    bob.click_start()
    bob.type("Intro: ")
    bob.click_end()
    bob.type(" delta")
    for person in (alice, bob):
        person.wait_text_equals("Intro: alpha beta gamma delta")
        expect(highlight(person)).to_have_text("gamma")

    # Alice deletes the anchored word: the thread stays, detached, showing what it quoted.
    alice.click_end()
    for _ in range(len(" delta")):
        alice.page.keyboard.press("ArrowLeft")
    for _ in range(len("gamma")):
        alice.page.keyboard.press("Backspace")
    bob.wait_text_equals("Intro: alpha beta  delta")
    detached = thread(bob, "Greek letter")
    expect(detached).to_have_class(re.compile(r"\bdetached\b"), timeout=SEE_MS)
    expect(detached.locator(".comment-quote")).to_have_text("gamma")
    expect(highlight(bob)).to_have_count(0)


def test_a_comment_written_offline_arrives_on_reconnect(people: People, doc_name: str) -> None:
    alice, bob = people.pair(doc_name)
    alice.click_end()
    alice.type("Offline review target.")
    bob.wait_text_equals("Offline review target.")
    open_panel(alice)

    bob.go_offline()
    select_last(bob, len("target."))
    comment_on_selection(bob, "Written on the train")
    expect(thread(bob, "Written on the train")).to_be_visible()
    # Kept on Bob's device only: Alice does not have it.
    bob.page.wait_for_timeout(0)
    expect(thread(alice, "Written on the train")).to_have_count(0)

    bob.go_online()
    expect(thread(alice, "Written on the train")).to_be_visible(timeout=SEE_MS)
    expect(highlight(alice)).to_have_text("target.")
    # Exactly once.
    expect(alice.page.locator("#threads .thread")).to_have_count(1)


def test_a_reply_written_offline_reopens_a_thread_resolved_meanwhile(
    people: People, doc_name: str
) -> None:
    alice, bob = people.pair(doc_name)
    alice.click_end()
    alice.type("Settle this later.")
    bob.wait_text_equals("Settle this later.")
    open_panel(alice)
    open_panel(bob)
    select_last(alice, len("later."))
    comment_on_selection(alice, "When exactly?")
    expect(thread(bob, "When exactly?")).to_be_visible(timeout=SEE_MS)

    bob.go_offline()
    thread(alice, "When exactly?").get_by_role("button", name="Resolve").click()
    expect(thread(alice, "When exactly?")).to_be_hidden()
    bob_thread = thread(bob, "When exactly?")
    bob_thread.get_by_placeholder("Reply").fill("Next Monday")
    bob_thread.get_by_role("button", name="Reply").click()
    expect(bob_thread).to_contain_text("Next Monday")

    bob.go_online()
    reopened = thread(alice, "When exactly?")
    expect(reopened).to_be_visible(timeout=SEE_MS)
    expect(reopened).to_contain_text("Next Monday")
    expect(reopened.get_by_role("button", name="Resolve")).to_be_visible()
    expect(highlight(alice)).to_have_text("later.")


def test_a_thread_made_over_http_shows_live_on_its_quote(people: People, doc_name: str) -> None:
    alice = people.add("Alice", doc=doc_name)
    alice.wait_synced()
    alice.click_end()
    alice.type("Numbers: one two three.")
    alice.wait_saved()
    open_panel(alice)
    made = alice.context.request.post(
        f"{people.base}/api/docs/{quote(doc_name, safe='')}/comments",
        data={"body": "Spell out four too?", "quote": "two three", "name": "Robot"},
        headers={"X-Coedit-Author-Key": "robot-key-0123456789"},
    )
    assert made.status == 201, made.text()
    expect(thread(alice, "Spell out four too?")).to_be_visible(timeout=SEE_MS)
    expect(highlight(alice)).to_have_text("two three")
    expect(thread(alice, "Spell out four too?").locator(".comment-author")).to_have_text("Robot")
