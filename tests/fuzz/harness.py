"""Runs the fuzzer against a live server, checks the oracle, replays and minimizes hexlogs.

A run drives offender connections with the engine's frames while an honest writer edits and an
honest reader receives, then checks: the server never exited; offenders saw only the close
codes README.md gives for bad input, honest clients none; the writer, the reader, the server's
live document and the document reloaded after a SIGKILL and after a graceful restart hold the
same thing clock for clock; every honest edit is there unchanged; RSS settles near where it
started. A failure is replayed alone, minimized, and written to the corpus as a hexlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import statistics
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import websockets
from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from server.sync.protocol import encode_sync_step1
from server.sync.yupdate import read_state_vector
from tests.client import YClient, ws_url
from tests.fuzz import yupdate
from tests.fuzz.mutate import FRAGMENT, Engine, Frame
from tests.live import ServerProcess

CORPUS = Path(__file__).parent / "corpus"
REPLAY_ENV = {"COEDIT_STEP1_PER_SECOND": "1000", "COEDIT_STEP1_BURST": "1000"}
OFFENDER_CODES = frozenset({1002, 1003, 1007, 1008, 1009})
DEADLINE = 15.0
OFFENDERS = 4
# Each answered frame costs one step 1 (the sentinel), which the server limits to a burst of
# 20 per connection; the frames themselves may be step 1s too.
FRAMES_PER_CONNECTION = 6
# After the run the server must hold what it held before: its Python objects (counted in
# blocks) and what C and Rust code holds through malloc (pycrdt's copy of the document, about
# 10x its encoded size, and SQLite's page cache) come back to the baseline within these; a
# leak of even a few objects per connection is far beyond them after 3,000 connections.
# Both are read from the line the server logs after each memory release (server/memory.py).
BLOCKS_SLACK = 20_000
# Updates held for predecessors that never come stay until their document unloads (bounded by
# max_held_updates): each is its bytes and what it depends on, a few dozen blocks at most.
BLOCKS_PER_HELD = 40
MALLOC_SLACK = 8 * 1024 * 1024
MALLOC_PER_DOC_BYTE = 10
# RSS adds what the allocators keep: CPython's allocator never moves an object, so one
# survivor keeps a 1 MiB arena of freed ones; measured after 7,000 frames with every release:
# 17 MiB of live Python objects spread over 60 arenas (17 at the baseline), i.e. 43 MiB
# retained, plus glibc's heaps. The bound catches retention that keeps growing.
RSS_SLACK = 64 * 1024 * 1024
# The fuzz server releases memory soon after departures, so that the check sees a release.
FUZZ_ENV = {"COEDIT_MEMORY_RELEASE_SECONDS": "1"}
RELEASE_LINE = re.compile(
    r"memory released: rss ([\d.]+) MiB, (\d+) Python blocks(?:, malloc ([\d.]+) MiB in use)?"
    r"(?:[^,]*)(?:, (\d+) held updates(?: \(([\d.]+) MiB\))?)?"
)
DEFAULT_HONEST = (424242, 434343)  # for hexlogs that name no honest ids
# The honest pair present keys as the editor does, which binds their client ids to them: a
# frame writing the writer's structs from any other connection is refused (1008), where it
# once took the writer's next clocks (server/sync/writers.py). Offenders present none.
WRITER_KEY, READER_KEY = "fuzz-honest-writer-key", "fuzz-honest-reader-key"


@dataclass
class Conn:
    """One offender connection: its frames, and what the server did after each."""

    started: float
    frames: list[Frame] = field(default_factory=list)
    results: list[str] = field(default_factory=list)  # "ok" or the close code, per frame

    @property
    def outcome(self) -> str:
        last = self.results[-1] if self.results else "ok"
        return "answered" if last == "ok" else f"close {last}"


@dataclass(frozen=True)
class Usage:
    """What the server said it held after one memory release (MiB, blocks, MiB of malloc)."""

    rss: float
    blocks: int
    malloc: float | None
    held: int = 0
    held_mib: float = 0.0

    def __str__(self) -> str:
        malloc = "" if self.malloc is None else f", malloc {self.malloc:.1f} MiB in use"
        held = f"{self.held} held updates ({self.held_mib:.1f} MiB)"
        return f"{self.blocks} Python blocks{malloc}, {held}"


@dataclass(frozen=True)
class Failure:
    kind: str  # short, used in corpus file names: "room-failed-1011", "restart-diverged-kill"
    detail: str


@dataclass
class Report:
    seed: int | None
    frames: int = 0
    conns: list[Conn] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    codes: dict[str, int] = field(default_factory=dict)
    latency_base: list[float] = field(default_factory=list)
    latency_fuzz: list[float] = field(default_factory=list)
    rss: tuple[int, int, int] = (0, 0, 0)  # baseline, peak seen, settled
    usage: tuple[Usage | None, Usage | None] = (None, None)  # logged at the baseline, after
    honest: tuple[int, int] = DEFAULT_HONEST
    seconds: float = 0.0
    corpus_files: list[Path] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    fuzz_seconds: float = 0.0  # offenders at work, out of `seconds`

    def summary(self) -> str:
        mib = 1024 * 1024
        base, peak, settled = self.rss
        what = "replay" if self.seed is None else f"fuzz seed {self.seed}"
        lines = [
            f"{what}: {self.frames} frames on {len(self.conns)} connections "
            f"in {self.seconds:.1f}s ({self.fuzz_seconds:.1f}s fuzzing); "
            f"results {dict(sorted(self.codes.items()))}",
            f"  honest reader latency p99: {p99(self.latency_base) * 1000:.1f} ms without fuzz "
            f"({len(self.latency_base)} edits), {p99(self.latency_fuzz) * 1000:.1f} ms during "
            f"({len(self.latency_fuzz)} edits)",
            f"  server RSS: baseline {base / mib:.1f} MiB, peak {peak / mib:.1f} MiB, "
            f"settled {settled / mib:.1f} MiB",
        ]
        base_usage, after_usage = self.usage
        if base_usage is not None and after_usage is not None:
            lines.append(f"  server holds: {base_usage} at the baseline, {after_usage} after")
        for line in dict.fromkeys(self.server_errors):
            lines.append(f"  server logged: {line}")
        for f in self.failures:
            lines.append(f"  FAILURE {f.kind}: {f.detail}")
        for path in self.corpus_files:
            lines.append(f"  corpus file written: {path}")
        return "\n".join(lines)


def p99(samples: Sequence[float]) -> float:
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


# ------------------------------------------------------------------------- honest clients


class Reader(YClient):
    """Receives only; notes when each of the writer's edits arrived."""

    writer_id = 0
    pending: list[tuple[int, float]]  # (writer clock once the edit is in, when it was made)
    latencies: list[float]

    def _apply(self, update: bytes) -> None:
        super()._apply(update)
        if self.pending:
            have = read_state_vector(self.doc.get_state()).get(self.writer_id, 0)
            now = time.monotonic()
            while self.pending and self.pending[0][0] <= have:
                self.latencies.append(now - self.pending.pop(0)[1])


