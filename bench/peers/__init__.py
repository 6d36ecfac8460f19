"""Comparison peers: other y-websocket-style servers run through the same scenarios as Coedit.

Each peer is installed by package name, never vendored: the Node peers from
``bench/package.json`` + lock, which they share with the load generator (``npm ci --prefix
bench``; the launchers here find ``bench/node_modules`` as Node walks up from their directory),
the Python peer from the pinned ``bench/peers/requirements.txt`` into its own virtual
environment ``bench/peers/.venv``. ``ensure_deps`` does both on demand.

A launcher per peer (``hocuspocus.mjs``, ``ywebsocket.mjs``, ``pycrdt_ws.py``) listens on
127.0.0.1 on the port it is given (0: the kernel picks; the ready line says which), stores in the
file or directory it is given, answers ``GET /healthz`` with ``{"rooms": N}`` (documents in
memory; what ``many_docs`` polls), and exits 0 on SIGTERM after its store is flushed.
``PeerServer`` starts one like ``proc.Server`` starts Coedit (pinned to the server CPU, same
limits), and ``PeerContext`` makes every scenario use it and frame its load accordingly.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..proc import BENCH, BenchError, Server, ensure_node_deps, log, node_binary
from ..scenarios import Context, RunFiles

PEERS = BENCH / "peers"
VENV = PEERS / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
REQUIREMENTS = PEERS / "requirements.txt"
VENV_STAMP = VENV / ".requirements.sha256"
PEER_READY = re.compile(r"peer (\S+) listening on http://([\d.]+):(\d+)")
COEDIT = "coedit"


@dataclass(frozen=True, slots=True)
class Target:
    """One server the bench can measure, and how."""

    name: str
    title: str
    # "coedit" (the project's own server, proc.Server), "node" or "python" (a launcher here)
    runtime: str
    launcher: str = ""
    # The launcher's storage flag and whether it takes a file or a directory.
    storage_flag: str = "--db"
    storage_is_dir: bool = False
    # What the load generator speaks: "y-websocket" as is, or "hocuspocus" (document-name prefix
    # and Auth handshake, see hocuspocus_framing.mjs).
    protocol: str = "y-websocket"
    # How a client reaches document {doc} (the load generator's docUrl: name URL-encoded).
    url_pattern: str = "ws://127.0.0.1:{port}/ws/{doc}"
    storage: str = ""
    # Packages whose installed versions are recorded in the results.
    packages: tuple[str, ...] = ()
    notes: str = ""

    @property
    def is_peer(self) -> bool:
        return self.runtime != COEDIT

    def loadgen_options(self) -> dict[str, Any]:
        if not self.is_peer:
            return {}
        options: dict[str, Any] = {
            # A peer may send a stored document after its sync step 2 (the y-websocket server
            # does); a cold read then waits for the content itself, not just for step 2.
            "untilContent": True,
        }
        if self.protocol != "y-websocket":
            options["protocol"] = self.protocol
        return options

    def command(self, storage: Path) -> list[str]:
        script = str(PEERS / self.launcher)
        if self.runtime == "node":
            head = [node_binary(), script]
        elif self.runtime == "python":
            head = [str(VENV_PYTHON), script]
        else:
            raise BenchError(f"{self.name} is not a peer")
        return [*head, "--host", "127.0.0.1", "--port", "0", self.storage_flag, str(storage)]


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            COEDIT,
            "Coedit",
            COEDIT,
            url_pattern="ws://127.0.0.1:{port}/ws/{doc}",
            storage="SQLite update log (this repository's server/store)",
        ),
        Target(
            "hocuspocus",
            "Hocuspocus",
            "node",
            launcher="hocuspocus.mjs",
            protocol="hocuspocus",
            # Hocuspocus ignores the path: the document name travels in every message.
            url_pattern="ws://127.0.0.1:{port}/ (document name prefixed to every message)",
            storage="@hocuspocus/extension-sqlite: one row per document, the whole state "
            "re-encoded on every store (debounced 2 s, at most 10 s)",
            packages=("@hocuspocus/server", "@hocuspocus/extension-sqlite", "better-sqlite3"),
            notes="idle timeout raised from 60 s to 10 min (the load clients send no awareness "
            "renewals)",
        ),
        Target(
            "ywebsocket",
            "y-websocket server",
            "node",
            launcher="ywebsocket.mjs",
            storage_flag="--dir",
            storage_is_dir=True,
            # The room name is the whole path after the first "/", not decoded.
            url_pattern="ws://127.0.0.1:{port}/ws/{doc}",
            storage="y-leveldb via YPERSISTENCE=<dir>: every update appended, merged when a "
            "document with more than 500 updates is loaded",
            packages=("@y/websocket-server", "y-leveldb", "leveldown", "ws", "yjs"),
            notes="@y/websocket-server 0.1.1, the last release on yjs 13 with y-leveldb (0.1.5 "
            "moved to yjs 14 pre-releases and dropped the LevelDB persistence); its bin has no "
            "signal handling, the launcher adds a SIGTERM that drains y-leveldb's write queue",
        ),
        Target(
            "pycrdt-ws",
            "pycrdt-websocket",
            "python",
            launcher="pycrdt_ws.py",
            url_pattern="ws://127.0.0.1:{port}/ws/{doc} (room = decoded path)",
            storage="pycrdt-store SQLiteYStore: one row per update in one transaction each, a "
            "checkpoint every 100 updates",
            packages=("pycrdt-websocket", "pycrdt-store", "pycrdt", "uvicorn"),
            notes="served by uvicorn (same version and WebSocket implementation as Coedit); "
            "the glue loads a room from its store before anyone syncs, unloads an empty room "
            "only after its store wrote everything, and drops sends to clients that are gone",
        ),
    )
}


def parse_targets(text: str) -> list[Target]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if names == ["all"]:
        return list(TARGETS.values())
    unknown = [n for n in names if n not in TARGETS]
    if unknown or not names:
        raise BenchError(
            f"unknown target(s) {', '.join(unknown) or text!r}; choose from "
            f"{', '.join(TARGETS)} or all"
        )
    return [TARGETS[n] for n in dict.fromkeys(names)]


# -- installing the peers ---------------------------------------------------------------------


def _run(cmd: list[str], what: str) -> None:
    result = subprocess.run(
        cmd, cwd=BENCH.parent, stdout=sys.stderr, stderr=sys.stderr, check=False
    )
    if result.returncode != 0:
        raise BenchError(f"{what} failed with exit code {result.returncode}")


def ensure_deps(targets: list[Target]) -> None:
    """Install what the chosen peers need when it is missing (or the pins changed)."""
    ensure_node_deps(p for t in targets if t.runtime == "node" for p in t.packages)
    if any(t.runtime == "python" for t in targets):
        wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
        have = VENV_STAMP.read_text(encoding="utf-8").strip() if VENV_STAMP.is_file() else ""
        if not VENV_PYTHON.is_file() or have != wanted:
            log("installing the pycrdt-websocket peer into bench/peers/.venv (requirements.txt)")
            if not VENV_PYTHON.is_file():
                _run([sys.executable, "-m", "venv", str(VENV)], "python -m venv bench/peers/.venv")
            pip = [
                str(VENV_PYTHON),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ]
            _run([*pip, "-r", str(REQUIREMENTS)], "pip install -r bench/peers/requirements.txt")
            VENV_STAMP.write_text(wanted + "\n", encoding="utf-8")


def _resolve(package: str, start: Path) -> Path | None:
    """The manifest of `package` as Node finds it from a file in `start`: the nearest
    node_modules/<package> walking up (bench/ is as far up as the bench installs)."""
    for directory in (start, *start.parents):
        manifest = directory / "node_modules" / package / "package.json"
        if manifest.is_file():
            return manifest
        if directory == BENCH:
            break
    return None


def installed_versions(target: Target) -> dict[str, str | None]:
    """The versions of the target's packages that the peer really loads."""
    versions: dict[str, str | None] = {}
    if target.runtime == "node":
        # One node_modules holds the load generator's packages too, and npm nests a peer's own
        # copy where their versions differ (the y-websocket server's ws 6 beside the load
        # generator's ws 8): a dependency is looked up from the packages listed before it,
        # then from the launcher's directory, as Node resolves it.
        found: list[Path] = []
        for package in target.packages:
            manifest = next(
                (m for d in (*found, PEERS) if (m := _resolve(package, d)) is not None), None
            )
            version = None
            if manifest is not None:
                found.append(manifest.parent)
                with contextlib.suppress(OSError, ValueError):
                    info = json.loads(manifest.read_text(encoding="utf-8"))
                    version = info.get("version") if isinstance(info, dict) else None
            versions[package] = version if isinstance(version, str) else None
    elif target.runtime == "python" and VENV_PYTHON.is_file():
        code = (
            "import importlib.metadata as m, json, sys\n"
            "print(json.dumps({p: m.version(p) for p in sys.argv[1:]}))"
        )
        out = subprocess.run(
            [str(VENV_PYTHON), "-c", code, *target.packages], capture_output=True, text=True
        )
        if out.returncode == 0:
            versions.update(json.loads(out.stdout))
    return versions


