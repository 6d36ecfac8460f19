"""How the pages look: printing shows only the document (links with their address, sensible page
breaks); the dark colour scheme follows the system and every part stays readable."""

from __future__ import annotations

import re
from typing import Literal

import pytest
from playwright.sync_api import Page, expect

from e2e.helpers import People
from e2e.test_sharing import sign_up
from e2e.ui import add_link, save_named_version

pytestmark = pytest.mark.timeout(120)

# The contrast ratio (WCAG 2) of an element's text against the background it is drawn on (the
# first ancestor with an opaque enough background).
CONTRAST_JS = """(el) => {
  const rgba = (c) => {
    const m = c.match(/rgba?\\(([^)]*)\\)/);
    if (!m) return [255, 255, 255, 1];
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const background = (e) => {
    for (; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] >= 0.5) return c;
    }
    return [255, 255, 255, 1];
  };
  const lum = ([r, g, b]) => [r, g, b]
    .map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const fg = lum(rgba(getComputedStyle(el).color));
  const bg = lum(background(el));
  return { ratio: (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05), background: bg };
}"""


def contrast(page: Page, selector: str) -> tuple[float, float]:
    """(contrast ratio, luminance of the background) of the first visible match."""
    target = page.locator(selector).locator("visible=true").first
    expect(target).to_be_visible()
    result = target.evaluate(CONTRAST_JS)
    return float(result["ratio"]), float(result["background"])


def assert_readable(page: Page, scheme: str, selectors: list[str]) -> None:
    for selector in selectors:
        ratio, _ = contrast(page, selector)
        assert ratio >= 4.5, f"{scheme}: {selector} has a contrast of {ratio:.2f}"


def assert_surfaces(page: Page, scheme: str, selectors: list[str]) -> None:
    """The page and its panels, menus and dialogs are dark in the dark scheme, light otherwise."""
    for selector in selectors:
        _, background = contrast(page, selector)
        if scheme == "dark":
            assert background < 0.1, f"{selector} is on a light background ({background:.2f})"
        else:
            assert background > 0.6, f"{selector} is on a dark background ({background:.2f})"


def test_printing_shows_only_the_document_with_link_addresses(
    people: People, doc_name: str
) -> None:
    alice, bob = people.pair(doc_name)
    alice.click_end()
    alice.page.keyboard.press("Control+Alt+1")
    alice.type("Heading")
    alice.page.keyboard.press("Enter")
    alice.type("See ")
    add_link(alice, "the guide", "https://example.com/guide")
    bob.wait_contains("See the guide")
    bob.click_end()  # Bob's caret (with his name) shows in Alice's text
    page = alice.page
    caret = page.locator(".collaboration-carets__caret")
    expect(caret).to_be_visible()
    expect(page.locator("#name-prompt")).to_be_hidden()
    page.get_by_role("button", name="History").click()
    expect(page.locator("#history-panel")).to_be_visible()

    page.emulate_media(media="print")
    for chrome in [
        "#topbar",
        "#toolbar",
        "#status",
        "#history-button",
        "#export-button",
        "#me",
        "#history-panel",
        ".collaboration-carets__caret",
        ".collaboration-carets__label",
    ]:
        expect(page.locator(chrome).first).to_be_hidden()
    expect(alice.editor).to_be_visible()
    expect(alice.editor.locator("h1")).to_have_text("Heading")
    after = page.evaluate(
        "() => getComputedStyle(document.querySelector('.ProseMirror a'), '::after').content"
    )
    assert "https://example.com/guide" in after, after
    styles = page.evaluate(
        """() => ({
          heading: getComputedStyle(document.querySelector('.ProseMirror h1')).breakAfter,
          paper: getComputedStyle(document.querySelector('#editor')).borderTopStyle,
          text: getComputedStyle(document.querySelector('.ProseMirror p')).color,
        })"""
    )
    assert styles == {"heading": "avoid", "paper": "none", "text": "rgb(0, 0, 0)"}, styles
    page.emulate_media(media="screen")
    expect(page.locator("#topbar")).to_be_visible()
    expect(page.locator("#history-panel")).to_be_visible()


@pytest.mark.server_args("--auth", "accounts")
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_colour_scheme_follows_the_system_and_everything_stays_readable(
    people: People, scheme: Literal["light", "dark"]
) -> None:
    olivia = people.add("Olivia")
    page = olivia.page
    page.emulate_media(color_scheme=scheme)
    page.goto(people.base + "/signin")
    assert_readable(page, scheme, ["#auth-title", "label[for=username]", "#auth-submit"])
    assert_surfaces(page, scheme, ["body", "#auth-form", "#username"])
    sign_up(olivia, people.base, "olivia")
    assert_readable(page, scheme, [".home-main h1", "#account-name"])
    assert_surfaces(page, scheme, ["body", ".topbar"])
    page.get_by_role("button", name="New document").click()
    olivia.wait_synced()
    olivia.click_end()
    olivia.type("Dark or light, ")
    add_link(olivia, "readable", "https://example.com/")
    olivia.page.keyboard.press("End")
    olivia.page.keyboard.press("Enter")
    olivia.page.keyboard.press("Control+Alt+c")
    olivia.type("code = 1")
    olivia.wait_saved()
    assert_readable(
        page,
        scheme,
        [
            ".ProseMirror p",
            ".ProseMirror a",
            ".ProseMirror pre",
            "#title",
            "#sync-label",
            "#me-name",
            "#role",
            "#toolbar .tb-bold",
            "#toolbar .tb-codeBlock[aria-pressed=true]",
            "#history-button",
        ],
    )
    assert_surfaces(page, scheme, ["body", "#topbar", "#toolbar", "#editor", ".ProseMirror p"])

    # The menus.
    page.locator("#export-button").click()
    assert_readable(page, scheme, ["#export-menu a"])
    assert_surfaces(page, scheme, ["#export-menu"])
    page.keyboard.press("Escape")
    expect(page.locator("#export-menu")).to_be_hidden()

    # A dialog.
    page.get_by_role("button", name="Share").click()
    dialog = page.get_by_role("dialog", name="Share")
    expect(dialog).to_be_visible()
    assert_readable(page, scheme, ["#share-title", "#links-title", "#copy-view-link"])
    assert_surfaces(page, scheme, ["#share-dialog", "#share-username"])
    dialog.get_by_role("button", name="Copy view link").click()
    expect(page.locator("#share-status")).to_contain_text(re.compile(r"link (copied|ready)"))
    assert_readable(page, scheme, ["#share-status", ".share-url"])
    dialog.get_by_role("button", name="Close").click()

    # The history view: the list and a version's preview with its changes.
    entry = save_named_version(page, "First")
    olivia.click_end()
    olivia.type(" more")
    olivia.wait_saved()
    entry.get_by_role("button").click()
    expect(page.locator("#preview")).to_have_attribute("data-ready", "true")
    assert_readable(
        page,
        scheme,
        [
            ".panel-head h2",
            ".version-label",
            ".version-meta",
            ".badge",
            "#preview-name",
            "#preview-legend",
            "#preview-doc p",
            "#preview-doc .diff-del",
        ],
    )
    assert_surfaces(page, scheme, ["#history-panel", ".preview-bar", "#preview-doc"])