@dataclass
class Marker:
    text: str
    start: int  # writer clock of its first character
    deleted: bool = False  # deleted by the writer itself


class Writer:
    """Types unique markers into its own paragraphs, like a user; sometimes deletes one."""

    def __init__(self, client: YClient, reader: Reader) -> None:
        self.client = client
        self.reader = reader
        self.markers: list[Marker] = []
        self.text: XmlText | None = None

    def clock(self) -> int:
        return read_state_vector(self.client.doc.get_state()).get(self.client.doc.client_id, 0)

    def edit(self, n: int, filler: int = 0) -> None:
        doc = self.client.doc
        fragment = doc.get(FRAGMENT, type=XmlFragment)
        if self.text is None or n % 25 == 0:
            block = fragment.children.append(XmlElement("paragraph"))
            self.text = block.children.append(XmlText())
        if n % 7 == 3 and self._delete_one():
            return
        marker = f"[w{n}]" + "." * filler
        start = self.clock()
        self.text.insert(len(self.text), marker)
        self.markers.append(Marker(marker, start))
        self.reader.pending.append((start + len(marker), time.monotonic()))

    def _delete_one(self) -> bool:
        assert self.text is not None
        live = [m for m in self.markers[-20:] if not m.deleted]
        if not live:
            return False
        marker = live[len(live) // 2]
        offset = 0  # UTF-8 bytes: what pycrdt's XmlText indexes by
        for chunk, _ in self.text.diff():
            if not isinstance(chunk, str):
                return False
            if marker.text in chunk:
                offset += len(chunk[: chunk.index(marker.text)].encode())
                del self.text[offset : offset + len(marker.text)]
                marker.deleted = True
                return True
            offset += len(chunk.encode())
        return False


@contextlib.asynccontextmanager
async def honest_pair(
    server: ServerProcess, name: str, ids: tuple[int, int]
) -> AsyncIterator[Writer]:
    # pycrdt clients of what the server relays: collecting would put them at the server's
    # old risk (see integrate.new_doc), and a crash of this process would end the run.
    async with (
        YClient.connect(
            server.ws, name, Doc(client_id=ids[0], skip_gc=True), WRITER_KEY
        ) as wclient,
        Reader.connect(server.ws, name, Doc(client_id=ids[1], skip_gc=True), READER_KEY) as rclient,
    ):
        assert isinstance(rclient, Reader)
        rclient.writer_id, rclient.pending, rclient.latencies = ids[0], [], []
        async with asyncio.timeout(DEADLINE):
            await asyncio.gather(wclient.synced.wait(), rclient.synced.wait())
        await wclient.set_awareness({"user": {"name": "honest writer"}})
        yield Writer(wclient, rclient)


ERROR_LINE = re.compile(r"ERROR|panicked|^\w+(\.\w+)*(Error|Exception|Panic)\b")
TIMESTAMP = re.compile(r"^[\d-]+ [\d:,]+ ")


def server_errors(log: list[str]) -> list[str]:
    """Error lines and the last line of each traceback, without timestamps or repeats."""
    lines = (TIMESTAMP.sub("", line) for line in log if ERROR_LINE.search(line))
    return list(dict.fromkeys(line[:240] for line in lines))


def hang(server: ServerProcess, exc: BaseException) -> str:
    """What a server that stopped answering was doing: spinning, or waiting on something."""
    busy = "?"
    if alive(server):
        with contextlib.suppress(psutil.Error):
            busy = f"{psutil.Process(server.pid).cpu_percent(0.5):.0f}%"
    tail = [line[-200:] for line in server.log[-6:]]
    return f"{exc!r} talking to it; server CPU {busy}; log tail {tail}"


def alive(server: ServerProcess) -> bool:
    return server.proc is not None and server.proc.poll() is None


def closed(client: YClient) -> int | None:
    return client.ws.close_code


# ------------------------------------------------------------------------- offenders


async def offend(
    server: ServerProcess, name: str, next_frame: Callable[[], Frame | None], log: list[Conn]
) -> None:
    """One offender: connections of up to FRAMES_PER_CONNECTION frames until frames run out.

    Each frame is followed by a sync step 1: its answer proves the frame was handled without
    a close, so every frame gets its own result.
    """
    while True:
        first = next_frame()
        if first is None:
            return
        conn = Conn(time.time())
        log.append(conn)
        try:
            await run_conn(server, name, conn, [first], next_frame)
        except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidMessage):
            # Refused at the handshake: only a dead or failing server does that here.
            conn.frames = conn.frames or [first]
            conn.results = [*conn.results[: len(conn.frames) - 1], "no connection"]


