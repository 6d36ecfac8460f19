"""The network scenarios: each run starts its own server (CPU 0) and load generator (CPU 1)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from pycrdt import Doc, Text

from .proc import (
    MIB,
    ROOT,
    BenchError,
    Loadgen,
    Placement,
    RssSampler,
    Server,
    Stopped,
    busy_pct,
    cpu_breakdown,
    cpu_snapshot,
    log,
    wait_quiet,
)
from .stats import median_of

TEXT_NAME = "bench"  # the Y.Text every load generator client edits
# The server's defaults (server/config.py); a document with more log rows than this is compacted
# as soon as the row arrives.
DEFAULT_COMPACT_MAX_ROWS = 1000
# Large enough that no threshold is reached while a benchmark runs.
COMPACTION_DEFERRED = {
    "COEDIT_COMPACT_IDLE_SECONDS": "1000000",
    "COEDIT_COMPACT_MAX_ROWS": "1000000000",
    "COEDIT_COMPACT_MAX_BYTES": "1000000000000",
}


@dataclass(frozen=True, slots=True)
class RunFiles:
    db: Path
    server_log: Path
    loadgen_log: Path


@dataclass(slots=True)
class Context:
    """What every run needs: where to put files, CPU placement, which Python runs the server."""

    workdir: Path
    placement: Placement
    python: str
    keep_files: bool
    quiet_wait: float = 0.0
    server_env: dict[str, str] | None = None
    server_root: Path = ROOT
    max_disturbance: float = 10.0
    retries: int = 2

    def files(self, label: str) -> RunFiles:
        return RunFiles(
            db=self.workdir / f"{label}.db",
            server_log=self.workdir / f"{label}.server.log",
            loadgen_log=self.workdir / f"{label}.loadgen.log",
        )

    def server(self, files: RunFiles, env: dict[str, str] | None = None) -> Server:
        return Server(
            files.db,
            files.server_log,
            env={**(self.server_env or {}), **(env or {})},
            python=self.python,
            cpus=self.placement.server,
            root=self.server_root,
        )

    def loadgen_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """A load generator's config for this context's server (peers add their protocol)."""
        return config

    async def loadgen(self, config: dict[str, Any], files: RunFiles) -> Loadgen:
        return await Loadgen.start(
            self.loadgen_config(config), files.loadgen_log, self.placement.loadgen
        )

    def record(self, entry: dict[str, Any]) -> None:
        """Append one run's result to runs.jsonl in the work directory, as soon as it is known."""
        with (self.workdir / "runs.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    def cleanup(self, files: RunFiles) -> None:
        if self.keep_files:
            return
        for suffix in ("", "-wal", "-shm"):
            Path(f"{files.db}{suffix}").unlink(missing_ok=True)


RunFn = Callable[[int], Awaitable[dict[str, Any]]]


async def repeat(
    ctx: Context, name: str, params: dict[str, Any], runs: int, fn: RunFn
) -> dict[str, Any]:
    """Run ``fn`` ``runs`` times; the entry holds the params, the median and every run.

    A run during which other processes took more than ``ctx.max_disturbance`` % of the server's
    CPU is repeated (at most ``ctx.retries`` times per run); the disturbed attempt is kept in
    ``discarded`` and the last attempt counts if none was clean.
    """
    results: list[dict[str, Any]] = []
    discarded: list[dict[str, Any]] = []
    for i in range(runs):
        for attempt in range(ctx.retries + 1):
            busy = await wait_quiet(ctx.quiet_wait) if ctx.quiet_wait > 0 else None
            suffix = f" (retry {attempt})" if attempt else ""
            log(f"{name} {params} run {i + 1}/{runs}{suffix}")
            t0 = time.perf_counter()
            try:
                result = await fn(i)
            except (BenchError, psutil.Error, OSError) as exc:
                # psutil.Error: the server process vanished in the middle of the run.
                log(f"{name} run {i + 1} failed: {exc!r}")
                result = {"error": repr(exc) if not isinstance(exc, BenchError) else str(exc)}
            result["run_wall_s"] = round(time.perf_counter() - t0, 3)
            result["machine_busy_pct_before_run"] = busy
            ctx.record({"scenario": name, "params": params, "run": i + 1, "result": result})
            others = result.get("others_on_server_cpu_pct")
            disturbed = isinstance(others, int | float) and others > ctx.max_disturbance
            result["disturbed"] = disturbed
            if disturbed and attempt < ctx.retries:
                log(f"other processes took {others}% of the server's CPU: repeating the run")
                discarded.append(result)
                continue
            results.append(result)
            break
    ok = [r for r in results if "error" not in r]
    return {
        "params": params,
        "runs_ok": len(ok),
        "runs_failed": len(results) - len(ok),
        "runs_disturbed": sum(1 for r in results if r.get("disturbed")),
        "median": median_of(ok) if ok else None,
        "runs": results,
        "discarded": discarded,
    }


def mb(value: int) -> float:
    return round(value / MIB, 1)


def stop_report(stopped: Stopped) -> dict[str, Any]:
    return {
        "exit_code": stopped.exit_code,
        "seconds": round(stopped.seconds, 3),
        "how": stopped.how,
    }


def machine_load(
    ctx: Context, before: list[Any], after: list[Any], server_cpu: float, window: float
) -> dict[str, Any]:
    """How busy each CPU was during the window, where the server CPU's time went, and how much
    of it processes other than the server took (user + nice + system time beyond the server's
    own): more than a few percent means the numbers are disturbed."""
    busy = busy_pct(before, after)
    out: dict[str, Any] = {"cpu_busy_pct": {f"cpu{i}": v for i, v in enumerate(busy)}}
    cpus = ctx.placement.server
    if cpus is not None and window > 0 and len(cpus) == 1:
        (cpu,) = tuple(cpus)
        if cpu < len(busy):
            parts = cpu_breakdown(before[cpu], after[cpu])
            out["server_cpu_breakdown_pct"] = parts
            processes = parts["user"] + parts["nice"] + parts["system"]
            other = processes - 100.0 * server_cpu / window
            out["others_on_server_cpu_pct"] = round(max(0.0, other), 1)
    return out


class Bystander:
    """A second, tiny load generator: two clients on their own document, one sending an
    awareness update every 5 ms to the other. Awareness is relayed without a database write, so
    its latency shows how long the server's event loop was unavailable to other documents."""

    def __init__(self, ctx: Context, files: RunFiles, server: Server) -> None:
        self._ctx = ctx
        self._files = files
        self._server = server
        self._lg: Loadgen | None = None

    async def __aenter__(self) -> Bystander:
        log_path = self._files.loadgen_log.with_suffix(".bystander.log")
        self._lg = await Loadgen.start(
            self._ctx.loadgen_config(
                {
                    "mode": "bystander",
                    "url": self._server.ws_url,
                    "doc": "bench bystander",
                    "periodMs": 5,
                    "timeoutMs": 30_000,
                    "deadlineMs": 900_000,
                }
            ),
            log_path,
            self._ctx.placement.loadgen,
        )
        await self._lg.expect("ready", timeout=30)
        return self

    async def stop(self) -> dict[str, Any]:
        if self._lg is None:
            raise BenchError("bystander not started")
        await self._lg.send("stop")
        result = await self._lg.finish(timeout=30)
        result.pop("event", None)
        result.pop("mode", None)
        return result

    async def __aexit__(self, *exc: object) -> None:
        if self._lg is not None:
            await self._lg.close()


# -- fanout ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FanoutParams:
    clients: int
    duration: float
    rate: float
    pad: int
    straggler: float
    observers: int = 0  # clients that time deliveries; 0: all of them


async def fanout(ctx: Context, p: FanoutParams, label: str) -> dict[str, Any]:
    files = ctx.files(label)
    server = ctx.server(files)
    await server.start()
    lg: Loadgen | None = None
    stopped: Stopped | None = None
    try:
        lg = await ctx.loadgen(
            {
                "mode": "fanout",
                "url": server.ws_url,
                "doc": f"bench fanout {label}",
                "clients": p.clients,
                "rate": p.rate,
                "duration": p.duration,
                "pad": p.pad,
                "syncTimeoutMs": 60_000,
                "stragglerMs": int(p.straggler * 1000),
                "observers": p.observers,
                "deadlineMs": int((p.duration + p.straggler + 180) * 1000),
            },
            files,
        )
        await lg.expect("measure_start", timeout=90)
        cpu0, t0, sys0 = server.cpu_seconds(), time.perf_counter(), cpu_snapshot()
        async with RssSampler(server) as rss:
            await lg.expect("measure_end", timeout=p.duration + p.straggler + 60)
            cpu1, t1, sys1 = server.cpu_seconds(), time.perf_counter(), cpu_snapshot()
        await lg.expect("holding", timeout=120)
        rss_end = server.rss()
        await lg.send("continue")
        result = await lg.finish(timeout=60)
    finally:
        if lg is not None:
            await lg.close()
        stopped = await server.stop()
    ctx.cleanup(files)
    result.pop("event", None)
    result.pop("mode", None)
    window = t1 - t0
    cpu = cpu1 - cpu0
    return {
        "clients": p.clients,
        "expected_deliveries": result.pop("expected_deliveries"),
        "delivered": result.pop("delivered"),
        "delivered_pct": result.pop("delivered_pct"),
        "latency_ms": result.pop("latency_ms"),
        "server_cpu_s": round(cpu, 3),
        "server_cpu_pct_of_one_core": round(100 * cpu / window, 1) if window > 0 else None,
        "server_rss_mb": mb(rss_end),
        "server_rss_peak_mb": mb(max(rss.peak, rss_end)),
        "measured_window_s": round(window, 3),
        **machine_load(ctx, sys0, sys1, cpu, window),
        **result,
        "server_stop": stop_report(stopped),
        "server_log": server.log_summary(),
    }


# -- cold load -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColdParams:
    edits: int
    updates: int
    # How the writing server is stopped: "term", "kill", or "auto" (SIGKILL when compaction is
    # deferred, because a graceful shutdown compacts every loaded document whatever the
    # COEDIT_COMPACT_* settings say; SIGTERM otherwise).
    stop: str
    compaction: str  # "auto" (deferred when updates > 1000), "on" (server defaults), "off"


def stored_state(db: Path, name: str) -> dict[str, Any]:
    """What the database holds for ``name``: snapshot size and log rows (read-only)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return {"error": str(exc)}
    try:
        row = conn.execute(
            "SELECT id, snapshot_bytes, log_rows, log_bytes FROM documents WHERE name = ?",
            (name,),
        ).fetchone()
        if row is None:
            return {"error": "document row missing"}
        counted = conn.execute(
            "SELECT count(*) FROM updates WHERE doc_id = ?", (row[0],)
        ).fetchone()
        return {
            "snapshot_bytes": row[1],
            "log_rows": row[2],
            "log_rows_counted": counted[0] if counted else None,
            "log_bytes": row[3],
        }
    except sqlite3.Error as exc:
        return {"error": f"cannot read the store's tables (schema changed?): {exc}"}
    finally:
        conn.close()


def pycrdt_apply(payload_file: Path, length: int, sha256: str) -> dict[str, Any]:
    payload = payload_file.read_bytes()
    doc: Doc[Any] = Doc()
    t0 = time.perf_counter()
    doc.apply_update(payload)
    t1 = time.perf_counter()
    text = str(doc.get(TEXT_NAME, type=Text))
    ok = len(text) == length and hashlib.sha256(text.encode()).hexdigest() == sha256
    return {"apply_ms": round((t1 - t0) * 1000, 3), "text_ok": ok}


async def cold_load(ctx: Context, p: ColdParams, label: str) -> dict[str, Any]:
    files = ctx.files(label)
    defer = p.compaction == "off" or (
        p.compaction == "auto" and p.updates > DEFAULT_COMPACT_MAX_ROWS
    )
    env = dict(COMPACTION_DEFERRED) if defer else {}
    stop = p.stop if p.stop != "auto" else ("kill" if defer else "term")
    per_update = max(1, p.edits // p.updates)
    name = f"bench cold {label}"

    writer = ctx.server(files, env)
    await writer.start()
    lg: Loadgen | None = None
    try:
        lg = await ctx.loadgen(
            {
                "mode": "cold_write",
                "url": writer.ws_url,
                "doc": name,
                "updates": p.updates,
                "editsPerUpdate": per_update,
                "seed": 1,
                "timeoutMs": 240_000,
                "deadlineMs": 300_000,
            },
            files,
        )
        cpu0 = writer.cpu_seconds()
        write = await lg.finish(timeout=300)
        write_cpu = writer.cpu_seconds() - cpu0
        write_rss = writer.rss()
    finally:
        if lg is not None:
            await lg.close()
        stopped = await writer.stop(stop)
    stored = stored_state(files.db, name)

    reader = ctx.server(files, env)
    await reader.start()
    payload_file = files.db.with_suffix(".step2.bin")
    lg = None
    try:
        async with Bystander(ctx, files, reader) as bystander:
            rss0, cpu0 = reader.rss(), reader.cpu_seconds()
            lg = await ctx.loadgen(
                {
                    "mode": "cold_read",
                    "url": reader.ws_url,
                    "doc": name,
                    "expectLength": write["text_length"],
                    "expectSha256": write["text_sha256"],
                    "payloadFile": str(payload_file),
                    "timeoutMs": 120_000,
                    "deadlineMs": 180_000,
                },
                files,
            )
            read = await lg.finish(timeout=180)
            load_cpu = reader.cpu_seconds() - cpu0
            rss1 = reader.rss()
            stalls = await bystander.stop()
    finally:
        if lg is not None:
            await lg.close()
        reader_stopped = await reader.stop()
    py = pycrdt_apply(payload_file, write["text_length"], write["text_sha256"])
    payload_file.unlink(missing_ok=True)
    ctx.cleanup(files)
    wanted_rows = p.updates if defer else None
    return {
        "edits": p.updates * per_update,
        "updates": p.updates,
        "compaction": "deferred (COEDIT_COMPACT_* set huge)" if defer else "server defaults",
        "stored_at_load": stored,
        "stored_as_requested": (
            None if wanted_rows is None else stored.get("log_rows_counted") == wanted_rows
        ),
        "fully_synced_ms": round(read["fully_synced_ms"], 3),
        "open_ms": round(read["open_ms"], 3),
        "step2_received_ms": round(read["step2_received_ms"], 3),
        "apply_ms_yjs_node": round(read["apply_ms_yjs"], 3),
        "apply_ms_pycrdt": py["apply_ms"],
        "step2_bytes": read["step2_bytes"],
        "text_length": read["text_length"],
        "text_ok_yjs": read["text_ok"],
        "text_ok_pycrdt": py["text_ok"],
        "bystander_during_load": stalls,
        "server_cpu_s_for_load": round(load_cpu, 3),
        "server_rss_mb_before_load": mb(rss0),
        "server_rss_mb_after_load": mb(rss1),
        "server_startup_s": round(reader.started_s, 3),
        "write": {
            "update_bytes": write["update_bytes"],
            "send_s": round(write["send_s"], 3),
            "durable_s": round(write["durable_s"], 3),
            "updates_per_s": round(p.updates / write["durable_s"], 1),
            "server_cpu_s": round(write_cpu, 3),
            "server_rss_mb": mb(write_rss),
            "unexpected_closes": write["unexpected_closes"],
        },
        "writer_stop": stop_report(stopped),
        "reader_stop": stop_report(reader_stopped),
        "server_log_writer": writer.log_summary(),
    }


# -- storm -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StormParams:
    clients: int
    seed_updates: int
    seed_edits: int
    timeout: float


async def storm(ctx: Context, p: StormParams, label: str) -> dict[str, Any]:
    files = ctx.files(label)
    server = ctx.server(files)
    await server.start()
    lg: Loadgen | None = None
    try:
        lg = await ctx.loadgen(
            {
                "mode": "storm",
                "url": server.ws_url,
                "doc": f"bench storm {label}",
                "clients": p.clients,
                "seedUpdates": p.seed_updates,
                "seedEdits": p.seed_edits,
                "timeoutMs": int(p.timeout * 1000),
                "deadlineMs": int((p.timeout * 2 + 120) * 1000),
            },
            files,
        )
        await lg.expect("seeded", timeout=p.timeout + 60)
        async with Bystander(ctx, files, server) as bystander:
            await lg.send("continue")
            await lg.expect("measure_start", timeout=30)
            cpu0, t0, sys0 = server.cpu_seconds(), time.perf_counter(), cpu_snapshot()
            async with RssSampler(server) as rss:
                await lg.expect("measure_end", timeout=p.timeout + 60)
                cpu1, t1, sys1 = server.cpu_seconds(), time.perf_counter(), cpu_snapshot()
            stalls = await bystander.stop()
        await lg.expect("holding", timeout=60)
        rss_synced = server.rss()
        fds = server.open_fds()
        await lg.send("continue")
        result = await lg.finish(timeout=60)
    finally:
        if lg is not None:
            await lg.close()
        stopped = await server.stop()
    ctx.cleanup(files)
    result.pop("event", None)
    result.pop("mode", None)
    return {
        "clients": p.clients,
        "time_to_all_synced_s": result.pop("time_to_all_synced_s"),
        "per_client_sync_ms": result.pop("per_client_sync_ms"),
        "failures": result.pop("failures"),
        "server_cpu_s": round(cpu1 - cpu0, 3),
        "server_rss_mb": mb(rss_synced),
        "server_rss_peak_mb": mb(rss.peak),
        "server_open_fds": fds,
        "bystander": stalls,
        **machine_load(ctx, sys0, sys1, cpu1 - cpu0, t1 - t0),
        **result,
        "server_stop": stop_report(stopped),
        "server_log": server.log_summary(),
    }


# -- many documents --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ManyDocsParams:
    docs: int
    rounds: int
    concurrency: int
    unload_grace: float


async def _rooms(http: httpx.AsyncClient) -> int | None:
    try:
        response = await http.get("/healthz")
        value = response.json().get("rooms")
    except (httpx.HTTPError, ValueError):
        return None
    return value if isinstance(value, int) else None


async def _wait_rooms(http: httpx.AsyncClient, target: int, timeout: float) -> float | None:
    """Seconds until /healthz reports at most ``target`` live rooms, or None on timeout."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        rooms = await _rooms(http)
        if rooms is not None and rooms <= target:
            return time.perf_counter() - t0
        await asyncio.sleep(0.1)
    return None


async def many_docs(ctx: Context, p: ManyDocsParams, label: str) -> dict[str, Any]:
    files = ctx.files(label)
    server = ctx.server(files, {"COEDIT_UNLOAD_GRACE_SECONDS": str(p.unload_grace)})
    await server.start()
    lg: Loadgen | None = None
    rounds: list[dict[str, Any]] = []
    try:
        await asyncio.sleep(0.5)
        rss_baseline = server.rss()
        lg = await ctx.loadgen(
            {
                "mode": "many_docs",
                "url": server.ws_url,
                "prefix": f"bench many {label}",
                "docs": p.docs,
                "rounds": p.rounds,
                "concurrency": p.concurrency,
                "pairTimeoutMs": 30_000,
                "timeoutMs": 120_000,
                "deadlineMs": 600_000,
            },
            files,
        )
        async with httpx.AsyncClient(base_url=server.http_url, timeout=5.0) as http:
            for r in range(p.rounds):
                await lg.expect("all_synced", timeout=150)
                measured: dict[str, Any] = {
                    "server_rss_mb_synced": mb(server.rss()),
                    "rooms_synced": await _rooms(http),
                }
                await lg.send("continue")
                await lg.expect("closed", timeout=60)
                unload_s = await _wait_rooms(http, 0, timeout=p.unload_grace + 60)
                measured["rooms_unloaded_after_s"] = (
                    round(unload_s, 3) if unload_s is not None else None
                )
                measured["rooms_left"] = await _rooms(http)
                await asyncio.sleep(1.0)  # let the last compactions and frees settle
                measured["server_rss_mb_unloaded"] = mb(server.rss())
                measured["server_threads"] = server.threads()
                rounds.append(measured)
                await lg.send("continue" if r + 1 < p.rounds else "exit")
            result = await lg.finish(timeout=60)
    finally:
        if lg is not None:
            await lg.close()
        stopped = await server.stop()
    ctx.cleanup(files)
    per_round = result.get("rounds", [])
    merged = []
    for i, measured in enumerate(rounds):
        info = per_round[i] if i < len(per_round) else {}
        merged.append({**measured, **info})
    out: dict[str, Any] = {"docs": p.docs, "server_rss_mb_baseline": mb(rss_baseline)}
    for i, entry in enumerate(merged):
        out[f"round{i + 1}"] = entry
    out["server_stop"] = stop_report(stopped)
    out["server_log"] = server.log_summary()
    return out
