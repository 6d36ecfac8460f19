"""Child processes of the benchmark: the Coedit server under test and the Node load generator.

Only processes started here are ever signalled, always by their own PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from tests.live import READY, serve_argv

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
LOADGEN = BENCH / "loadgen.mjs"
NODE_MODULES = BENCH / "node_modules"
# What loadgen.mjs imports; the peers add theirs (bench/peers, Target.packages).
LOADGEN_PACKAGES = ("ws", "yjs", "lib0", "y-protocols")
NOFILE_TARGET = 65536
MIB = 1024 * 1024


class BenchError(Exception):
    """A benchmark run could not be completed; the message says why."""


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# -- CPU placement and limits ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Placement:
    """Which CPUs the server and the load generator (and this orchestrator) run on."""

    server: frozenset[int] | None
    loadgen: frozenset[int] | None

    def describe(self) -> dict[str, object]:
        def show(cpus: frozenset[int] | None) -> object:
            return sorted(cpus) if cpus is not None else "unpinned"

        return {"server": show(self.server), "loadgen_and_orchestrator": show(self.loadgen)}


def placement() -> Placement:
    """Server on CPU 0, load generator on CPU 1, when the machine has both."""
    if not hasattr(os, "sched_setaffinity"):
        return Placement(None, None)
    available = os.sched_getaffinity(0)
    if {0, 1} <= available:
        return Placement(frozenset({0}), frozenset({1}))
    log(f"only CPUs {sorted(available)} are available: processes are not pinned")
    return Placement(None, None)


def raise_nofile(target: int = NOFILE_TARGET) -> int:
    """Raise this process's open-file soft limit towards ``target``; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = target if hard == resource.RLIM_INFINITY else min(target, hard)
    if soft == resource.RLIM_INFINITY or soft >= want:
        return soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def nofile_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Have the kernel send SIGTERM to this (child) process when the orchestrator dies, so that
    no server or load generator outlives an orchestrator killed hard."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


# Nice value for the server and load generator processes (set by --nice); negative values need
# root and make other work on the machine yield to the benchmark.
CHILD_NICE = 0


def child_setup(cpus: frozenset[int] | None) -> Callable[[], None]:
    """A preexec_fn: raise the fd limit, pin the child and set its priority before it execs, so
    that every thread it ever starts inherits all three."""
    nice = CHILD_NICE

    def setup() -> None:
        _die_with_parent()
        raise_nofile()
        if cpus is not None:
            os.sched_setaffinity(0, cpus)
        if nice:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, 0, nice)

    return setup


def set_child_nice(nice: int) -> None:
    global CHILD_NICE
    CHILD_NICE = nice


def pin_self(cpus: frozenset[int] | None) -> None:
    if cpus is not None:
        os.sched_setaffinity(0, cpus)


def server_source(root: Path) -> dict[str, object]:
    """Which server code runs: the git commit of ``root`` and its uncommitted server changes."""
    info: dict[str, object] = {"root": str(root)}
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True
        )
        if head.returncode == 0:
            info["commit"] = head.stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(root), "status", "--porcelain", "--", "server"],
                capture_output=True,
                text=True,
            )
            info["uncommitted_server_files"] = len(dirty.stdout.splitlines())
    except OSError:
        pass
    marker = root / "SOURCE_COMMIT"
    if marker.is_file():
        info["commit"] = marker.read_text(encoding="utf-8").strip()
    return info


# -- Node dependencies -----------------------------------------------------------------------


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        raise BenchError("`node` (Node.js 20+) is not on PATH; the load generator needs it")
    return node


