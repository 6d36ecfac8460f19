"""Keydown-to-paint latency in the editor on a large document while another person types.

`python -m bench.typing` starts a real server (tests/live.py) on a fresh SQLite file, seeds a
document of about `--size` bytes of text, and opens it in Chromium. A second person (a YClient
speaking y-websocket) types into the middle of the document a few times a second while the
browser person types at the end. In the page, a keydown (capture phase, on the editor) starts a
measurement; the first change of the editor's DOM after it ends it once the next animation frame
(the one that paints it) has rendered. Prints one JSON document: median, p95 and max per target.

`--baseline DIR` runs the same measurement, in the same run, against another build of the web
app (the `web/dist` of another checkout, e.g. a worktree of main after `npm run build`), served
by a second server, interleaved round by round with this one, and reports the ratio. This
reports; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, async_playwright
from pycrdt import XmlFragment, XmlText

from server.content import FRAGMENT, write_json
from tests.client import YClient
from tests.live import ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
DEADLINE = 120.0

MEASURE_JS = """
() => {
  window.__latencies = [];
  let pending = null;
  document.addEventListener('keydown', (event) => {
    if (!(event.target instanceof Element) || !event.target.closest('.ProseMirror')) return;
    pending = performance.now();
    performance.mark('coedit-keydown');
  }, true);
  const watch = () => {
    const root = document.querySelector('.ProseMirror');
    if (!root) { requestAnimationFrame(watch); return; }
    new MutationObserver(() => {
      if (pending === null) return;
      const start = pending;
      pending = null;
      // The frame's rAF callbacks run before its style, layout and paint; a message posted
      // from one is handled after them: that is when the key has been painted.
      requestAnimationFrame(() => {
        const channel = new MessageChannel();
        channel.port1.onmessage = () => {
          const m = performance.measure('coedit-key-to-paint', { start, end: performance.now() });
          window.__latencies.push(m.duration);
        };
        channel.port2.postMessage(null);
      });
    }).observe(root, { subtree: true, childList: true, characterData: true });
  };
  watch();
}
"""


def paragraphs(size: int) -> dict[str, Any]:
    line = "The quick brown fox jumps over the lazy dog, and the goal is a readable line. " * 3
    count = max(1, size // len(line))
    return {
        "type": "doc",
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": f"{i} {line}"}]}
            for i in range(count)
        ],
    }


@contextlib.contextmanager
def server(tmp: Path, label: str, dist: Path | None) -> Any:
    args = [] if dist is None else ["--web-dist", str(dist)]
    proc = ServerProcess(tmp / f"{label}.db", args=args, log_path=tmp / f"{label}.log")
    proc.start()
    try:
        yield proc
    finally:
        proc.kill()


async def seed(proc: ServerProcess, name: str, size: int) -> None:
    async with YClient.connect(proc.ws, name) as client:
        await asyncio.wait_for(client.synced.wait(), DEADLINE)
        write_json(client.doc, paragraphs(size))
        await client.roundtrip(DEADLINE)


async def remote_typist(proc: ServerProcess, name: str, stop: asyncio.Event, rate: float) -> int:
    """Another person typing into the middle of the document; returns the keys typed."""
    typed = 0
    async with YClient.connect(proc.ws, name) as client:
        await client.set_awareness({"user": {"name": "Bob", "color": "#c0392b"}})
        await asyncio.wait_for(client.synced.wait(), DEADLINE)
        fragment = client.doc.get(FRAGMENT, type=XmlFragment)
        target = fragment.children[len(fragment.children) // 2].children[0]
        assert isinstance(target, XmlText)
        while not stop.is_set():
            target.insert(len(str(target)) // 2, "x")
            typed += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1 / rate)
    return typed


async def open_editor(browser: Browser, proc: ServerProcess, name: str) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    await context.add_init_script("localStorage.setItem('coedit:name', 'Alice');")
    await context.add_init_script(f"({MEASURE_JS})()")
    page = await context.new_page()
    await page.goto(f"{proc.url}/d/{name}", timeout=DEADLINE * 1000)
    await page.wait_for_selector("body[data-sync=synced] .ProseMirror p", timeout=DEADLINE * 1000)
    await page.locator(".ProseMirror").click()
    await page.keyboard.press("Control+End")
    return page


async def type_keys(page: Page, keys: int, interval: float) -> list[float]:
    await page.evaluate("() => { window.__latencies = []; }")
    for i in range(keys):
        await page.keyboard.press("abcdefghij"[i % 10])
        await asyncio.sleep(interval)
    await page.wait_for_function(
        f"() => window.__latencies.length >= {keys}", timeout=DEADLINE * 1000
    )
    found: list[float] = await page.evaluate("() => window.__latencies")
    return found


def hot_functions(profile: dict[str, Any], top: int = 25) -> str:
    """The functions with the most self time in a Chrome CPU profile, as text lines."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    deltas = profile.get("timeDeltas", [])
    self_us: dict[str, float] = {}
    for sample, delta in zip(profile.get("samples", []), deltas, strict=False):
        frame = nodes[sample]["callFrame"]
        url = frame["url"].rsplit("/", 1)[-1]
        key = f"{frame['functionName'] or '(anonymous)'} {url}:{frame['lineNumber']}"
        self_us[key] = self_us.get(key, 0.0) + delta
    ranked = sorted(self_us.items(), key=lambda kv: -kv[1])[:top]
    return "\n".join(f"{us / 1000:9.1f} ms  {key}" for key, us in ranked)