def describe(target: Target) -> dict[str, Any]:
    info: dict[str, Any] = {
        "title": target.title,
        "url_pattern": target.url_pattern,
        "protocol": target.protocol,
        "storage": target.storage,
    }
    if target.is_peer:
        info["launcher"] = f"bench/peers/{target.launcher}"
        info["versions"] = installed_versions(target)
    if target.notes:
        info["notes"] = target.notes
    return info


# -- running a peer in the scenarios -----------------------------------------------------------


class PeerServer(Server):
    """A peer's launcher as the server under test: started, sampled and stopped like Coedit's."""

    def __init__(self, target: Target, storage: Path, log_path: Path, **kwargs: Any) -> None:
        super().__init__(storage, log_path, **kwargs)
        self.target = target
        self.name = target.name

    start_timeout = 60.0

    def command(self) -> tuple[list[str], Path]:
        return self.target.command(self.db), BENCH.parent

    def ready_port(self, log_text: str) -> int | None:
        match = PEER_READY.search(log_text)
        return int(match.group(3)) if match else None

    def log_summary(self, limit: int = 12) -> dict[str, object]:
        """Node and Python peers log differently from Coedit: count error-ish lines."""
        lines = self._read_log().splitlines()
        errors = [ln for ln in lines if re.search(r"\b(error|exception)\b", ln, re.IGNORECASE)]
        warnings = [ln for ln in lines if re.search(r"\bwarn(ing)?\b", ln, re.IGNORECASE)]
        tracebacks = sum(1 for ln in lines if "Traceback" in ln)
        shown = [ln if len(ln) <= 300 else ln[:300] + "..." for ln in (errors + warnings)[:limit]]
        return {
            "errors": len(errors),
            "warnings": len(warnings),
            "tracebacks": tracebacks,
            "first": shown,
        }


