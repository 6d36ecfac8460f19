"""Rules the server and the browser both keep, one set of cases for both sides
(tests/fixtures/shared_rules.json): server/content here, web/src/rules.ts in Node."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.content import json_to_text, safe_href
from tests.node_scripts import FIXTURES, run_node_script

RULES: dict[str, Any] = json.loads((FIXTURES / "shared_rules.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", RULES["plain_text"], ids=lambda case: case["name"])
def test_server_plain_text(case: dict[str, Any]) -> None:
    assert json_to_text(case["doc"]) == case["text"]


@pytest.mark.parametrize("case", RULES["hrefs"], ids=lambda case: repr(case["href"]))
def test_server_link_rule(case: dict[str, Any]) -> None:
    assert safe_href(case["href"]) == (case["href"] if case["safe"] else None), case["why"]


def test_browser_keeps_the_same_rules() -> None:
    browser = run_node_script("check_shared_rules.mjs", needs="esbuild", runs="web/src/rules.ts")
    for case, got in zip(RULES["plain_text"], browser["plain_text"], strict=True):
        assert got == {"text": case["text"], "misplaced": []}, case["name"]
    for case, got_href in zip(RULES["hrefs"], browser["hrefs"], strict=True):
        assert got_href == (case["href"] if case["safe"] else None), (case["href"], case["why"])
