"""The live transcription row: WebSocket sessions against a Deepgram-shaped upstream (``live_upstream.py``,
which answers every audio frame with one ``Results`` message), direct, through the reference's bare
WebSocket relay (``GET /v1/listen``) and through the service (``GET /v1/audio/transcriptions/live``, a
``deepgram`` provider on that upstream, route ``bench-live``).

A session opens the socket (raw 16-bit audio at 16 kHz in the query), sends frames of 100 ms (3,200
bytes) one at a time, each after the transcript of the one before, then ``CloseStream`` and reads to
the close. Figures per target:

- CPU per frame and per session: ``CONC`` sessions at once, back to back, for the row's duration,
  first of ``frames`` frames each, then of one frame each; the target's process tree's CPU over what
  completed. A one-frame session's CPU is the session's cost (handshake, set-up, close, records); the
  difference between the two lengths, over ``frames - 1``, is a frame's.
- Frame to transcript: sessions one at a time, the time from sending a frame to receiving its
  transcript, p50 and p90; "over direct" is the target's p50 minus the upstream's own.

The sessions come from this process (aiohttp), so the rates say as much about the client as about the
target; CPU per frame and per session are the target's own.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from statistics import median, quantiles
from typing import Any

import aiohttp
from harness import BENCH_DIR, StartError, cpu_seconds_between, cpu_ticks, free_port, pinned, wait_http
from rich.console import Console
from rich.table import Table

TARGETS = ("direct", "reference", "service")
CONC = 8
DEFAULT_FRAMES = 50
FRAME = bytes(3200)  # 100 ms of silence, 16-bit mono at 16 kHz: the upstream never decodes it
QUERY = "encoding=linear16&sample_rate=16000"
CLOSE = '{"type":"CloseStream"}'  # Deepgram's word, which the service takes too
LATENCY_SESSIONS = 5
TIMEOUT = 10.0


def urls(base: str, service: bool = False) -> dict[str, str]:
    """The session's URL: the service's live route (model: the bench route), or Deepgram's path."""
    ws = base.replace("http", "ws", 1)
    if service:
        return {"live": f"{ws}/v1/audio/transcriptions/live?model=bench-live&{QUERY}"}
    return {"live": f"{ws}/v1/listen?model=nova-3&{QUERY}"}


async def session(client: aiohttp.ClientSession, url: str, key: str, frames: int) -> list[float]:
    """One whole session; milliseconds from each frame to its transcript."""
    times = []
    headers = {"Authorization": f"Bearer {key}"}
    async with client.ws_connect(url, headers=headers, autoclose=False, receive_timeout=TIMEOUT) as ws:
        for _ in range(frames):
            sent = time.perf_counter()
            await ws.send_bytes(FRAME)
            while True:
                message = await ws.receive()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    raise RuntimeError(f"{url}: {message.type.name} {message.data!r:.200} instead of a transcript")
                if '"transcript"' in message.data:
                    break
            times.append((time.perf_counter() - sent) * 1000)
        await ws.send_str(CLOSE)
        async for _message in ws:  # the final result (and the service's session_end) up to the close
            pass
        await ws.close()
        if ws.close_code != 1000:
            raise RuntimeError(f"{url}: closed with {ws.close_code}")
    return times