def node_version() -> str:
    out = subprocess.run([node_binary(), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def ensure_node_deps(packages: Iterable[str] = LOADGEN_PACKAGES) -> None:
    """Run `npm ci --prefix bench` when bench/node_modules lacks any of `packages`.

    The load generator and the Node peers share one package.json and lock: one install gives
    both, whichever asks first."""
    missing = sorted(p for p in packages if not (NODE_MODULES / p).is_dir())
    if not missing:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise BenchError("bench/node_modules is missing and `npm` is not on PATH")
    log(
        f"bench/node_modules lacks {', '.join(missing)}: running `npm ci --prefix bench` "
        "(pinned in bench/package-lock.json; better-sqlite3 may compile, about a minute)"
    )
    cmd = [npm, "ci", "--prefix", str(BENCH), "--no-audit", "--no-fund"]
    result = subprocess.run(cmd, cwd=ROOT, stdout=sys.stderr, stderr=sys.stderr, check=False)
    if result.returncode != 0:
        raise BenchError(f"`npm ci --prefix bench` failed with exit code {result.returncode}")


# -- the server under test -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stopped:
    exit_code: int | None
    seconds: float
    how: str  # "term", "kill" (asked for) or "term+kill" (did not stop in time)


class Server:
    """One `python -m server serve` child on 127.0.0.1 with a port picked by the kernel."""

    def __init__(
        self,
        db: Path,
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        python: str = sys.executable,
        cpus: frozenset[int] | None = None,
        root: Path = ROOT,
    ) -> None:
        self.root = root
        self.db = db
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.python = python
        self.cpus = cpus
        self.port = 0
        self.started_s = 0.0
        self._proc: asyncio.subprocess.Process | None = None
        self._ps: psutil.Process | None = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise BenchError("server is not running")
        return self._proc.pid

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # What start() runs and how it learns the port; a peer's launcher overrides these.
    name = "server"
    start_timeout = 30.0

    def command(self) -> tuple[list[str], Path]:
        """The argv to run and its working directory: the tests' own (tests.live)."""
        return serve_argv(self.db, python=self.python), self.root

    def ready_port(self, log_text: str) -> int | None:
        """The port once the log says the server listens, else None."""
        match = READY.search(log_text)
        return int(match.group(3)) if match else None

    async def start(self, timeout: float | None = None) -> None:
        argv, cwd = self.command()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        t0 = time.perf_counter()
        with self.log_path.open("ab") as sink:
            self._proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=cwd,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=sink,
                stderr=sink,
                preexec_fn=child_setup(self.cpus),
            )
        proc = self._proc
        deadline = t0 + (self.start_timeout if timeout is None else timeout)
        while True:
            text = self._read_log(offset)
            port = self.ready_port(text)
            if port is not None:
                self.port = port
                break
            if proc.returncode is not None:
                raise BenchError(f"{self.name} exited with {proc.returncode}:\n{text[-3000:]}")
            if time.perf_counter() > deadline:
                await self.kill()
                raise BenchError(f"{self.name} did not start in time:\n{text[-3000:]}")
            await asyncio.sleep(0.02)
        self.started_s = time.perf_counter() - t0
        self._ps = psutil.Process(proc.pid)

    def _read_log(self, offset: int = 0) -> str:
        try:
            with self.log_path.open("rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def ps(self) -> psutil.Process:
        if self._ps is None:
            raise BenchError("server is not running")
        return self._ps

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process (all its threads) so far."""
        times = self.ps.cpu_times()
        return float(times.user + times.system)

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def threads(self) -> int:
        return int(self.ps.num_threads())

    def open_fds(self) -> int:
        return int(self.ps.num_fds())

    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def stop(self, how: str = "term", timeout: float = 60.0) -> Stopped:
        """SIGTERM (graceful) or SIGKILL (a crash); waits, bounded, for the exit."""
        proc = self._proc
        if proc is None:
            raise BenchError("server was never started")
        t0 = time.perf_counter()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL if how == "kill" else signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            log(f"server {proc.pid} did not exit within {timeout} s of SIGTERM: killing it")
            await self.kill()
            how = "term+kill"
        return Stopped(proc.returncode, time.perf_counter() - t0, how)

    async def kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 10)

    def log_summary(self, limit: int = 12) -> dict[str, object]:
        """Counts of warning/error lines in the server's log and the first few of them."""
        lines = self._read_log().splitlines()
        errors = [ln for ln in lines if " ERROR " in ln or " CRITICAL " in ln]
        warnings = [ln for ln in lines if " WARNING " in ln]
        tracebacks = sum(1 for ln in lines if ln.startswith("Traceback"))
        shown = [_clip(ln) for ln in (errors + warnings)[:limit]]
        return {
            "errors": len(errors),
            "warnings": len(warnings),
            "tracebacks": tracebacks,
            "first": shown,
        }


def _clip(line: str, width: int = 300) -> str:
    return line if len(line) <= width else line[:width] + "..."


class RssSampler:
    """Samples a server's RSS every ``period`` seconds while running; keeps the peak."""

    def __init__(self, server: Server, period: float = 0.1) -> None:
        self._server = server
        self._period = period
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RssSampler:
        self.peak = self._server.rss()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(psutil.Error):
            self.peak = max(self.peak, self._server.rss())

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self._server.rss())
            await asyncio.sleep(self._period)


# -- what else is running on the machine -----------------------------------------------------


def cpu_snapshot() -> list[Any]:
    """Per-CPU time counters of the whole machine."""
    return list(psutil.cpu_times(percpu=True))


def busy_pct(before: list[Any], after: list[Any]) -> list[float]:
    """Per-CPU busy percentage between two snapshots (everything but idle and iowait)."""
    out: list[float] = []
    for b, a in zip(before, after, strict=True):
        parts = cpu_breakdown(b, a)
        out.append(round(100.0 - parts["idle"] - parts["iowait"], 1))
    return out


_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def cpu_breakdown(before: Any, after: Any) -> dict[str, float]:
    """Where one CPU's time went between two snapshots, in percent (guest time is already part
    of user time, so it is not counted twice)."""
    deltas = {f: getattr(after, f, 0.0) - getattr(before, f, 0.0) for f in _FIELDS}
    total = sum(deltas.values())
    if total <= 0:
        return dict.fromkeys(_FIELDS, 0.0)
    return {f: round(100.0 * v / total, 1) for f, v in deltas.items()}


async def wait_quiet(max_wait: float, threshold: float = 25.0) -> float:
    """Wait (at most ``max_wait`` s) until the machine's CPUs are on average less than
    ``threshold`` % busy over one second; returns the last measured average."""
    t0 = time.perf_counter()
    last = 0.0
    while True:
        before = cpu_snapshot()
        await asyncio.sleep(1.0)
        per_cpu = busy_pct(before, cpu_snapshot())
        last = sum(per_cpu) / len(per_cpu) if per_cpu else 0.0
        if last < threshold or time.perf_counter() - t0 >= max_wait:
            if last >= threshold:
                log(f"machine still {last:.0f}% busy after {max_wait:.0f} s; running anyway")
            return round(last, 1)


# -- the Node load generator ----------------------------------------------------------------


class LoadgenError(BenchError):
    """The load generator reported an error or misbehaved."""


class Loadgen:
    """`node bench/loadgen.mjs CONFIG`: JSON events on stdout, commands on stdin."""

    def __init__(self, proc: asyncio.subprocess.Process, log_path: Path) -> None:
        self._proc = proc
        self.log_path = log_path
        self.events: list[dict[str, Any]] = []

    @classmethod
    async def start(
        cls, config: Mapping[str, object], log_path: Path, cpus: frozenset[int] | None
    ) -> Loadgen:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as sink:
            proc = await asyncio.create_subprocess_exec(
                node_binary(),
                str(LOADGEN),
                json.dumps(dict(config)),
                cwd=BENCH,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=sink,
                preexec_fn=child_setup(cpus),
                limit=16 * MIB,
            )
        return cls(proc, log_path)

    async def event(self, timeout: float) -> dict[str, Any]:
        stdout = self._proc.stdout
        if stdout is None:
            raise LoadgenError("load generator has no stdout pipe")
        try:
            line = await asyncio.wait_for(stdout.readline(), timeout)
        except TimeoutError as exc:
            raise LoadgenError(f"load generator said nothing for {timeout} s") from exc
        if not line:
            code = await self._proc.wait()
            raise LoadgenError(f"load generator exited ({code}) early; see {self.log_path}")
        try:
            event: dict[str, Any] = json.loads(line)
        except ValueError as exc:
            raise LoadgenError(f"load generator printed non-JSON: {line[:200]!r}") from exc
        if event.get("event") == "error":
            raise LoadgenError(f"load generator failed: {event.get('message')}")
        self.events.append(event)
        return event

    async def expect(self, name: str, timeout: float) -> dict[str, Any]:
        event = await self.event(timeout)
        if event.get("event") != name:
            raise LoadgenError(f"expected load generator event {name!r}, got {event!r}")
        return event

    async def send(self, line: str) -> None:
        stdin = self._proc.stdin
        if stdin is None:
            raise LoadgenError("load generator has no stdin pipe")
        stdin.write(line.encode() + b"\n")
        await stdin.drain()

    async def finish(self, timeout: float) -> dict[str, Any]:
        """Wait for the result line and the process's exit."""
        result = await self.expect("result", timeout)
        try:
            await asyncio.wait_for(self._proc.wait(), 10)
        except TimeoutError:
            self.kill()
        return result

    def kill(self) -> None:
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()

    async def close(self) -> None:
        """Make sure the process is gone (killed by its PID if still running)."""
        if self._proc.returncode is None:
            self.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._proc.wait(), 10)