def storage_path(target: Target, files: RunFiles) -> Path:
    return Path(f"{files.db}.leveldb") if target.storage_is_dir else files.db


@dataclass(slots=True)
class PeerContext(Context):
    """A scenario context whose server is a peer and whose load generator speaks to it."""

    target: Target | None = None

    def _target(self) -> Target:
        if self.target is None:
            raise BenchError("PeerContext without a target")
        return self.target

    def server(self, files: RunFiles, env: dict[str, str] | None = None) -> Server:
        target = self._target()
        return PeerServer(
            target,
            storage_path(target, files),
            files.server_log,
            env={**(self.server_env or {}), **(env or {})},
            cpus=self.placement.server,
        )

    def loadgen_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return {**config, **self._target().loadgen_options()}

    def cleanup(self, files: RunFiles) -> None:
        Context.cleanup(self, files)
        if self.keep_files:
            return
        Path(f"{files.db}-journal").unlink(missing_ok=True)
        if self._target().storage_is_dir:
            shutil.rmtree(storage_path(self._target(), files), ignore_errors=True)


def peer_context(ctx: Context, target: Target) -> PeerContext:
    """``ctx`` for ``target``: the same settings, files in a subdirectory named after it."""
    values: Mapping[str, Any] = {f.name: getattr(ctx, f.name) for f in fields(ctx)}
    peer = PeerContext(**{**values, "workdir": ctx.workdir / target.name}, target=target)
    peer.workdir.mkdir(parents=True, exist_ok=True)
    return peer