async def run_conn(
    server: ServerProcess,
    name: str,
    conn: Conn,
    frames: list[Frame],
    more: Callable[[], Frame | None] | None = None,
    sentinel_each: bool = True,
) -> None:
    async with websockets.connect(ws_url(server.ws, name), max_size=None) as ws:
        answers = 0
        state_vector: bytes | None = None
        changed = asyncio.Event()

        async def read() -> None:
            nonlocal answers, state_vector
            with contextlib.suppress(websockets.ConnectionClosed):
                async for message in ws:
                    if isinstance(message, bytes) and message[:2] == b"\x00\x01":
                        answers += 1
                    elif isinstance(message, bytes) and message[:2] == b"\x00\x00":
                        # Asking with the server's own state vector keeps each answer small.
                        state_vector = state_vector or message[3:]
                    changed.set()
            changed.set()

        reader = asyncio.create_task(read())

        def answered(asked: int) -> bool:
            return answers >= asked

        async def until(predicate: Callable[[], bool]) -> None:
            async with asyncio.timeout(DEADLINE):
                while not predicate() and not reader.done():
                    changed.clear()
                    await changed.wait()

        try:
            await until(lambda: state_vector is not None)
            queue = list(frames)
            while queue and not reader.done():
                frame = queue.pop(0)
                conn.frames.append(frame)
                asked = answers + 1
                with contextlib.suppress(websockets.ConnectionClosed, OSError):
                    await ws.send(frame.payload())
                    if sentinel_each or not queue:
                        await ws.send(encode_sync_step1(state_vector or b"\x00"))
                if sentinel_each or not queue:
                    await until(partial(answered, asked))
                if reader.done():
                    conn.results.append(str(ws.close_code))
                    break
                conn.results.append("ok")
                if more is not None and len(conn.frames) < FRAMES_PER_CONNECTION:
                    nxt = more()
                    if nxt is not None:
                        queue.append(nxt)
        except TimeoutError:
            conn.results.append("no answer")
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


# ------------------------------------------------------------------------- the oracle


