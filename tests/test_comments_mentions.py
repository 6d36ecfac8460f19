"""@mentions (accounts mode): who may be mentioned, a mention stored with the user's id, and
each user's list of mentions and replies to their threads, newest first, read or unread."""

from __future__ import annotations

from server.comments.mentions import mentioned, mentions_of
from tests.live import ServerProcess
from tests.test_accounts import accounts_server, path, person

accounts = accounts_server  # the same fixture, under a shorter name


def test_mentioned_finds_readers_only() -> None:
    readers = ["ana", "Carl", "b.en"]
    body = "@carl and @b.en, not @nobody; @CARL again"
    assert mentioned(body, readers) == ["user:Carl", "user:b.en"]


def test_mentions_of_a_user() -> None:
    def comment(cid: str, who: str, at: int, mentions: list[str]) -> dict[str, object]:
        return {
            "id": cid,
            "body": cid,
            "author": {"id": f"user:{who}", "name": who},
            "created_at": at,
            "deleted": False,
            "mentions": mentions,
        }

    threads = {
        "t": {
            "id": "t",
            "quote": "q",
            "author": {"id": "user:ana"},
            "comments": {
                "c1": comment("c1", "ana", 1, ["user:carl"]),
                "c2": comment("c2", "ben", 2, []),
                "c3": comment("c3", "ana", 3, []),
            },
        }
    }
    assert [(m["comment"], m["reason"]) for m in mentions_of("user:carl", threads)] == [
        ("c1", "mention")
    ]
    assert [(m["comment"], m["reason"]) for m in mentions_of("user:ana", threads)] == [
        ("c2", "reply")
    ]
    assert mentions_of("user:ben", threads) == []


async def test_mentions_list_with_unread_count(accounts: ServerProcess) -> None:
    async with (
        person(accounts, "ana") as ana,
        person(accounts, "ben") as ben,
        person(accounts, "carl") as carl,
    ):
        name = (await ana.post("/api/docs", json={"markdown": "A plan. B plan."})).json()["name"]
        await ana.put(path(name, "/shares/ben"), json={"role": "editor"})
        await ana.put(path(name, "/shares/carl"), json={"role": "commenter"})
        people = (await carl.get(path(name, "/comments/people"))).json()["people"]
        assert [p["username"] for p in people] == ["ana", "ben", "carl"]

        made = await ana.post(
            path(name, "/comments"), json={"body": "@carl can you check?", "quote": "A plan."}
        )
        assert made.status_code == 201, made.text
        thread = made.json()["id"]
        replied = await ben.post(path(name, f"/comments/{thread}/replies"), json={"body": "Done"})
        assert replied.status_code == 201

        mine = (await carl.get("/api/mentions")).json()
        assert mine["unread"] == 1
        [mention] = mine["mentions"]
        assert mention["doc"] == name and mention["quote"] == "A plan."
        assert mention["body"] == "@carl can you check?" and mention["read"] is False
        assert mention["reason"] == "mention" and mention["author"]["name"] == "ana"

        anas = (await ana.get("/api/mentions")).json()
        assert [(m["body"], m["reason"]) for m in anas["mentions"]] == [("Done", "reply")]

        read = await carl.post(
            "/api/mentions/read", json={"doc": name, "comments": [mention["comment"]]}
        )
        assert read.status_code == 204
        again = (await carl.get("/api/mentions")).json()
        assert again["unread"] == 0 and again["mentions"][0]["read"] is True
        assert (await ben.get("/api/mentions")).json() == {"mentions": [], "unread": 0}