async def start_trace(page: Page) -> tuple[Any, list[dict[str, Any]], asyncio.Event]:
    cdp = await page.context.new_cdp_session(page)
    events: list[dict[str, Any]] = []
    done = asyncio.Event()
    cdp.on("Tracing.dataCollected", lambda params: events.extend(params["value"]))
    cdp.on("Tracing.tracingComplete", lambda _: done.set())
    await cdp.send("Tracing.start", {"categories": "devtools.timeline,blink.user_timing"})
    return cdp, events, done


async def stop_trace(cdp: Any, events: list[dict[str, Any]], done: asyncio.Event) -> str:
    """Total time of the renderer's main-thread work by kind, biggest first, as text lines."""
    await cdp.send("Tracing.end")
    await asyncio.wait_for(done.wait(), DEADLINE)
    totals: dict[str, float] = {}
    for event in events:
        if event.get("ph") == "X" and event.get("name") in TRACE_KINDS:
            totals[event["name"]] = totals.get(event["name"], 0.0) + event.get("dur", 0) / 1000
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])
    return "\n".join(f"{ms:9.1f} ms  {name}" for name, ms in ranked)


TRACE_KINDS = {
    "FunctionCall",
    "EventDispatch",
    "TimerFire",
    "FireAnimationFrame",
    "RunMicrotasks",
    "UpdateLayoutTree",
    "Layout",
    "PrePaint",
    "Paint",
    "Layerize",
    "UpdateLayer",
    "Commit",
    "HitTest",
    "ParseHTML",
    "MajorGC",
    "MinorGC",
    "V8.GC_SCAVENGER",
}


def summary(values: list[float]) -> dict[str, float | int]:
    ordered = sorted(values)
    return {
        "keys": len(ordered),
        "median_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[max(0, round(0.95 * len(ordered)) - 1)], 1),
        "max_ms": round(ordered[-1], 1),
    }


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        executable = str(CHROMIUM) if await asyncio.to_thread(CHROMIUM.exists) else None
        browser = await pw.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            await browser.close()


async def measure(args: argparse.Namespace, baseline: Path | None) -> dict[str, Any]:
    targets: list[tuple[str, Path | None]] = [("this", None)]
    if baseline is not None:
        targets.append(("baseline", baseline))
    results: dict[str, list[float]] = {label: [] for label, _ in targets}
    blocks: dict[str, int] = {}
    remote: dict[str, int] = {label: 0 for label, _ in targets}
    with tempfile.TemporaryDirectory(prefix="coedit-typing-") as tmp, contextlib.ExitStack() as st:
        procs = {label: st.enter_context(server(Path(tmp), label, root)) for label, root in targets}
        async with chromium() as browser:
            pages: dict[str, Page] = {}
            for label, proc in procs.items():
                started = time.monotonic()
                await seed(proc, "big", args.size)
                pages[label] = await open_editor(browser, proc, "big")
                blocks[label] = await pages[label].evaluate(
                    "() => document.querySelector('.ProseMirror').childElementCount"
                )
                print(f"{label}: opened in {time.monotonic() - started:.1f} s", file=sys.stderr)
            for round_ in range(args.rounds):
                for label, proc in procs.items():
                    stop = asyncio.Event()
                    typist = asyncio.create_task(remote_typist(proc, "big", stop, args.remote_rate))
                    cdp = None
                    tracing = None
                    if args.trace:
                        tracing = await start_trace(pages[label])
                    if args.profile:
                        cdp = await pages[label].context.new_cdp_session(pages[label])
                        await cdp.send("Profiler.enable")
                        await cdp.send("Profiler.start")
                    try:
                        found = await type_keys(pages[label], args.keys, args.interval)
                    finally:
                        stop.set()
                        remote[label] += await typist
                    if tracing is not None:
                        print(await stop_trace(*tracing), file=sys.stderr)
                    if cdp is not None:
                        profile = (await cdp.send("Profiler.stop"))["profile"]
                        out = Path(f"{args.profile}-{label}-{round_ + 1}.cpuprofile")
                        await asyncio.to_thread(out.write_text, json.dumps(profile))
                        print(f"profile: {out}", file=sys.stderr)
                        print(hot_functions(profile), file=sys.stderr)
                    results[label].extend(found)
                    print(f"round {round_ + 1} {label}: {summary(found)}", file=sys.stderr)
    report: dict[str, Any] = {
        "size_bytes": args.size,
        "interval_s": args.interval,
        "remote_keys_per_s": args.remote_rate,
        "cpus": os.cpu_count(),
        **{
            label: {**summary(values), "blocks": blocks[label], "remote_keys": remote[label]}
            for label, values in results.items()
        },
    }
    if args.baseline:
        this, base = report["this"], report["baseline"]
        report["ratio_this_over_baseline"] = {
            k: round(this[k] / base[k], 2) for k in ("median_ms", "p95_ms")
        }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.typing", description=__doc__)
    parser.add_argument("--size", type=int, default=1_000_000, help="document text bytes")
    parser.add_argument("--keys", type=int, default=60, help="keys per round and target")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--interval", type=float, default=0.12, help="seconds between keys")
    parser.add_argument("--remote-rate", type=float, default=6.0, help="remote keys per second")
    parser.add_argument("--trace", action="store_true", help="print main-thread time by kind")
    parser.add_argument("--profile", help="write Chrome CPU profiles to PREFIX-<target>-<round>")
    parser.add_argument("--baseline", help="another web/dist to compare with")
    args = parser.parse_args(argv)
    baseline = Path(args.baseline).resolve() if args.baseline else None
    print(json.dumps(asyncio.run(measure(args, baseline)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