async def fetch(server: ServerProcess, name: str) -> bytes:
    """The server's live document, as a fresh client syncs it. The client keeps deleted
    content: pycrdt's garbage collection writes some documents the fuzz builds into an
    encoding that loads as another document, or not at all (docs/upstream/yrs-gc-encoding.md)."""
    async with YClient.connect(server.ws, name, Doc(skip_gc=True)) as client:
        async with asyncio.timeout(DEADLINE):
            await client.synced.wait()
        return client.doc.get_update()


async def caught_up(client: YClient, live: bytes) -> None:
    """Wait (deadline) until `client` holds what the server's live document holds. A state
    vector is not enough: deletions change none, and a delete-only relay may still be on its
    way when the clocks already match. A deletion the server never relayed fails here."""
    want = yupdate.units(live)
    deadline = time.monotonic() + DEADLINE
    # Polled: a whole-document comparison after every frame would be too slow.
    while yupdate.units(client.doc.get_update()) != want and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)


async def try_fetch(server: ServerProcess, name: str, report: Report, kind: str) -> bytes | None:
    try:
        return await fetch(server, name)
    except (OSError, TimeoutError, websockets.WebSocketException) as exc:
        tail = [line[-200:] for line in server.log if "ERROR" in line or "Error" in line][-4:]
        report.failures.append(Failure(kind, f"a fresh client could not sync: {exc!r}; {tail}"))
        return None


def differences(a: bytes, b: bytes, names: tuple[str, str]) -> str | None:
    ua, ub = yupdate.units(a), yupdate.units(b)
    if ua == ub:
        return None
    found = ua.differences(ub)
    shown = "; ".join(found[:6])
    return (
        f"{names[0]} and {names[1]} differ at {len(found)} places "
        f"({len(ua)} vs {len(ub)} clocks held): {shown}; "
        f"text {text_of(a)[:200]!r} vs {text_of(b)[:200]!r}"
    )


def text_of(update: bytes) -> str:
    doc: Doc[Any] = Doc(skip_gc=True)
    doc.apply_update(update)
    return str(doc.get(FRAGMENT, type=XmlFragment))


def lost_edits(writer_id: int, markers: list[Marker], live: bytes) -> str | None:
    """Each marker must be on the server as typed (or deleted, by anyone but never replaced);
    the ones the writer deleted must be deleted."""
    units = yupdate.units(live)
    bad = []
    for m in markers:
        for i, ch in enumerate(m.text):
            got = units.get((writer_id, m.start + i))
            want = "deleted" if m.deleted else f"s:{ch.encode('utf-16-le').hex()}"
            if got != want and not (got == "deleted" and not m.deleted):
                bad.append(f"{m.text!r}@{m.start + i}: {got}")
                break
    if not bad:
        return None
    return f"{len(bad)} of {len(markers)} honest edits lost or changed: {'; '.join(bad[:5])}"


async def settle_rss(server: ServerProcess, limit: int) -> int:
    """Wait (with a deadline) for RSS to come under `limit`; returns the last reading."""
    proc = psutil.Process(server.pid)
    deadline = time.monotonic() + DEADLINE
    rss = proc.memory_info().rss
    while rss > limit and time.monotonic() < deadline:
        await asyncio.sleep(0.25)  # polling a reading that has no event to wait on
        rss = proc.memory_info().rss
    return rss