async def _load(url: str, key: str, frames: int, seconds: float) -> int:
    """``CONC`` sessions at once, back to back, until ``seconds`` have passed; the sessions completed."""
    deadline = time.monotonic() + seconds
    done = 0

    async def one_after_another(client: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await session(client, url, key, frames)
            done += 1

    async with aiohttp.ClientSession() as client:
        await asyncio.gather(*(one_after_another(client) for _ in range(CONC)))
    return done


def cpu_per_session(opts: Any, target: Any, frames: int) -> tuple[float, float]:
    """(CPU µs per session, sessions per second) at ``CONC`` sessions of ``frames`` frames at once."""
    url, key = target.url_for["live"], target.key
    if opts.warmup:
        asyncio.run(_load(url, key, frames, opts.warmup))
    before, started = cpu_ticks(target.tree()), time.monotonic()
    sessions = asyncio.run(_load(url, key, frames, opts.duration))
    elapsed, after = time.monotonic() - started, cpu_ticks(target.tree())
    return cpu_seconds_between(before, after) / max(sessions, 1) * 1e6, sessions / elapsed


async def _latencies(url: str, key: str, frames: int) -> list[float]:
    async with aiohttp.ClientSession() as client:
        await session(client, url, key, frames)  # unmeasured: connections and the service's caches warm
        times: list[float] = []
        for _ in range(LATENCY_SESSIONS):
            times += await session(client, url, key, frames)
    return times


def measure(opts: Any, target: Any, name: str, frames: int) -> dict:
    row: dict[str, Any] = {"scenario": name, "conc": CONC, "frames": frames, "error": ""}
    times = asyncio.run(_latencies(target.url_for["live"], target.key, frames))
    row["latency_p50_ms"], row["latency_p90_ms"] = median(times), quantiles(times, n=10)[-1]
    long_cpu, row["sessions_per_s"] = cpu_per_session(opts, target, frames)
    short_cpu, _ = cpu_per_session(opts, target, 1)
    row["frames_per_s"] = row["sessions_per_s"] * frames
    row["cpu_us_per_session"] = short_cpu
    row["cpu_us_per_frame"] = max(long_cpu - short_cpu, 0.0) / (frames - 1)
    return row


def run_rows(opts: Any, procs: Any, nginx: Any, started: Callable[..., Any], frames: int = DEFAULT_FRAMES) -> dict:
    """The live row of every target (``started`` is run.py's), with the Deepgram-shaped upstream running."""
    port = free_port()
    cmd = [sys.executable, str(BENCH_DIR / "live_upstream.py"), str(port)]
    upstream = procs.start("live-upstream", pinned(cmd, opts.load_cores))
    rows = []
    try:
        wait_http(upstream, f"http://127.0.0.1:{port}/v1/projects", timeout=20)
        # A work directory of its own: the service gets a fresh data directory, as the table's rows do.
        own = replace(opts, workdir=opts.workdir / "live", live_port=port)
        for name in TARGETS:
            try:
                with started(name, procs, own, nginx, None) as target:
                    # Direct: the upstream's own CPU (the target's processes are nginx's otherwise).
                    target = replace(target, roots=[upstream.popen.pid]) if name == "direct" else target
                    rows.append(measure(opts, target, name, frames))
            except (TimeoutError, StartError, RuntimeError, OSError, aiohttp.ClientError) as exc:
                rows.append({"scenario": name, "conc": CONC, "frames": frames, "error": _first_line(exc)})
            print(f"  live {name:<10} {_progress(rows[-1])}", flush=True)
    except StartError as exc:
        rows = [{"scenario": n, "conc": CONC, "frames": frames, "error": _first_line(exc)} for n in TARGETS]
    finally:
        procs.stop(upstream)
    direct = next((r for r in rows if r["scenario"] == "direct" and not r["error"]), None)
    reference = next((r for r in rows if r["scenario"] == "reference" and not r["error"]), None)
    for row in rows:
        if row["error"]:
            continue
        row["latency_over_direct_ms"] = row["latency_p50_ms"] - direct["latency_p50_ms"] if direct else None
        for cost in ("frame", "session"):
            theirs = reference[f"cpu_us_per_{cost}"] if reference else 0.0
            row[f"{cost}_cpu_vs_reference"] = row[f"cpu_us_per_{cost}"] / theirs if theirs else None
    return {"frames": frames, "frame_bytes": len(FRAME), "conc": CONC, "rows": rows}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _progress(row: dict) -> str:
    if row["error"]:
        return row["error"]
    return (
        f"{row['cpu_us_per_frame']:,.0f} µs CPU/frame  {row['cpu_us_per_session']:,.0f} µs CPU/session  "
        f"frame to transcript p50 {row['latency_p50_ms']:.2f} ms"
    )


def _times(value: float | None, scenario: str) -> str:
    return "—" if value is None or scenario == "direct" else f"{value:.2f}x"


def print_rows(results: dict) -> None:
    table = Table(
        title=f"Live transcription: sessions of {results['frames']} frames of {results['frame_bytes']:,} bytes "
        f"({results['conc']} sessions at once for CPU; frame to transcript: one session at a time)"
    )
    columns = (
        "scenario", "sessions/s", "frames/s", "CPU µs/frame", "vs reference", "CPU µs/session", "vs reference",
        "frame to transcript p50 ms", "p90 ms", "over direct",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for row in results["rows"]:
        name = row["scenario"]
        if row["error"]:
            table.add_row(name, *(["—"] * (len(columns) - 2)), f"[red]{row['error'][:40]}[/]")
            continue
        over = row.get("latency_over_direct_ms")
        table.add_row(
            name,
            f"{row['sessions_per_s']:,.1f}",
            f"{row['frames_per_s']:,.0f}",
            f"{row['cpu_us_per_frame']:,.0f}",
            _times(row.get("frame_cpu_vs_reference"), name),
            f"{row['cpu_us_per_session']:,.0f}",
            _times(row.get("session_cpu_vs_reference"), name),
            f"{row['latency_p50_ms']:.2f}",
            f"{row['latency_p90_ms']:.2f}",
            "—" if over is None or name == "direct" else f"{over:+.2f} ms",
        )
    Console(width=160).print(table)
