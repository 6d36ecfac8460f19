"""Several instances on one PostgreSQL and one Redis (issue 14, the design's S1-S7 and S9): real
server processes, a real PostgreSQL and Redis started by the tests, real WebSockets. Nothing here
waits a fixed time: every wait is for a state, with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import websockets
from pycrdt import Doc, Text, XmlElement, XmlFragment, XmlText

from server.store.base import CommittedRow, DocName
from server.store.postgres import PostgresStore
from server.sync.protocol import encode_update
from tests.client import YClient, ws_url
from tests.live import ServerProcess
from tests.pgproc import Postgres
from tests.redisproc import RedisProcess
from tests.test_accounts import path, person, socket
from tests.updates import crafted, string_item

# Short enough that the tests run quickly, long enough for a busy 2-core machine.
FAST = {
    "COEDIT_HEAD_CHECK_SECONDS": "1",
    "COEDIT_INSTANCE_DEAD_SECONDS": "3",
    "COEDIT_DRAIN_DELAY_SECONDS": "0.5",
    "COEDIT_DRAIN_SPREAD_SECONDS": "1",
}
DEADLINE = 20.0


class Cluster:
    def __init__(
        self, tmp_path: Path, dsn: str, bus: str, n: int, env: dict[str, str] | None = None
    ) -> None:
        self.dsn = dsn
        self.servers = [
            ServerProcess(
                tmp_path / f"unused-{i}.db",
                env={**FAST, **(env or {})},
                args=["--store", dsn, "--bus", bus, "--instance-id", f"i{i}"],
                log_path=tmp_path / f"instance-{i}.log",
            )
            for i in range(n)
        ]

    def __getitem__(self, i: int) -> ServerProcess:
        return self.servers[i]

    def start(self) -> None:
        for server in self.servers:
            server.start()

    def close(self) -> None:
        for server in self.servers:
            server.kill()


@pytest.fixture
def redis() -> Iterator[RedisProcess]:
    proc = RedisProcess()
    proc.start()
    try:
        yield proc
    finally:
        proc.close()


@pytest.fixture
def make_cluster(
    tmp_path: Path, postgres: Postgres, redis: RedisProcess
) -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []

    def make(n: int = 3, env: dict[str, str] | None = None) -> Cluster:
        cluster = Cluster(tmp_path, postgres.new_database(), redis.url, n, env)
        made.append(cluster)
        cluster.start()
        return cluster

    yield make
    for cluster in made:
        cluster.close()


@contextlib.asynccontextmanager
async def client(
    server: ServerProcess, name: str, doc: Doc[Any] | None = None
) -> AsyncIterator[YClient]:
    async with YClient.connect(server.ws, name, doc) as c:
        await asyncio.wait_for(c.synced.wait(), DEADLINE)
        yield c


def text(c: YClient | Doc[Any]) -> str:
    doc = c.doc if isinstance(c, YClient) else c
    return str(doc.get("t", type=Text))


def text_is(c: YClient, expected: str) -> bool:
    return text(c) == expected


def has_all(c: YClient, markers: list[str]) -> bool:
    now = text(c)
    return all(m in now for m in markers)


async def health(server: ServerProcess, path: str = "/healthz") -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
        response = await http.get(path)
        return response.status_code, response.json()


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float = DEADLINE) -> None:
    """Poll an outside state (a process, an HTTP answer) until it holds, with a deadline."""
    async with asyncio.timeout(timeout):
        while True:
            if await check():
                return
            await asyncio.sleep(0.05)


# -- S1: every instance serves every document ------------------------------------------------


async def test_clients_spread_over_three_instances_converge(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster(3)
    name = "spread"
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(client(cluster[i % 3], name)) for i in range(9)]
        rng = random.Random(1)
        markers: list[str] = []
        for step in range(15):
            for who, c in enumerate(clients):
                marker = f"<{who}.{step}>"
                markers.append(marker)
                t = c.doc.get("t", type=Text)
                # At either end: a marker typed inside another would split it.
                t.insert(rng.choice([0, len(t)]), marker)
            await asyncio.sleep(0)  # let the writers send (not a wait for a state)
        for c in clients:
            await c.wait_until(functools.partial(has_all, c, markers))
        final = text(clients[0])
        for c in clients:
            await c.wait_until(functools.partial(text_is, c, final))
        # A late joiner on each instance gets everything.
        for server in cluster.servers:
            async with client(server, name) as late:
                await late.wait_until(functools.partial(text_is, late, final))


# -- S2: kill -9 loses nothing acknowledged ---------------------------------------------------


async def test_kill_minus_nine_of_any_instance_loses_nothing_acknowledged(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster(3)
    name = "crashes"
    rng = random.Random(2)
    acknowledged: list[str] = []
    doc: Doc[Any] = Doc()  # the writer's own copy, kept across its reconnects (like IndexedDB)
    for cycle in range(10):
        victim = cluster[cycle % 3]
        with contextlib.suppress(websockets.ConnectionClosed, TimeoutError):
            async with client(victim, name, doc) as writer:
                t = writer.doc.get("t", type=Text)
                for k in range(3):
                    marker = f"[{cycle}.{k}]"
                    t.insert(len(t), marker)
                    await writer.roundtrip()  # committed: acknowledged from here on
                    acknowledged.append(marker)
                t.insert(len(t), f"(unacknowledged {cycle})")
                await asyncio.sleep(rng.uniform(0, 0.05))  # crash at a random moment
                victim.kill()
        victim.start()
        witness = cluster[(cycle + 1) % 3]
        async with client(witness, name) as reader:
            await reader.wait_until(lambda: has_all(reader, acknowledged))


# -- S3: Redis paused, or restarted empty ------------------------------------------------------


async def test_redis_paused_degrades_to_polling_and_recovers(
    make_cluster: Callable[..., Cluster], redis: RedisProcess
) -> None:
    cluster = make_cluster(2)
    name = "redis-pause"
    async with client(cluster[0], name) as a, client(cluster[1], name) as b:
        a.doc.get("t", type=Text).insert(0, "before;")
        await b.wait_until(lambda: "before;" in text(b))
        redis.pause()
        try:
            a.doc.get("t", type=Text).insert(0, "paused;")
            await b.wait_until(lambda: "paused;" in text(b))  # by polling PostgreSQL
            await wait_for(functools.partial(_status, cluster[0], "degraded"))
            assert cluster[0].running and cluster[1].running
        finally:
            redis.resume()
        await wait_for(functools.partial(_status, cluster[0], "ok"))
        b.doc.get("t", type=Text).insert(0, "after;")
        await a.wait_until(lambda: "after;" in text(a))


async def test_redis_restarted_empty_loses_nothing(
    make_cluster: Callable[..., Cluster], redis: RedisProcess
) -> None:
    cluster = make_cluster(2)
    name = "redis-restart"
    async with client(cluster[0], name) as a, client(cluster[1], name) as b:
        a.doc.get("t", type=Text).insert(0, "one;")
        await b.wait_until(lambda: "one;" in text(b))
        redis.kill()
        a.doc.get("t", type=Text).insert(0, "two;")
        await b.wait_until(lambda: "two;" in text(b))
        redis.start()  # same port, empty
        await wait_for(functools.partial(_status, cluster[0], "ok"))
        await wait_for(functools.partial(_status, cluster[1], "ok"))
        a.doc.get("t", type=Text).insert(0, "three;")
        await b.wait_until(lambda: "three;" in text(b))
        await a.set_awareness({"user": {"name": "Ada"}})
        await b.wait_until(lambda: any(s and s.get("user") for s in b.awareness.values()))


async def _status(server: ServerProcess, expected: str) -> bool:
    _, body = await health(server)
    return bool(body.get("status") == expected)


# -- S4: PostgreSQL restarted, or down for a while ---------------------------------------------


async def test_postgres_fast_restart_closes_nobody(
    make_cluster: Callable[..., Cluster], postgres: Postgres
) -> None:
    cluster = make_cluster(2)
    name = "pg-restart"
    async with client(cluster[0], name) as a, client(cluster[1], name) as b:
        a.doc.get("t", type=Text).insert(0, "before;")
        await b.wait_until(lambda: "before;" in text(b))
        postgres.restart()
        a.doc.get("t", type=Text).insert(0, "after;")
        await b.wait_until(lambda: "after;" in text(b))
        await a.roundtrip()
        assert a.ws.close_code is None and b.ws.close_code is None


async def test_postgres_outage_closes_clients_with_1013_and_all_converge_after(
    make_cluster: Callable[..., Cluster], postgres: Postgres
) -> None:
    cluster = make_cluster(2)
    name = "pg-down"
    doc_a: Doc[Any] = Doc()
    async with client(cluster[0], name, doc_a) as a, client(cluster[1], name) as b:
        a.doc.get("t", type=Text).insert(0, "stored;")
        await b.wait_until(lambda: "stored;" in text(b))
        postgres.stop()
        down = time.monotonic()
        try:
            a.doc.get("t", type=Text).insert(0, "while down;")
            async with asyncio.timeout(15):
                await a.ws.wait_closed()
                await b.ws.wait_closed()
            assert a.ws.close_code == 1013 and b.ws.close_code == 1013
            assert "while down;" not in text(b), "relayed before it was stored"
            # A 20 s outage (the scenario, not a wait for a state): the instances stay up,
            # and a client trying meanwhile is turned away (1013), never served a document.
            while time.monotonic() - down < 20:
                assert cluster[0].running and cluster[1].running
                async with websockets.connect(ws_url(cluster[0].ws, name)) as ws:
                    await asyncio.wait_for(ws.wait_closed(), DEADLINE)
                    assert ws.close_code == 1013
                await asyncio.sleep(1)
        finally:
            postgres.start()
    # The writer reconnects with its copy (its step 2 resends what was never stored).
    async with client(cluster[1], name, doc_a) as again:
        await again.roundtrip()
    async with client(cluster[0], name) as fresh:
        await fresh.wait_until(lambda: text(fresh) == "while down;stored;")


# -- S5: the stale replica of hocuspocus#1151 -------------------------------------------------


async def test_a_lagging_instance_never_spreads_a_state_that_never_existed(
    make_cluster: Callable[..., Cluster], postgres: Postgres, redis: RedisProcess
) -> None:
    cluster = make_cluster(3)
    name = "stale-replica"
    old_copy: Doc[Any] = Doc()
    async with client(cluster[0], name, old_copy) as first:
        first.doc.get("t", type=Text).insert(0, "PPPP")
        await first.roundtrip()
    async with client(cluster[2], name) as c:
        await c.wait_until(lambda: text(c) == "PPPP")
        assert cluster[2].proc is not None
        cluster[2].proc.send_signal(signal.SIGSTOP)  # instance C hears nothing for a while
        try:
            async with client(cluster[0], name) as a:
                t = a.doc.get("t", type=Text)
                del t[0:4]
                t.insert(0, "QQQQ")
                await a.roundtrip()
            # A client with an old offline copy (PPPP) reconnects to B.
            async with client(cluster[1], name, old_copy) as stale:
                await stale.wait_until(lambda: text(stale) == "QQQQ")
        finally:
            cluster[2].proc.send_signal(signal.SIGCONT)
        await c.wait_until(lambda: text(c) == "QQQQ")
        c.doc.get("t", type=Text).insert(4, "+C")
        await c.roundtrip()
    for server in cluster.servers:
        async with client(server, name) as fresh:
            await fresh.wait_until(functools.partial(text_is, fresh, "QQQQ+C"))
    # The bus carried only committed rows, each byte for byte the stored row of its number.
    tap = await _stream_rows(redis, name)
    async with PostgresStore(cluster.dsn) as store:
        rows = await store.read_since(DocName(name), 0)
    assert rows is not None, "compaction kept the last seconds' rows"
    assert tap and all(dict(rows)[seq] == data for seq, data in tap)


async def _stream_rows(redis: RedisProcess, name: str) -> list[tuple[int, bytes]]:
    import redis.asyncio as aioredis

    conn = aioredis.Redis.from_url(redis.url)
    try:
        raw = await conn.xrange(b"coedit:d:" + name.encode())
    finally:
        await conn.aclose()
    entries = cast(list[tuple[bytes, dict[bytes, bytes]]], raw)
    kinds = {fields[b"t"] for _, fields in entries}
    assert kinds <= {b"u", b"a", b"q"}, kinds  # no step 2, no document state
    return [(int(f[b"s"]), f[b"u"]) for _, f in entries if f[b"t"] == b"u" and b"u" in f]


# -- S6: awareness across instances -----------------------------------------------------------


def shows(c: YClient, who: str) -> bool:
    return any(
        isinstance(s, dict) and s.get("user", {}).get("name") == who for s in c.awareness.values()
    )


async def test_cursors_cross_instances_and_leave_with_their_client_or_instance(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster(3)
    name = "cursors"
    async with client(cluster[1], name) as watcher:
        async with client(cluster[0], name) as ada:
            await ada.set_awareness({"user": {"name": "Ada"}})
            started = time.monotonic()
            await watcher.wait_until(lambda: shows(watcher, "Ada"))
            assert time.monotonic() - started < 1.0
        started = time.monotonic()
        await watcher.wait_until(lambda: not shows(watcher, "Ada"))  # clean leave
        assert time.monotonic() - started < 1.0
        # A newcomer on a third instance sees who is already there.
        async with client(cluster[2], name) as grace:
            await grace.set_awareness({"user": {"name": "Grace"}})
            await watcher.wait_until(lambda: shows(watcher, "Grace"))
            async with client(cluster[0], name) as late:
                await late.wait_until(lambda: shows(late, "Grace"))
            cluster[2].kill()
            started = time.monotonic()
            await watcher.wait_until(lambda: not shows(watcher, "Grace"), timeout=15)
            assert time.monotonic() - started < 12.0


# -- S7: deletion and revocation reach every instance -----------------------------------------


async def test_a_deletion_closes_clients_on_every_instance_and_old_copies_stay_out(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster(3)
    name = "doomed"
    async with httpx.AsyncClient(base_url=cluster[0].url, timeout=10) as http:
        epoch = (await http.put(f"/api/docs/{name}", params={"create": "1"})).json()["epoch"]
        async with client(cluster[1], name) as b, client(cluster[2], name) as c:
            started = time.monotonic()
            assert (await http.delete(f"/api/docs/{name}")).status_code == 204
            async with asyncio.timeout(5):
                await b.ws.wait_closed()
                await c.ws.wait_closed()
            assert time.monotonic() - started < 1.5
            assert b.ws.close_code == 4404 and c.ws.close_code == 4404
        assert (await http.delete(f"/api/trash/{name}")).status_code == 204  # for good
        await http.put(f"/api/docs/{name}", params={"create": "1"})  # re-created: a new epoch
    url = ws_url(cluster[2].ws, name) + f"?epoch={epoch}"
    async with websockets.connect(url) as ws:
        await asyncio.wait_for(ws.wait_closed(), DEADLINE)
        assert ws.close_code == 4410


# -- S9: rolling restart ----------------------------------------------------------------------


async def test_a_rolling_restart_hands_clients_over_with_1012_and_loses_nothing(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster(3)
    name = "rolling"
    acknowledged: list[str] = []
    closes: list[int | None] = []  # None: no close code came
    stop = asyncio.Event()
    stopping: set[int] = set()

    async def person(who: int) -> None:
        doc: Doc[Any] = Doc()  # kept across reconnects, like the page's IndexedDB copy
        step = 0
        while not stop.is_set():
            # What a load balancer does once /readyz says 503: send newcomers elsewhere.
            live = [s for i, s in enumerate(cluster.servers) if s.running and i not in stopping]
            server = live[(who + step) % len(live)]
            connected: YClient | None = None
            try:
                async with client(server, name, doc) as c:
                    connected = c
                    while not stop.is_set():
                        marker = f"<{who}.{step}>"
                        step += 1
                        c.doc.get("t", type=Text).insert(0, marker)
                        if not await acknowledged_by(c):
                            break
                        acknowledged.append(marker)
                        # A person's pace (not a wait): each acknowledgement is a sync step 1,
                        # which the server allows 5 a second.
                        await asyncio.sleep(0.3)
            except (websockets.WebSocketException, OSError, TimeoutError):
                pass  # refused while it stops: the next instance
            if connected is not None and not stop.is_set():
                closes.append(connected.ws.close_code)  # the server closed it

    people = [asyncio.create_task(person(i)) for i in range(6)]
    try:
        for i, server in enumerate(cluster.servers):

            async def typed(before: int = len(acknowledged)) -> bool:
                return len(acknowledged) > before + 10

            await wait_for(typed)
            assert server.proc is not None
            server.proc.send_signal(signal.SIGTERM)
            await wait_for(functools.partial(_draining, server))
            stopping.add(i)
            code = await asyncio.to_thread(server.proc.wait, 30)
            assert code == 0
            server.start()
            stopping.discard(i)
    finally:
        stop.set()
        await asyncio.gather(*people, return_exceptions=True)
    assert closes and all(code == 1012 for code in closes), sorted(set(closes), key=str)
    async with client(cluster[0], name) as reader:
        await reader.wait_until(lambda: has_all(reader, acknowledged))


async def acknowledged_by(c: YClient) -> bool:
    """Whether the server committed everything `c` sent (False: the connection closed first)."""
    roundtrip = asyncio.ensure_future(c.roundtrip())
    closed = asyncio.ensure_future(c.ws.wait_closed())
    done, pending = await asyncio.wait(
        {roundtrip, closed}, timeout=DEADLINE, return_when="FIRST_COMPLETED"
    )
    for task in pending:
        task.cancel()
    return roundtrip in done and roundtrip.exception() is None


async def _draining(server: ServerProcess) -> bool:
    try:
        status, _ = await health(server, "/readyz")
    except httpx.HTTPError:
        return False
    return status == 503


async def test_a_revoked_link_closes_its_holders_on_other_instances_within_a_second(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster(3, {"COEDIT_AUTH": "accounts"})
    async with person(cluster[0], "olga") as olga:
        name = (await olga.post("/api/docs", json={"markdown": "shared"})).json()["name"]
        link = (await olga.post(path(name, "/links"), json={"role": "viewer"})).json()
        query = f"?share={link['token']}"
        async with (
            socket(cluster[1], name, query=query) as b,
            socket(cluster[2], name, query=query) as c,
        ):
            started = time.monotonic()
            assert (await olga.delete(path(name, f"/links/{link['id']}"))).status_code == 204
            async with asyncio.timeout(5):
                await b.ws.wait_closed()
                await c.ws.wait_closed()
            assert time.monotonic() - started < 1.5
            assert b.ws.close_code == 4403 and c.ws.close_code == 4403


async def test_versions_are_recorded_once_per_interval_whatever_the_instances(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster(3, {"COEDIT_VERSION_INTERVAL_SECONDS": "2"})
    name = "versioned"
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(client(cluster[i], name)) for i in range(3)]
        started = time.monotonic()
        step = 0
        while time.monotonic() - started < 10:
            for c in clients:
                # Rich text: versions are only recorded when it changed.
                paragraph = c.doc.get("default", type=XmlFragment).children.append(
                    XmlElement("paragraph")
                )
                paragraph.children.append(XmlText(f"<{step}>"))
                step += 1
            await clients[0].roundtrip()
            await asyncio.sleep(0.2)  # people typing, not a wait for a state
        elapsed = time.monotonic() - started
    async with httpx.AsyncClient(base_url=cluster[0].url, timeout=10) as http:
        versions = (await http.get(f"/api/docs/{name}/versions")).json()["versions"]
    autos = [v for v in versions if v["kind"] == "auto"]
    # One per interval (and the last people leaving), not one per instance and interval.
    assert 3 <= len(autos) <= elapsed / 2 + 2, len(autos)


async def test_concurrent_compactions_from_three_instances_lose_nothing(
    postgres: Postgres,
) -> None:
    dsn = postgres.new_database()
    name = DocName("compacted")
    stores = [PostgresStore(dsn, keep_recent_seconds=0) for _ in range(3)]
    async with contextlib.AsyncExitStack() as stack:
        opened = [await stack.enter_async_context(s) for s in stores]
        await opened[0].ensure(name)
        doc: Doc[Any] = Doc()
        text = doc.get("t", type=Text)
        for i in range(60):
            before = doc.get_state()
            text.insert(len(text), f"[{i}]")
            await opened[i % 3].append(name, doc.get_update(before))
        await asyncio.gather(*(s.compact(name) for s in opened for _ in range(5)))
        state = await opened[1].durable_state(name)
    assert state is not None
    reloaded: Doc[Any] = Doc()
    reloaded.apply_update(state)
    assert str(reloaded.get("t", type=Text)) == str(text)


async def test_two_instances_number_one_documents_rows_gap_free_in_commit_order(
    postgres: Postgres,
) -> None:
    dsn = postgres.new_database()
    name = DocName("numbered")
    seen: list[list[CommittedRow]] = [[], []]
    async with (
        PostgresStore(dsn, keep_recent_seconds=0) as a,
        PostgresStore(dsn, keep_recent_seconds=0) as b,
    ):
        for store, log in ((a, seen[0]), (b, seen[1])):
            store.on_commit(log.extend)
        await a.ensure(name)
        writers: list[Doc[Any]] = [Doc(), Doc()]
        updates: list[list[bytes]] = [[], []]
        for doc, out in zip(writers, updates, strict=True):
            for i in range(100):
                before = doc.get_state()
                doc.get("t", type=Text).insert(0, f"{i};")
                out.append(doc.get_update(before))
        await asyncio.gather(
            *(
                store.append(name, u)
                for store, ups in zip((a, b), updates, strict=True)
                for u in ups
            )
        )
        rows = await b.read_since(name, 0)
        assert rows is not None
        assert [seq for seq, _ in rows] == list(range(1, 201))  # gap-free, one numbering
        for log in seen:
            assert [r.seq for r in log] == sorted(r.seq for r in log)  # committed in order
        assert {r.seq: r.update for log in seen for r in log} == dict(rows)
        assert await a.heads([name, DocName("missing")]) == {name: 200}
        assert await a.read_since(name, 150) == rows[150:]
        # Folded by a compaction, the early rows can only be had as a whole document.
        await a.compact(name)
        assert await b.read_since(name, 10) is None
        assert await b.read_since(name, 200) == []
        stored = await b.load(name)
        assert stored is not None and stored.head_seq == 200
        # One instance records a round's automatic version; the others skip it.
        assert await a.claim_version(name, 1_000.0, 5.0)
        assert not await b.claim_version(name, 1_001.0, 5.0)
        assert await b.claim_version(name, 1_006.0, 5.0)


async def test_with_the_bus_down_a_revocation_still_closes_other_instances_holders(
    make_cluster: Callable[..., Cluster], redis: RedisProcess
) -> None:
    env = {"COEDIT_AUTH": "accounts", "COEDIT_GRANT_RECHECK_SECONDS": "2"}
    cluster = make_cluster(2, env)
    async with person(cluster[0], "olga") as olga, person(cluster[0], "ed") as ed:
        name = (await olga.post("/api/docs", json={"markdown": "shared"})).json()["name"]
        assert (await olga.put(path(name, "/shares/ed"), json={"role": "editor"})).is_success
        link = (await olga.post(path(name, "/links"), json={"role": "viewer"})).json()
        async with (
            socket(cluster[1], name, query=f"?share={link['token']}") as guest,
            socket(cluster[1], name, ed) as editor,
        ):
            redis.pause()
            try:
                assert (await olga.delete(path(name, f"/links/{link['id']}"))).is_success
                assert (
                    await olga.put(path(name, "/shares/ed"), json={"role": "viewer"})
                ).is_success
                async with asyncio.timeout(15):  # the re-check's interval, not the bus
                    await guest.ws.wait_closed()
                    await editor.ws.wait_closed()
                assert guest.ws.close_code == 4403 and editor.ws.close_code == 4403
            finally:
                redis.resume()


async def test_a_writers_client_id_is_hers_on_every_instance(
    make_cluster: Callable[..., Cluster],
) -> None:
    # Alice writes on instance 0 with her key; a forger on instance 1 sends "gapp" at exactly
    # her next clock. Instance 1 learns her binding from the store (its room saw her rows come
    # from another instance) and closes the forger (1008, or 1013 while it asks), so Alice's
    # next letters reach everyone.
    cluster = make_cluster(2)
    name = "bound-everywhere"
    key = "alice-secret-key-0123456789"
    async with (
        YClient.connect(cluster[0].ws, name, key=key) as alice,
        client(cluster[1], name) as bob,
    ):
        await asyncio.wait_for(alice.synced.wait(), DEADLINE)
        t = alice.doc.get("t", type=Text)
        t.insert(0, "hello")
        await alice.roundtrip()
        await bob.wait_until(functools.partial(text_is, bob, "hello"))
        own = alice.doc.client_id
        codes = []
        for _ in range(20):  # 1013 until instance 1 has read the binding: a client reconnects
            async with YClient.connect(cluster[1].ws, name) as forger:
                await asyncio.wait_for(forger.synced.wait(), DEADLINE)
                await forger.send_raw(encode_update(crafted(string_item(own, 5, "gapp", None))))
                await asyncio.wait_for(forger.ws.wait_closed(), DEADLINE)
                codes.append(forger.ws.close_code)
            if codes[-1] != 1013:
                break
        assert codes[-1] == 1008, codes
        t.insert(5, " world")
        await alice.roundtrip()
        await bob.wait_until(functools.partial(text_is, bob, "hello world"))