async def released(server: ServerProcess, since: int) -> Usage | None:
    """The first memory release the server logs at or after log line `since` (deadline)."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        for line in server.log[since:]:
            match = RELEASE_LINE.search(line)
            if match:
                rss, blocks, malloc, held, held_mib = match.groups()
                return Usage(
                    float(rss),
                    int(blocks),
                    None if malloc is None else float(malloc),
                    int(held or 0),
                    float(held_mib or 0),
                )
        await asyncio.sleep(0.1)  # the log has no event to wait on
    return None


async def usage_after_release(server: ServerProcess, name: str) -> Usage | None:
    """Make the server release memory (a departure does) and read what it holds then."""
    since = len(server.log)
    async with YClient.connect(server.ws, name, Doc()) as client:
        async with asyncio.timeout(DEADLINE):
            await client.synced.wait()
    return await released(server, since)


async def settled_usage(
    server: ServerProcess, name: str, base: Usage | None, doc_bytes: int
) -> Usage | None:
    """What the server holds once it has finished the work the run left (relays, compaction,
    closing handshakes): released again and again until within the bounds, or the deadline."""
    deadline = time.monotonic() + 2 * DEADLINE
    usage = await usage_after_release(server, name)
    while usage_failures(base, usage, doc_bytes) and time.monotonic() < deadline:
        usage = await usage_after_release(server, name)
    return usage


def usage_failures(base: Usage | None, after: Usage | None, doc_bytes: int) -> list[Failure]:
    if base is None or after is None:
        return [Failure("memory-not-released", "the server logged no memory release")]
    failures = []
    if after.blocks > base.blocks + BLOCKS_SLACK + BLOCKS_PER_HELD * after.held:
        failures.append(
            Failure("memory-python-held", f"Python blocks {base.blocks} -> {after.blocks}")
        )
    if base.malloc is not None and after.malloc is not None:
        # Held updates are bytes objects, out of Python's block count: their own size.
        extra = (MALLOC_SLACK + MALLOC_PER_DOC_BYTE * doc_bytes) / (1 << 20) + after.held_mib
        limit = base.malloc + extra
        if after.malloc > limit:
            failures.append(
                Failure("memory-malloc-held", f"malloc {base.malloc} -> {after.malloc} MiB")
            )
    return failures


async def check_end(
    server: ServerProcess,
    name: str,
    writer: Writer,
    report: Report,
    restarts: bool,
    rss_base: int | None,
    base_usage: Usage | None = None,
) -> None:
    """The oracle, once the offenders are done; honest clients still connected (if alive)."""
    fail = report.failures.append
    if not alive(server):
        code = None if server.proc is None else server.proc.returncode
        fail(Failure("server-exited", f"exit status {code}; log tail: {server.log[-8:]}"))
        return
    wclient, reader = writer.client, writer.reader
    for who, client in (("writer", wclient), ("reader", reader)):
        code = closed(client)
        if code is not None:
            kind = "room-failed-1011" if code == 1011 else f"honest-closed-{code}"
            fail(Failure(kind, f"the honest {who} was closed with {code}"))
    if closed(wclient) is None:
        with contextlib.suppress(TimeoutError):  # if closed meanwhile; otherwise found below
            await wclient.roundtrip(DEADLINE)
    if closed(wclient) is None and closed(reader) is None:
        want = wclient.doc.get_state()
        with contextlib.suppress(TimeoutError):
            await reader.wait_until(lambda: reader.doc.get_state() == want, DEADLINE)
    live = await try_fetch(server, name, report, "document-unloadable")
    if live is None:
        return
    for client in (wclient, reader):
        if closed(client) is None:
            await caught_up(client, live)
    written, received = wclient.doc.get_update(), reader.doc.get_update()
    for what, update in (("writer", written), ("reader", received)):
        diff = differences(update, live, (what, "server live"))
        if diff:
            fail(Failure("live-diverged", diff))
    lost = lost_edits(wclient.doc.client_id, writer.markers, live)
    if lost:
        fail(Failure("honest-edit-lost", lost))
    if rss_base is not None:
        after = await settled_usage(server, name, base_usage, len(live))
        report.usage = (base_usage, after)
        report.failures += usage_failures(base_usage, after, len(live))
        limit = rss_base + RSS_SLACK + MALLOC_PER_DOC_BYTE * len(live)
        settled = await settle_rss(server, limit)
        report.rss = (rss_base, max(report.rss[1], settled), settled)
        if settled > limit:
            fail(Failure("rss-not-settled", f"RSS {settled >> 20} MiB > {limit >> 20} MiB"))
    if restarts:
        await restart_checks(server, name, live, report)


async def restart_checks(server: ServerProcess, name: str, live: bytes, report: Report) -> None:
    # Clients are closed by the restarts themselves (an abrupt end is expected here).
    for how in ("kill", "graceful"):
        if how == "kill":
            server.kill()
        else:
            try:
                code = server.stop()
            except subprocess.TimeoutExpired:
                server.kill()
                code = None
            if code != 0:
                why = "did not exit within 20 s" if code is None else f"exit status {code}"
                report.failures.append(Failure("graceful-stop-failed", f"SIGTERM: {why}"))
        server.log.clear()
        server.start()
        reloaded = await try_fetch(server, name, report, f"restart-load-failed-{how}")
        if reloaded is None:
            return
        diff = differences(live, reloaded, ("live", f"reloaded after {how} restart"))
        if diff:
            report.failures.append(Failure(f"restart-diverged-{how}", diff))


def offender_failures(conns: list[Conn], report: Report) -> None:
    for conn in conns:
        for result in conn.results:
            report.codes[result] = report.codes.get(result, 0) + 1
        last = conn.results[-1] if conn.results else "ok"
        if last != "ok" and not (last.isdigit() and int(last) in OFFENDER_CODES):
            kind = "room-failed-1011" if last == "1011" else f"offender-close-{last}"
            kind = kind.replace(" ", "-")
            kinds = {f.kind for f in report.failures}
            if kind not in kinds:
                frame = conn.frames[-1]
                report.failures.append(
                    Failure(kind, f"an offender got {last} after a {frame.kind} frame")
                )


# ------------------------------------------------------------------------- a fuzz run


async def fuzz_document(
    server: ServerProcess, engine: Engine, name: str, frames: int, report: Report
) -> None:
    """Fuzz one document until `frames` are sent or something fatal happens, then check."""
    ids = engine.honest_ids
    async with honest_pair(server, name, ids) as writer:
        reader = writer.reader
        for n in range(60):  # the baseline: the same typing, no offenders
            writer.edit(n)
            await asyncio.sleep(0.015)  # typing pace
        await writer.client.roundtrip(DEADLINE)
        await reader.wait_until(lambda: not reader.pending, DEADLINE)
        report.latency_base += reader.latencies
        reader.latencies = []
        base_usage = await usage_after_release(server, name)
        rss_base = psutil.Process(server.pid).memory_info().rss
        fatal = False
        sent = 0
        conns: list[Conn] = []

        def next_frame() -> Frame | None:
            nonlocal sent, fatal
            if not fatal and (
                server.proc is None
                or server.proc.poll() is not None
                or closed(writer.client) is not None
                or closed(reader) is not None
            ):
                fatal = True
            if fatal or sent >= frames:
                return None
            sent += 1
            return engine.next()

        fuzz_started = time.monotonic()
        offenders = [asyncio.create_task(offend(server, name, next_frame, conns))]
        offenders += [
            asyncio.create_task(offend(server, name, next_frame, conns))
            for _ in range(OFFENDERS - 1)
        ]
        n = 60
        while not all(t.done() for t in offenders):
            if closed(writer.client) is None:
                writer.edit(n)
                n += 1
            await asyncio.wait(offenders, timeout=0.015)  # typing pace
        for task in offenders:
            task.result()  # a harness error must not pass for a server failure
        report.fuzz_seconds += time.monotonic() - fuzz_started
        report.latency_fuzz += reader.latencies
        report.frames += sum(len(c.frames) for c in conns)
        report.conns += conns
        offender_failures(conns, report)
        await check_end(server, name, writer, report, False, rss_base, base_usage)
    if alive(server) and not any(f.kind == "document-unloadable" for f in report.failures):
        live = await try_fetch(server, name, report, "document-unloadable")
        if live is not None:
            await restart_checks(server, name, live, report)


async def run_seed(
    workdir: Path, seed: int, frames: int, minimize_seconds: float = 60.0, keep_going: bool = False
) -> Report:
    """The CI tier's unit: `frames` frames from `seed`. A failing document ends the run, or
    with `keep_going` (the soak) the run goes on with a new document and fresh honest
    clients, so that one seed can find more than one bug."""
    started = time.monotonic()
    engine = Engine(seed)
    report = Report(seed=seed, honest=engine.honest_ids)
    budget = minimize_seconds  # for the whole seed, however many documents fail
    server = ServerProcess(workdir / "fuzz.db", FUZZ_ENV, log_path=workdir / "server.log")
    server.start()
    try:
        part = 0
        while report.frames < frames:
            before = len(report.failures)
            first_conn = len(report.conns)
            if part:
                engine.new_document()
            try:
                await fuzz_document(
                    server, engine, f"fuzz-{seed}-{part}", frames - report.frames, report
                )
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                report.failures.append(Failure("server-unresponsive", hang(server, exc)))
                server.kill()
            part += 1
            report.server_errors += server_errors(server.log)
            server.log.clear()
            if not alive(server):
                server.start()
            new = report.failures[before:]
            if new:
                spent = time.monotonic()
                path = await save_failure(
                    workdir,
                    report.conns[first_conn:],
                    engine.honest_ids,
                    new,
                    f"seed{seed}-doc{part - 1}",
                    budget,
                )
                budget -= time.monotonic() - spent
                if path is not None:
                    report.corpus_files.append(path)
                if not keep_going:
                    break
    finally:
        server.kill()
    report.seconds = time.monotonic() - started
    return report


# ------------------------------------------------------------------------- hexlogs


def write_hexlog(path: Path, conns: list[Conn], honest: tuple[int, int], note: str) -> None:
    lines = [f"# coedit fuzz corpus: honest writer={honest[0]} reader={honest[1]}; {note}"]
    for conn in conns:
        frames = []
        for f in conn.frames:
            if f.text:
                frames.append("T:" + f.data.hex())
            elif f.big:
                frames.append(f"BIG:{f.data.hex()}:{f.big}")
            else:
                frames.append(f.data.hex())
        lines.append(f"{conn.started:.4f}\t{conn.outcome}\t{' '.join(frames)}")
    path.write_text("\n".join(lines) + "\n")


def read_hexlog(path: Path) -> tuple[list[Conn], tuple[int, int]]:
    honest = DEFAULT_HONEST
    conns = []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            fields = dict(w.split("=", 1) for w in line.replace(";", " ").split() if "=" in w)
            if "writer" in fields:
                honest = (int(fields["writer"]), int(fields["reader"]))
            continue
        if not line.strip():
            continue
        started, _, hexes = line.split("\t")
        conn = Conn(float(started))
        for item in hexes.split():
            if item.startswith("T:"):
                conn.frames.append(Frame(bytes.fromhex(item[2:]), "text", text=True))
            elif item.startswith("BIG:"):
                _, head, size = item.split(":")
                conn.frames.append(Frame(bytes.fromhex(head), "oversize", big=int(size)))
            else:
                conn.frames.append(Frame(bytes.fromhex(item), "logged"))
        conns.append(conn)
    return conns, honest


# ------------------------------------------------------------------------- replay


async def replay(
    server: ServerProcess, name: str, conns: list[Conn], honest: tuple[int, int], restarts: bool
) -> Report:
    """Send a hexlog's connections one after another, the honest pair editing in between,
    then check the oracle. Deterministic: every step waits for the server's answer."""
    report = Report(seed=None, honest=honest)
    replayed = []
    async with honest_pair(server, name, honest) as writer:
        for n in range(30):
            writer.edit(n)
        await writer.client.roundtrip(DEADLINE)
        for i, logged in enumerate(conns):
            conn = Conn(logged.started)
            sentinel_each = len(logged.frames) <= FRAMES_PER_CONNECTION
            await run_conn(server, name, conn, list(logged.frames), None, sentinel_each)
            replayed.append(conn)
            if closed(writer.client) is not None or not alive(server):
                break
            if i % 5 == 4:
                writer.edit(30 + i)
                try:
                    await writer.client.roundtrip(DEADLINE)
                except TimeoutError:
                    if closed(writer.client) is None:
                        raise
                    break  # closed meanwhile: check_end reports it
        # Frames may claim the writer's clocks far ahead; its own typing fills them in the
        # fuzz run, so it does here.
        gap = max_honest_clock(conns, honest[0]) - writer.clock()
        if closed(writer.client) is None and gap > 0:
            writer.edit(10_000, filler=min(gap + 1, 20_000))
        report.conns = replayed
        offender_failures(replayed, report)
        await check_end(server, name, writer, report, restarts=False, rss_base=None)
    if (
        restarts
        and alive(server)
        and not any(f.kind == "document-unloadable" for f in report.failures)
    ):
        live = await try_fetch(server, name, report, "document-unloadable")
        if live is not None:
            await restart_checks(server, name, live, report)
    return report


