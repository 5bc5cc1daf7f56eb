"""The synthesis row: a streamed 500 KB audio answer from nginx, direct, through the reference and
through the service (``POST /v1/audio/speech``, an ``openai`` provider on nginx).

Two figures per target. CPU per request: wrk at c=16 flat out, the target's process tree's CPU over
the requests it completed. Time to the first audio byte: requests one at a time from this process
(``http.client``, one keep-alive connection), from sending the request to the body's first byte, at
full speed and from an nginx location paced to 4 MB/s (a vendor producing audio over time: about
125 ms for the whole answer), where the time to the last byte is shown beside it, so an answer held
back until it is complete would show as a first byte as late as the last. "over direct" is the
target's median minus nginx's own.
"""

from __future__ import annotations

import http.client
import json
import math
import struct
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from statistics import median, quantiles
from typing import Any
from urllib.parse import urlsplit

from harness import BENCH_DIR, StartError, cpu_seconds_between, cpu_ticks, http_post
from rich.console import Console
from rich.table import Table

AUDIO_BYTES = 500 * 1024
RATE = 24_000
TARGETS = ("direct", "reference", "service")
KINDS = ("audio", "audio-paced")  # the body kinds run.py maps to URLs and request files
CONC = 16
TTFB_WARMUP, TTFB_REQUESTS = 10, 100


def urls(base: str, service: bool = False) -> dict[str, str]:
    """Where each audio body kind is posted: nginx's locations (direct, through the reference), or the
    service's one route (the request's model names the provider instance of each location)."""
    if service:
        return {kind: f"{base}/v1/audio/speech" for kind in KINDS}
    return {kind: f"{base}/{kind}/v1/audio/speech" for kind in KINDS}


def request_file(kind: str) -> Path:
    return BENCH_DIR / "fixtures" / ("speech_request_paced.json" if kind == "audio-paced" else "speech_request.json")


def wav(size: int = AUDIO_BYTES) -> bytes:
    """A WAV file of ``size`` bytes: a tone, 16-bit mono at 24 kHz (about 10.7 s for 500 KB)."""
    count = (size - 44) // 2
    step = 2 * math.pi * 440 / RATE
    samples = struct.pack(f"<{count}h", *(int(6000 * math.sin(step * i)) for i in range(count)))
    header = b"RIFF" + struct.pack("<I", 36 + 2 * count) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, RATE, RATE * 2, 2, 16) + b"data" + struct.pack("<I", 2 * count)
    return header + samples


def write_answers(nginx_prefix: Path) -> None:
    """nginx's answers: the audio at both locations, and the models list that health probes and the
    service's live model lists ask for (naming the model the requests ask for, as OpenAI's does)."""
    audio = wav()
    models = {"object": "list", "data": [{"id": "tts-1", "object": "model", "created": 1, "owned_by": "system"}]}
    for location in KINDS:
        api = nginx_prefix / "www" / location / "v1"
        (api / "audio").mkdir(parents=True, exist_ok=True)
        (api / "audio" / "speech").write_bytes(audio)
        (api / "models").write_bytes(json.dumps(models).encode())
        for path in [api.parent, api, api / "audio", api / "audio" / "speech", api / "models"]:
            path.chmod(0o755 if path.is_dir() else 0o644)


def smoke(url: str, key: str, kind: str) -> str | None:
    try:
        status, data, ctype = http_post(url, request_file(kind).read_bytes(), key, timeout=30)
    except OSError as exc:
        return f"smoke request failed: {exc}"
    if status != 200 or not ctype.startswith("audio/wav") or len(data) != AUDIO_BYTES:
        return f"smoke request: HTTP {status} {ctype} {len(data)} bytes {data[:200]!r}"
    return None


def first_byte_times(url: str, key: str, kind: str, count: int) -> tuple[list[float], list[float]]:
    """Milliseconds to the first body byte and to the last, for ``count`` requests one after another."""
    parts = urlsplit(url)
    body = request_file(kind).read_bytes()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    firsts, lasts = [], []
    try:
        for _ in range(count):
            started = time.perf_counter()
            connection.request("POST", parts.path, body, headers)
            response = connection.getresponse()
            first = response.read1(1)
            got_first = time.perf_counter()
            rest = response.read()
            done = time.perf_counter()
            if response.status != 200 or len(first) + len(rest) != AUDIO_BYTES:
                raise RuntimeError(f"{url}: HTTP {response.status}, {len(first) + len(rest)} bytes")
            firsts.append((got_first - started) * 1000)
            lasts.append((done - started) * 1000)
    finally:
        connection.close()
    return firsts, lasts


