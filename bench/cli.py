"""`python -m bench [scenario ...] [--runs N] [--json out.json]`: runs scenarios, prints JSON."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import signal
import sys
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .peers import compare as peers
from .proc import (
    OUT,
    ROOT,
    BenchError,
    ensure_node_deps,
    log,
    node_version,
    pin_self,
    placement,
    raise_nofile,
    server_source,
    set_child_nice,
)
from .scenarios import (
    ColdParams,
    Context,
    FanoutParams,
    ManyDocsParams,
    RunFn,
    StormParams,
    cold_load,
    fanout,
    many_docs,
    repeat,
    storm,
)

if TYPE_CHECKING:
    from .append import AppendParams

SCENARIOS = ("fanout", "cold_load", "storm", "many_docs", "append")
NETWORK = frozenset(SCENARIOS) - {"append"}


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from exc
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Coedit benchmark suite: load-tests a real server process and prints JSON.",
    )
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="scenario",
        help=f"any of {', '.join(SCENARIOS)} (default: all, in that order)",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario (median reported)")
    parser.add_argument("--json", type=Path, help="also write the JSON document to this file")
    parser.add_argument("--python", default=sys.executable, help="Python that runs the server")
    parser.add_argument(
        "--server-root",
        type=Path,
        default=ROOT,
        help="directory holding the server package to run (default: this checkout); e.g. a "
        "`git archive` export of a commit, to measure a fixed version",
    )
    parser.add_argument(
        "--keep-files", action="store_true", help="keep the databases under bench/out"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="before each run wait up to this many seconds for the machine to be idle (0: no)",
    )
    parser.add_argument(
        "--max-disturbance",
        type=float,
        default=10.0,
        help="repeat a fanout/storm run in which other processes took more than this "
        "%% of the server's CPU",
    )
    parser.add_argument("--retries", type=int, default=2, help="repeats per disturbed run")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="nice value of the server and load generator (e.g. -10 as root, so that other "
        "work on a shared machine yields to the benchmark)",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the server (repeatable), e.g. COEDIT_SYNCHRONOUS=NORMAL",
    )

    g = parser.add_argument_group("fanout")
    g.add_argument("--clients", type=_int_list, default=[200], help="e.g. 50,100,200,400")
    g.add_argument("--duration", type=float, default=10.0, help="seconds of editing")
    g.add_argument("--rate", type=float, default=2.0, help="edits per second per client")
    g.add_argument("--pad", type=int, default=8, help="characters added after each marker")
    g.add_argument("--straggler", type=float, default=10.0, help="max seconds to wait after")
    g.add_argument(
        "--observers",
        type=int,
        default=0,
        help="clients that time every edit they receive, spread evenly over all clients "
        "(0: all). The others only read their sockets: one load-generator core cannot time "
        "millions of deliveries a second",
    )

    g = parser.add_argument_group("cold_load")
    g.add_argument("--edits", type=int, default=100_000, help="small edits in the document")
    g.add_argument("--updates", type=_int_list, default=[1000], help="stored as N updates")
    g.add_argument(
        "--stop",
        choices=["auto", "term", "kill"],
        default="auto",
        help="stop the writing server with SIGTERM (graceful) or SIGKILL; auto: SIGKILL when "
        "compaction is deferred (a graceful shutdown compacts anyway), else SIGTERM",
    )
    g.add_argument(
        "--compaction",
        choices=["auto", "on", "off"],
        default="auto",
        help="auto: defer compaction (COEDIT_COMPACT_* huge) when updates > 1000",
    )

    g = parser.add_argument_group("storm")
    g.add_argument("--storm-clients", type=int, default=1000)
    g.add_argument("--seed-updates", type=int, default=100, help="document written first")
    g.add_argument("--seed-edits", type=int, default=10, help="small edits per seed update")
    g.add_argument("--storm-timeout", type=float, default=60.0)

    g = parser.add_argument_group("many_docs")
    g.add_argument("--docs", type=int, default=1000)
    g.add_argument("--rounds", type=int, default=3, help="connect/disconnect rounds")
    g.add_argument("--concurrency", type=int, default=100, help="document pairs connecting at once")
    g.add_argument("--unload-grace", type=float, default=1.0, help="COEDIT_UNLOAD_GRACE_SECONDS")

    g = parser.add_argument_group("append")
    g.add_argument("--append-updates", type=int, default=100_000)
    g.add_argument("--producers", type=int, default=10)
    g.add_argument(
        "--window",
        type=_int_list,
        default=[64],
        help="appends each producer keeps in flight; 1 = await each commit (e.g. 1,64)",
    )
    g.add_argument("--synchronous", default="FULL", choices=["OFF", "NORMAL", "FULL", "EXTRA"])
    g.add_argument("--same-doc", action="store_true", help="all producers append to one doc")
    peers.add_arguments(parser)
    return parser


def _env_pairs(items: Sequence[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BenchError(f"--server-env expects KEY=VALUE, got {item!r}")
        env[key] = value
    return env


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo", encoding="utf-8") as f:
            info["mem_total_kb"] = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return info


def chosen_scenarios(args: argparse.Namespace) -> list[str]:
    chosen = list(dict.fromkeys(args.scenarios)) or list(SCENARIOS)
    for name in chosen:
        if name not in SCENARIOS:
            raise BenchError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")
    if args.runs < 1:
        raise BenchError("--runs must be at least 1")
    return chosen


async def run(args: argparse.Namespace) -> dict[str, Any]:
    chosen = chosen_scenarios(args)
    place = placement()
    nofile = raise_nofile()
    meta: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "pinning": place.describe(),
        "nofile_limit": nofile,
        "runs": args.runs,
        "server_env": _env_pairs(args.server_env),
        "server": server_source(args.server_root),
        "nice": args.nice,
    }
    if NETWORK & set(chosen):
        meta["node"] = args.node_version
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    workdir = OUT / f"run-{stamp}-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    meta["workdir"] = str(workdir)
    if nofile < 4096:
        log(f"open-file limit is only {nofile}: storm and many_docs may fail to open sockets")
    # The orchestrator shares the load generator's CPU so that CPU 0 is the server's alone.
    pin_self(place.loadgen)
    ctx = Context(
        workdir,
        place,
        args.python,
        args.keep_files,
        quiet_wait=args.quiet_wait,
        server_env=_env_pairs(args.server_env),
        server_root=args.server_root,
        max_disturbance=args.max_disturbance,
        retries=max(0, args.retries),
    )
    results: dict[str, Any] = {}
    peer_results: dict[str, Any] = {}
    for name in chosen:
        if peers.runs_coedit(args):
            results[name] = await _scenario(name, ctx, args)
        peer_results[name] = await peers.run_peers(name, ctx, args, _scenario)
    document = {"meta": meta, "results": results}
    peers.finish_document(document, peer_results, args)
    return document


def _append_fn(ctx: Context, ap: AppendParams) -> RunFn:
    from .append import append_run

    server_cpus, restore = ctx.placement.server, ctx.placement.loadgen

    def run(i: int) -> Awaitable[dict[str, Any]]:
        db = ctx.workdir / f"append-w{ap.window}-r{i + 1}.db"
        return append_run(ap, db, server_cpus, restore)

    return run


def _fanout_fn(ctx: Context, fp: FanoutParams) -> RunFn:
    return lambda i: fanout(ctx, fp, f"fanout-c{fp.clients}-r{i + 1}")


def _cold_fn(ctx: Context, cp: ColdParams) -> RunFn:
    return lambda i: cold_load(ctx, cp, f"cold-u{cp.updates}-r{i + 1}")


async def _scenario(name: str, ctx: Context, args: argparse.Namespace) -> list[dict[str, Any]]:
    runs: int = args.runs
    out: list[dict[str, Any]] = []
    if name == "fanout":
        for clients in args.clients:
            fp = FanoutParams(
                clients, args.duration, args.rate, args.pad, args.straggler, args.observers
            )
            params: dict[str, Any] = {
                "clients": clients,
                "duration_s": fp.duration,
                "edits_per_s": fp.rate,
            }
            if 0 < args.observers < clients:
                params["observers"] = args.observers
            out.append(await repeat(ctx, name, params, runs, _fanout_fn(ctx, fp)))
    elif name == "cold_load":
        for updates in args.updates:
            cp = ColdParams(args.edits, updates, args.stop, args.compaction)
            params = {
                "edits": cp.edits,
                "updates": updates,
                "stop": cp.stop,
                "compaction": cp.compaction,
            }
            out.append(await repeat(ctx, name, params, runs, _cold_fn(ctx, cp)))
    elif name == "storm":
        sp = StormParams(args.storm_clients, args.seed_updates, args.seed_edits, args.storm_timeout)
        params = {
            "clients": sp.clients,
            "seed_updates": sp.seed_updates,
            "seed_edits": sp.seed_edits,
        }
        out.append(
            await repeat(ctx, name, params, runs, lambda i: storm(ctx, sp, f"storm-r{i + 1}"))
        )
    elif name == "many_docs":
        mp = ManyDocsParams(args.docs, args.rounds, args.concurrency, args.unload_grace)
        params = {"docs": mp.docs, "rounds": mp.rounds, "unload_grace_s": mp.unload_grace}
        out.append(
            await repeat(ctx, name, params, runs, lambda i: many_docs(ctx, mp, f"many-r{i + 1}"))
        )
    elif name == "append":
        from .append import AppendParams

        for window in args.window:
            ap = AppendParams(
                args.append_updates, args.producers, window, args.synchronous, args.same_doc
            )
            params = {
                "updates": ap.updates,
                "producers": ap.producers,
                "window": ap.window,
                "synchronous": ap.synchronous,
                "same_doc": ap.same_doc,
            }
            out.append(await repeat(ctx, name, params, runs, _append_fn(ctx, ap)))
    return out


def _interrupt(signum: int, frame: object) -> None:
    # Turns SIGTERM into the KeyboardInterrupt path: asyncio.run then cancels the running
    # scenario, whose cleanup stops the server and load generator it started.
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    set_child_nice(args.nice)
    args.server_root = args.server_root.resolve()
    if not (args.server_root / "server" / "__main__.py").is_file():
        log(f"error: {args.server_root} holds no server package (server/__main__.py)")
        return 2
    # The append scenario imports the store in-process: from the same tree as the server.
    sys.path.insert(0, str(args.server_root))
    try:
        if NETWORK & set(chosen_scenarios(args)):
            ensure_node_deps()
            args.node_version = node_version()
            peers.ensure_peer_deps(args)
        document = asyncio.run(run(args))
    except BenchError as exc:
        log(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    text = json.dumps(document, indent=2)
    print(text)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
        log(f"wrote {args.json}")
    failed = sum(
        entry.get("runs_failed", 0) for entries in document["results"].values() for entry in entries
    )
    return 1 if failed else 0