def max_honest_clock(conns: list[Conn], writer_id: int) -> int:
    runs = (run for conn in conns for frame in conn.frames for run in writer_runs(frame, writer_id))
    return max((end for start, end in runs if start < 2**20), default=0)


def writer_runs(frame: Frame, writer_id: int) -> list[tuple[int, int]]:
    """The runs of the writer's clocks (start, end) a sync step 2 or update frame carries
    structs for; none for any other frame, or one that does not parse."""
    if frame.text or frame.data[:2] not in (b"\x00\x01", b"\x00\x02"):
        return []
    with contextlib.suppress(Exception):  # a mutated frame the test's parser cannot read
        update = yupdate.parse(frame.data[2 + varint_len(frame.data, 2) :])
        return [
            (s.clock, s.clock + sum(x.length for x in s.structs))
            for s in update.sections
            if s.client == writer_id
        ]
    return []


def varint_len(data: bytes, pos: int) -> int:
    n = 1
    while pos < len(data) and data[pos] & 0x80:
        pos, n = pos + 1, n + 1
    return n


async def replay_file(workdir: Path, path: Path) -> Report:
    conns, honest = read_hexlog(path)
    # The replay's honest writer confirms each edit with a step 1 at a pace no person types;
    # the step 1 rate limit is not what a replay tests.
    server = ServerProcess(workdir / "replay.db", REPLAY_ENV, log_path=workdir / "server.log")
    server.start()
    try:
        return await replay(server, "corpus", conns, honest, restarts=True)
    finally:
        server.kill()