def _p90(values: list[float]) -> float:
    return quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def measure(opts: Any, target: Any, name: str, wrk: Callable[..., dict]) -> dict:
    row: dict[str, Any] = {"scenario": name, "conc": CONC, "error": ""}
    url, key = target.url_for["audio"], target.key
    for kind in KINDS:
        problem = smoke(target.url_for[kind], key, kind)
        if problem:
            row["error"] = problem
            return row
    if opts.warmup:
        wrk(url, request_file("audio"), key, CONC, opts.warmup, opts.load_cores)
    before = cpu_ticks(target.tree())
    result = wrk(url, request_file("audio"), key, CONC, opts.duration, opts.load_cores)
    after = cpu_ticks(target.tree())
    requests = int(result["requests"])
    row["rps"] = requests / (result["duration_us"] / 1e6)
    row["errors"] = sum(int(v) for v in result["errors"].values())
    row["cpu_us_per_req"] = cpu_seconds_between(before, after) / max(requests, 1) * 1e6
    row["mb_per_s"] = row["rps"] * AUDIO_BYTES / 2**20
    first_byte_times(url, key, "audio", TTFB_WARMUP)
    firsts, _ = first_byte_times(url, key, "audio", TTFB_REQUESTS)
    row["ttfb_p50_ms"], row["ttfb_p90_ms"] = median(firsts), _p90(firsts)
    paced_firsts, paced_lasts = first_byte_times(target.url_for["audio-paced"], key, "audio-paced", TTFB_REQUESTS // 4)
    row["paced_ttfb_p50_ms"], row["paced_last_p50_ms"] = median(paced_firsts), median(paced_lasts)
    return row


def run_rows(opts: Any, procs: Any, nginx: Any, started: Callable[..., Any], wrk: Callable[..., dict]) -> dict:
    """The synthesis row of every target (``started`` and ``wrk`` are run.py's)."""
    write_answers(procs.workdir / "nginx")
    # A work directory of its own: the service gets a fresh data directory, as the table's rows do.
    own = replace(opts, workdir=opts.workdir / "speech")
    rows = []
    for name in TARGETS:
        try:
            with started(name, procs, own, nginx, None) as target:
                rows.append(measure(opts, target, name, wrk))
        except (StartError, RuntimeError, OSError) as exc:
            rows.append({"scenario": name, "conc": CONC, "error": str(exc).splitlines()[0]})
        print(f"  speech {name:<10} {_progress(rows[-1])}", flush=True)
    direct = next((r for r in rows if r["scenario"] == "direct" and not r["error"]), None)
    reference = next((r for r in rows if r["scenario"] == "reference" and not r["error"]), None)
    for row in rows:
        if row["error"]:
            continue
        row["ttfb_over_direct_ms"] = row["ttfb_p50_ms"] - direct["ttfb_p50_ms"] if direct else None
        row["cpu_vs_reference"] = row["cpu_us_per_req"] / reference["cpu_us_per_req"] if reference else None
    return {"audio_bytes": AUDIO_BYTES, "conc": CONC, "rows": rows}


def _progress(row: dict) -> str:
    if row["error"]:
        return row["error"]
    cpu, first = row["cpu_us_per_req"], row["ttfb_p50_ms"]
    return f"{row['rps']:,.0f} req/s  {cpu:,.0f} µs CPU/req  first byte p50 {first:.2f} ms"


def print_rows(speech: dict) -> None:
    table = Table(
        title=f"Synthesis: a streamed {speech['audio_bytes'] // 1024} KB audio answer (c={speech['conc']} for CPU; "
        "first byte: one request at a time)"
    )
    columns = (
        "scenario", "req/s", "MB/s", "errors", "CPU µs/req", "CPU vs reference", "first byte p50 ms",
        "first byte p90 ms", "first byte over direct", "paced: first byte p50", "paced: last byte p50",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for row in speech["rows"]:
        if row["error"]:
            table.add_row(row["scenario"], *(["—"] * (len(columns) - 2)), f"[red]{row['error'][:40]}[/]")
            continue
        over = row.get("ttfb_over_direct_ms")
        ratio = row.get("cpu_vs_reference")
        table.add_row(
            row["scenario"],
            f"{row['rps']:,.0f}",
            f"{row['mb_per_s']:,.0f}",
            str(row["errors"]),
            f"{row['cpu_us_per_req']:,.0f}",
            "—" if ratio is None or row["scenario"] == "direct" else f"{ratio:.2f}x",
            f"{row['ttfb_p50_ms']:.2f}",
            f"{row['ttfb_p90_ms']:.2f}",
            "—" if over is None or row["scenario"] == "direct" else f"+{over:.2f} ms",
            f"{row['paced_ttfb_p50_ms']:.2f}",
            f"{row['paced_last_p50_ms']:.2f}",
        )
    Console(width=160).print(table)
