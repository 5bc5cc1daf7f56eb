"""The transcription row: a 1 MB WAV uploaded as OpenAI's multipart form, to nginx direct, through the
reference and through the service (``POST /v1/audio/transcriptions``, an ``openai`` provider on nginx,
which answers a canned verbose JSON transcript).

Two figures per target. CPU per request: wrk at c=16 flat out posting the form, the target's process
tree's CPU over the requests it completed. Latency: requests one at a time from this process (one
keep-alive connection), from sending the form to the whole answer; "over direct" is the target's
median minus nginx's own. The service spools the upload and streams it upstream; the reference reads
it whole and posts it on.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from statistics import median
from typing import Any
from urllib.parse import urlsplit

from harness import StartError, cpu_seconds_between, cpu_ticks
from rich.console import Console
from rich.table import Table
from speech import wav

UPLOAD_BYTES = 1024 * 1024
TARGETS = ("direct", "reference", "service")
CONC = 16
BOUNDARY = "bench-boundary-7f3a"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
LATENCY_WARMUP, LATENCY_REQUESTS = 5, 50
_ANSWER = {
    "task": "transcribe", "language": "english", "duration": 21.8, "text": "A tone, transcribed.",
    "segments": [{"id": 0, "seek": 0, "start": 0.0, "end": 21.8, "text": " A tone, transcribed.", "tokens": [1],
                  "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.0, "no_speech_prob": 0.1}],
    "usage": {"type": "duration", "seconds": 22},
}  # fmt: skip


def urls(base: str, service: bool = False) -> dict[str, str]:
    return {"stt": f"{base}/v1/audio/transcriptions" if service else f"{base}/stt/v1/audio/transcriptions"}


def form(model: str) -> bytes:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="model"\r\n\r\n{model}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="tone.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    return head + wav(UPLOAD_BYTES) + f"\r\n--{BOUNDARY}--\r\n".encode()


def write_fixtures(nginx_prefix: Path, workdir: Path) -> dict[str, Path]:
    """nginx's answer (and models list), and the two forms: the vendor's model, the service's route."""
    api = nginx_prefix / "www" / "stt" / "v1"
    (api / "audio").mkdir(parents=True, exist_ok=True)
    (api / "audio" / "transcriptions").write_bytes(json.dumps(_ANSWER).encode())
    models = {"object": "list", "data": [{"id": "whisper-1", "object": "model", "created": 1, "owned_by": "system"}]}
    (api / "models").write_bytes(json.dumps(models).encode())
    for path in [api.parent, api, api / "audio", api / "audio" / "transcriptions", api / "models"]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    workdir.mkdir(parents=True, exist_ok=True)
    forms = {"vendor": workdir / "stt_vendor.form", "service": workdir / "stt_service.form"}
    forms["vendor"].write_bytes(form("whisper-1"))
    forms["service"].write_bytes(form("upstream-stt/whisper-1"))
    return forms


def latencies(url: str, key: str, body: bytes, count: int) -> list[float]:
    parts = urlsplit(url)
    headers = {"Content-Type": CONTENT_TYPE, "Authorization": f"Bearer {key}"}
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    times = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            connection.request("POST", parts.path, body, headers)
            response = connection.getresponse()
            answer = response.read()
            times.append((time.perf_counter() - started) * 1000)
            if response.status != 200 or b"transcribed" not in answer:
                raise RuntimeError(f"{url}: HTTP {response.status} {answer[:200]!r}")
    finally:
        connection.close()
    return times


def measure(opts: Any, target: Any, name: str, body_file: Path, wrk: Callable[..., dict]) -> dict:
    row: dict[str, Any] = {"scenario": name, "conc": CONC, "error": ""}
    url, key, body = target.url_for["stt"], target.key, body_file.read_bytes()
    try:
        latencies(url, key, body, LATENCY_WARMUP)
    except (RuntimeError, OSError) as exc:
        row["error"] = f"smoke request: {exc}"
        return row
    before = cpu_ticks(target.tree())
    result = wrk(url, body_file, key, CONC, opts.duration, opts.load_cores, content_type=CONTENT_TYPE)
    after = cpu_ticks(target.tree())
    requests = int(result["requests"])
    row["rps"] = requests / (result["duration_us"] / 1e6)
    row["errors"] = sum(int(v) for v in result["errors"].values())
    row["cpu_us_per_req"] = cpu_seconds_between(before, after) / max(requests, 1) * 1e6
    row["latency_p50_ms"] = median(latencies(url, key, body, LATENCY_REQUESTS))
    return row


def run_rows(opts: Any, procs: Any, nginx: Any, started: Callable[..., Any], wrk: Callable[..., dict]) -> dict:
    """The transcription row of every target (``started`` and ``wrk`` are run.py's)."""
    own = replace(opts, workdir=opts.workdir / "transcription")
    forms = write_fixtures(procs.workdir / "nginx", own.workdir)
    rows = []
    for name in TARGETS:
        try:
            with started(name, procs, own, nginx, None) as target:
                rows.append(measure(opts, target, name, forms["service" if name == "service" else "vendor"], wrk))
        except (StartError, RuntimeError, OSError) as exc:
            rows.append({"scenario": name, "conc": CONC, "error": str(exc).splitlines()[0]})
        row = rows[-1]
        shown = row["error"] or f"{row['rps']:,.0f} req/s  {row['cpu_us_per_req']:,.0f} µs CPU/req"
        print(f"  transcription {name:<10} {shown}", flush=True)
    direct = next((r for r in rows if r["scenario"] == "direct" and not r["error"]), None)
    reference = next((r for r in rows if r["scenario"] == "reference" and not r["error"]), None)
    for row in rows:
        if not row["error"]:
            row["latency_over_direct_ms"] = row["latency_p50_ms"] - direct["latency_p50_ms"] if direct else None
            row["cpu_vs_reference"] = row["cpu_us_per_req"] / reference["cpu_us_per_req"] if reference else None
    return {"upload_bytes": UPLOAD_BYTES, "conc": CONC, "rows": rows}


def print_rows(results: dict) -> None:
    table = Table(title=f"Transcription: a {results['upload_bytes'] // 1024} KB upload (c={results['conc']} for CPU; "
                  "latency: one request at a time)")  # fmt: skip
    columns = ("scenario", "req/s", "errors", "CPU µs/req", "CPU vs reference", "latency p50 ms", "over direct")
    for column in columns:
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for row in results["rows"]:
        if row["error"]:
            table.add_row(row["scenario"], *(["—"] * (len(columns) - 2)), f"[red]{row['error'][:40]}[/]")
            continue
        ratio, over = row.get("cpu_vs_reference"), row.get("latency_over_direct_ms")
        table.add_row(
            row["scenario"],
            f"{row['rps']:,.0f}",
            str(row["errors"]),
            f"{row['cpu_us_per_req']:,.0f}",
            "—" if ratio is None or row["scenario"] == "direct" else f"{ratio:.2f}x",
            f"{row['latency_p50_ms']:.2f}",
            "—" if over is None or row["scenario"] == "direct" else f"+{over:.2f} ms",
        )
    Console(width=160).print(table)