# ------------------------------------------------------------------------- minimizing


NEEDS_RESTART = ("restart-", "graceful-stop")


async def minimize(
    workdir: Path, conns: list[Conn], honest: tuple[int, int], kind: str, budget: float
) -> tuple[list[Conn], bool]:
    """Drop connections, then frames, while a replay still fails with `kind`.

    Returns (the smallest log found, whether the failure reproduced in a replay at all)."""
    deadline = time.monotonic() + budget
    restarts = kind.startswith(NEEDS_RESTART)
    server = ServerProcess(workdir / "minimize.db", REPLAY_ENV)
    server.start()
    trial = 0

    async def fails(candidate: list[Conn]) -> bool:
        nonlocal trial
        trial += 1
        if server.proc is None or server.proc.poll() is not None:
            server.start()
        try:
            report = await replay(server, f"trial-{trial}", candidate, honest, restarts)
        except (TimeoutError, OSError, websockets.WebSocketException):
            return False
        return any(f.kind == kind for f in report.failures)

    try:
        # Frames the server refused changed nothing but the connection they closed, unless
        # that close is the failure itself: try without them first (much faster to replay).
        kept = [trimmed for c in conns if (trimmed := accepted_frames(c))]
        if await fails(kept):
            conns = kept
        elif time.monotonic() > deadline or not await fails(conns):
            return conns, False
        chunk = max(len(conns) // 2, 1)
        while chunk >= 1 and time.monotonic() < deadline:
            i = 0
            while i < len(conns) and time.monotonic() < deadline:
                candidate = conns[:i] + conns[i + chunk :]
                if candidate and await fails(candidate):
                    conns = candidate
                else:
                    i += chunk
            if chunk == 1:
                break
            chunk //= 2
        for ci in range(len(conns)):
            fi = 0
            while fi < len(conns[ci].frames) > 1 and time.monotonic() < deadline:
                smaller = Conn(
                    conns[ci].started, conns[ci].frames[:fi] + conns[ci].frames[fi + 1 :]
                )
                smaller.results = conns[ci].results[:fi] + conns[ci].results[fi + 1 :]
                candidate = [*conns[:ci], smaller, *conns[ci + 1 :]]
                if await fails(candidate):
                    conns = candidate
                else:
                    fi += 1
        return conns, True
    finally:
        server.kill()


def accepted_frames(conn: Conn) -> Conn | None:
    keep = [i for i, r in enumerate(conn.results) if r == "ok" or not r.isdigit()]
    keep += [i for i, r in enumerate(conn.results) if r.isdigit() and int(r) not in OFFENDER_CODES]
    keep = sorted(set(keep)) if conn.results else list(range(len(conn.frames)))
    if not keep:
        return None
    out = Conn(conn.started, [conn.frames[i] for i in keep])
    out.results = [conn.results[i] if i < len(conn.results) else "ok" for i in keep]
    return out


# The first of these a document shows is what it is saved as: the rest usually follow from it.
SEVERITY = (
    "server-exited",
    "server-unresponsive",
    "room-failed-1011",
    "document-unloadable",
    "restart-load-failed",
    "restart-diverged",
    "graceful-stop-failed",
    "honest-edit-lost",
    "live-diverged",
    "honest-closed",
    "offender-close",
)


def primary(failures: list[Failure]) -> str | None:
    kinds = [f.kind for f in failures if not f.kind.startswith(("rss", "memory"))]
    for prefix in SEVERITY:
        for kind in kinds:
            if kind.startswith(prefix):
                return kind
    return kinds[0] if kinds else None


async def save_failure(
    workdir: Path,
    conns: list[Conn],
    honest: tuple[int, int],
    failures: list[Failure],
    origin: str,
    budget: float,
) -> Path | None:
    """Minimize the document's main failure and write it to the corpus, named after it.

    Memory is measured over a whole run and no small log reproduces it, so it is only reported.
    """
    kind = primary(failures)
    if kind is None or not conns:
        return None
    small, reproduced = (conns, False)
    if budget > 0:
        small, reproduced = await minimize(workdir, conns, honest, kind, budget)
    note = f"{kind}, found by {origin}"
    if reproduced and os.environ.get("COEDIT_FUZZ_WRITE_CORPUS") == "1":
        # The soak writes into the source tree; a CI or test run never does (its finds stay in
        # its own directory, named in the report, to be moved here by hand).
        path = CORPUS / f"{kind}-{origin}.hexlog"
    else:
        # Not (yet) reproduced alone: keep the whole run's log out of the corpus.
        note += " (not reproduced by a sequential replay within the budget; the whole log)"
        path = workdir / f"{kind}-{origin}.hexlog"
    write_hexlog(path, small, honest, note)
    return path
