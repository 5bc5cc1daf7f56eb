"""The project's benchmark: the gateway against a bare aiohttp pass-through, both in front of nginx.

    .venv/bin/python bench/run.py [--duration 8] [--quick] [--soak N] [--only NAME[,NAME]]
                                  [--loads closed,paced] [--rate 1000] [--rate-sse 500] [--pairs 3]
                                  [--live-frames 50]

Starts nginx (static answers: OpenAI chat as JSON and SSE, embeddings, Cohere rerank, an Anthropic
message, a Responses object), then, one at a time: nothing (wrk talks to
nginx directly), the reference pass-through, and the service with 1 worker, 2 workers and Redis-backed
state. Each is loaded with wrk flat out at concurrency 16 and 64 (closed loop: the target saturates), and
direct, reference and service also at a fixed offered rate that all of them carry (paced: open loop,
16 connections), which shows the latency a hop adds to one request rather than queueing. Prints the
tables and writes bench/results/latest.json. Everything runs on 127.0.0.1 and stops when the run ends.

Then, with --pairs N (default 3), the reference and the 1-worker service (and the Redis-backed one
when it was asked for) run side by side and are loaded in turn, JSON at c=64, N rounds in alternating
order: the host's speed drifts by tens of percent over minutes, and only measurements taken seconds
apart give a ratio that drift does not swing. The median ratio of those rounds is the headline target.

The synthesis, transcription and live transcription rows (speech.py, transcription.py, live.py) have
tables of their own.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import live
import service
import speech
import transcription
from harness import (
    BENCH_DIR,
    FIXTURES,
    Proc,
    Processes,
    StartError,
    cpu_layout,
    cpu_seconds_between,
    cpu_ticks,
    descendants,
    free_port,
    http_post,
    machine_info,
    pinned,
    redis_commands,
    rss_bytes,
    start_nginx,
    start_redis,
    wait_http,
)
from report import print_report, print_soak, soak_verdict, summarize_pairs, targets

GROUPS = ("direct", "reference", "service", "service-2w", "service-redis", "speech", "transcription", "live")
CONCURRENCY = (16, 64)
LOADS = ("closed", "paced")
# The paced rows answer "what does the hop add to a request" (issue 7 asks it at c=16); the 2-worker
# and Redis rows answer throughput questions, so they are loaded flat out only.
PACED_GROUPS = ("direct", "reference", "service")
PACED_CONC = 16
# Offered req/s of the paced rows, whole run. Low enough that the 1-worker service carries it with CPU
# to spare (a streamed request costs about twice a JSON one, hence half the rate: both keep its core
# about half busy), so that p50 shows the time a request takes, not the time it queued. Changing it
# changes every paced figure.
DEFAULT_RATE = {"json": 1000.0, "sse": 500.0}
# The interleaved pairs measure the headline target's load only: JSON, flat out, c=64.
PAIR_BODY, PAIR_CONC = "json", 64
DEFAULT_PAIRS = 3
# The table's body kinds: where nginx answers each (direct, and through the reference, which forwards the
# path as it is), the service's path for it, the request posted, and what a good answer contains.
# rerank: Cohere's v2 rerank of 16 documents; msg: an Anthropic Messages request, which the reference
# forwards to nginx's canned Anthropic message and the service translates to the JSON rows' OpenAI chat
# upstream and back; resp: OpenAI's Responses API, passed through by both.
UPSTREAM_PATHS = {
    "json": "/json/v1/chat/completions",
    "sse": "/sse/v1/chat/completions",
    "emb": "/emb/v1/embeddings",
    "rerank": "/rerank/v2/rerank",
    "msg": "/msg/v1/messages",
    "resp": "/resp/v1/responses",
}
SERVICE_PATHS = {
    "json": "/v1/chat/completions",
    "sse": "/v1/chat/completions",
    "emb": "/v1/embeddings",
    "rerank": "/v1/rerank",
    "msg": "/v1/messages",
    "resp": "/v1/responses",
}
REQUEST_FILES = {
    "sse": "chat_request_stream.json",
    "emb": "embeddings_request.json",
    "rerank": "rerank_request.json",
    "msg": "messages_request.json",
    "resp": "responses_request.json",
}
SMOKE_EXPECTS = {
    "sse": b"data: [DONE]",
    "emb": b'"embedding"',
    "rerank": b'"relevance_score"',
    "msg": b'"end_turn"',
    "resp": b'"output_text"',
}


@dataclass
class Row:
    scenario: str
    body: str
    conc: int
    rps: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    requests: int = 0
    errors: int = 0
    rss_mib: float = 0.0
    cpu_us_per_req: float = 0.0
    redis_cmds_per_req: float | None = None
    error: str = ""
    offered_rps: float | None = None  # the paced rate; None for a closed-loop (flat out) row


@dataclass
class Target:
    """Something to load: where to send, what to send, and which processes to measure."""

    url_for: dict[str, str]  # body kind ("json" | "sse") -> URL
    key: str
    roots: list[int]  # processes whose whole tree is measured (CPU, RSS)
    redis_url: str | None = None

    def tree(self) -> list[int]:
        return [pid for root in self.roots for pid in descendants(root)]


@dataclass
class Upstream:
    proc: Proc
    port: int


@dataclass
class Options:
    duration: int
    warmup: int
    server_cores: str | None
    load_cores: str | None
    workdir: Path
    loads: tuple[str, ...] = LOADS
    rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RATE))
    live_port: int | None = None  # the live row's WebSocket upstream, while that row runs (bench/live.py)


# ---- load ---------------------------------------------------------------------------------------


def request_file(body: str) -> Path:
    # The direct and reference targets pass the body through untouched, so its model name is moot.
    return FIXTURES / REQUEST_FILES.get(body, "chat_request.json")


def wrk(
    url: str,
    body_file: Path,
    key: str,
    conc: int,
    seconds: int,
    cores: str | None,
    rate: float | None = None,
    content_type: str | None = None,
) -> dict:
    """One wrk run: flat out, or, with rate, paced to that many requests per second (post.lua)."""
    # post.lua keeps one schedule per wrk thread, so a paced run uses one thread (far from its limit).
    threads = 1 if rate else 2
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{conc}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        str(BENCH_DIR / "post.lua"),
        url,
    ]
    env = {**os.environ, "BENCH_BODY_FILE": str(body_file), "BENCH_KEY": key, "BENCH_RATE": str(rate or "")}
    if content_type:
        env["BENCH_CONTENT_TYPE"] = content_type
    out = subprocess.run(pinned(cmd, cores), capture_output=True, text=True, env=env, timeout=seconds + 60)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON ") :])
    raise RuntimeError(f"wrk failed ({out.returncode}): {(out.stderr or out.stdout).strip()[-500:]}")


def smoke(url: str, body_file: Path, key: str, body: str) -> str | None:
    """One request before the load, so that a broken target is reported instead of measured."""
    try:
        status, data, ctype = http_post(url, body_file.read_bytes(), key)
    except OSError as exc:
        return f"smoke request failed: {exc}"
    expected = SMOKE_EXPECTS.get(body, b'"chat.completion"')
    if status != 200 or expected not in data:
        return f"smoke request: HTTP {status} {ctype} {data[:300]!r}"
    return None


def measure(opts: Options, target: Target, group: str, body: str, conc: int, rate: float | None) -> Row:
    row = Row(group, body, conc, offered_rps=rate)
    url, body_file = target.url_for[body], request_file(body)
    problem = smoke(url, body_file, target.key, body)
    if problem:
        row.error = problem
        return row
    if opts.warmup:
        wrk(url, body_file, target.key, conc, opts.warmup, opts.load_cores, rate)
    before = cpu_ticks(target.tree())
    redis_before = redis_commands(target.redis_url) if target.redis_url else None
    result = wrk(url, body_file, target.key, conc, opts.duration, opts.load_cores, rate)
    after = cpu_ticks(target.tree())
    redis_after = redis_commands(target.redis_url) if target.redis_url else None
    rss = rss_bytes(target.tree())
    lat = result["latency_us"]
    row.requests = int(result["requests"])
    row.rps = row.requests / (result["duration_us"] / 1e6)
    row.p50_ms, row.p90_ms, row.p99_ms = lat["p50"] / 1e3, lat["p90"] / 1e3, lat["p99"] / 1e3
    row.errors = sum(int(v) for v in result["errors"].values())
    row.rss_mib = rss / 2**20
    row.cpu_us_per_req = cpu_seconds_between(before, after) / max(row.requests, 1) * 1e6
    if redis_before is not None and redis_after is not None:
        # Shows that the state really lives in Redis, and how many round trips a request costs.
        row.redis_cmds_per_req = (redis_after - redis_before) / max(row.requests, 1)
    return row


# ---- targets ------------------------------------------------------------------------------------


@contextmanager
def started(group: str, procs: Processes, opts: Options, nginx: Upstream, redis: str | None) -> Iterator[Target]:
    upstream = f"http://127.0.0.1:{nginx.port}"
    live_upstream = f"http://127.0.0.1:{opts.live_port}" if opts.live_port else None
    if group == "direct":
        paths = _chat_paths(upstream) | speech.urls(upstream) | transcription.urls(upstream)
        paths |= live.urls(live_upstream) if live_upstream else {}
        yield Target(paths, service.UPSTREAM_KEY, [nginx.proc.popen.pid])
        return
    port = free_port()
    if group == "reference":
        cmd = [sys.executable, str(BENCH_DIR / "reference_passthrough.py"), str(port), upstream]
        cmd += [live_upstream] if live_upstream else []
        proc = procs.start("reference", pinned(cmd, opts.server_cores))
        try:
            wait_http(proc, f"http://127.0.0.1:{port}/health", timeout=20)
            base = f"http://127.0.0.1:{port}"
            paths = _chat_paths(base) | speech.urls(base) | transcription.urls(base) | live.urls(base)
            yield Target(paths, service.UPSTREAM_KEY, [proc.popen.pid])
        finally:
            procs.stop(proc)
        return
    workers = 2 if group == "service-2w" else 1
    redis = redis if group == "service-redis" else None
    running = service.running(procs, opts.workdir, opts.server_cores, port, nginx.port, workers, redis, opts.live_port)
    with running as svc:
        base = f"http://127.0.0.1:{port}"
        paths = {body: base + path for body, path in SERVICE_PATHS.items()} | speech.urls(base, service=True)
        paths |= transcription.urls(base, service=True) | live.urls(base, service=True)
        yield Target(paths, svc.key, [svc.proc.popen.pid], redis)


def _chat_paths(base: str) -> dict[str, str]:
    """Where direct and reference targets take each body kind: nginx's location of that kind."""
    return {body: base + path for body, path in UPSTREAM_PATHS.items()}


def bodies(group: str) -> tuple[str, ...]:
    # Multi-worker and Redis rows answer "does it hold up", which the JSON path shows on its own.
    return tuple(UPSTREAM_PATHS) if group in ("direct", "reference", "service") else ("json",)


def plan(group: str, opts: Options) -> list[tuple[str, int, float | None]]:
    """(body, concurrency, paced rate or None for flat out) of each row of a group, paced rows first.

    Paced rows come first so that they meet a target that no saturating run has left with a backlog
    (records still being written, say), which would show as latency that a request does not pay.
    """
    paced: list[tuple[str, int, float | None]] = []
    if "paced" in opts.loads and group in PACED_GROUPS:
        paced = [(b, PACED_CONC, opts.rates[b]) for b in bodies(group) if b in opts.rates]
    closed: list[tuple[str, int, float | None]] = []
    if "closed" in opts.loads:
        closed = [(b, c, None) for b in bodies(group) for c in CONCURRENCY]
    return paced + closed


def _progress(row: Row) -> None:
    load = f"c={row.conc:<3}" + (f" at {row.offered_rps:,.0f} req/s" if row.offered_rps else "")
    status = row.error or f"{row.rps:,.0f} req/s  p50 {row.p50_ms:.2f} ms  errors {row.errors}"
    print(f"  {row.scenario:<14} {row.body:<6} {load:<20} {status}", flush=True)


def run_group(group: str, procs: Processes, opts: Options, nginx: Upstream, redis_url: str | None) -> list[Row]:
    rows: list[Row] = []
    redis, redis_proc = redis_url, None
    try:
        if group == "service-redis" and redis is None:
            redis_proc, redis = start_redis(procs, opts.load_cores)
        with started(group, procs, opts, nginx, redis) as target:
            for body, conc, rate in plan(group, opts):
                rows.append(measure(opts, target, group, body, conc, rate))
                _progress(rows[-1])
    except (StartError, RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"  {group}: skipped: {exc}", file=sys.stderr, flush=True)
        done = {(r.body, r.conc, r.offered_rps) for r in rows}
        rows += [
            Row(group, b, c, offered_rps=r, error=str(exc).splitlines()[0])
            for b, c, r in plan(group, opts)
            if (b, c, r) not in done
        ]
    finally:
        if redis_proc is not None:
            procs.stop(redis_proc)
    return rows


# ---- interleaved pairs --------------------------------------------------------------------------


def pair_members(groups: list[str]) -> list[str]:
    """Targets of the paired rounds: none unless the run asked for the reference or the service.

    The reference and the 1-worker service always take part (their ratio is the headline target);
    the Redis-backed service joins only when its group was asked for, since it needs a redis-server.
    """
    if not {"reference", "service"} & set(groups):
        return []
    return ["reference", "service"] + (["service-redis"] if "service-redis" in groups else [])


def _pair_round(opts: Options, live: dict[str, Target], number: int) -> dict:
    """One round: each member loaded in turn; odd rounds in member order, even rounds reversed.

    Reversing the order every round keeps any one member from always going first (right after
    another member's load, or always earliest in a drifting host's slow or fast minute).
    """
    order = list(live) if number % 2 else list(reversed(live))
    print(f"  pair {number}: {' then '.join(order)}", flush=True)
    rows: dict[str, dict] = {}
    for name in order:
        row = measure(opts, live[name], name, PAIR_BODY, PAIR_CONC, None)
        _progress(row)
        rows[name] = asdict(row)
    return {"round": number, "order": order, "rows": rows}


def run_pairs(
    members: list[str], rounds: int, procs: Processes, opts: Options, nginx: Upstream, redis_url: str | None
) -> dict:
    """All members started side by side, then `rounds` rounds of one measurement each.

    All are pinned to the server core like the ordinary rows; only the one being loaded works, an idle
    one costs next to nothing. Each round's measurements are seconds apart, so their ratio is what the
    code costs, not how fast the host was that minute.
    """
    print(f"pairs: {', '.join(members)} side by side, {PAIR_BODY} c={PAIR_CONC}, {rounds} rounds", flush=True)
    # A work directory of their own: the services get fresh data directories, like the ordinary rows'.
    pair_opts = replace(opts, workdir=opts.workdir / "pairs")
    done: list[dict] = []
    error = ""
    redis_proc = None
    try:
        redis = redis_url
        if "service-redis" in members and redis is None:
            redis_proc, redis = start_redis(procs, opts.load_cores)
        with ExitStack() as stack:
            live = {m: stack.enter_context(started(m, procs, pair_opts, nginx, redis)) for m in members}
            for number in range(1, rounds + 1):
                done.append(_pair_round(opts, live, number))
    except (StartError, RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"  pairs: stopped: {exc}", file=sys.stderr, flush=True)
        error = str(exc).splitlines()[0]
    finally:
        if redis_proc is not None:
            procs.stop(redis_proc)
    return summarize_pairs(members, done, PAIR_BODY, PAIR_CONC, error)


# ---- soak ---------------------------------------------------------------------------------------


def run_soak(total: int, segment: int, max_minutes: float, procs: Processes, opts: Options, nginx: Upstream) -> dict:
    """The service at c=64 until `total` requests have been served, sampling RSS after each segment."""
    samples: list[dict] = []
    deadline = time.monotonic() + max_minutes * 60
    with started("service", procs, opts, nginx, None) as target:
        url, body_file = target.url_for["json"], request_file("json")
        problem = smoke(url, body_file, target.key, "json")
        if problem:
            raise StartError(problem)
        done = 0
        while done < total and time.monotonic() < deadline:
            result = wrk(url, body_file, target.key, 64, segment, opts.load_cores)
            done += int(result["requests"])
            rss = rss_bytes(target.tree())
            samples.append(
                {
                    "requests": done,
                    "rps": result["requests"] / (result["duration_us"] / 1e6),
                    "errors": sum(int(v) for v in result["errors"].values()),
                    "rss_mib": rss / 2**20,
                }
            )
            print(
                f"  soak {done:>10,} requests  {samples[-1]['rps']:,.0f} req/s  RSS {rss / 2**20:.1f} MiB",
                flush=True,
            )
    return {"target_requests": total, "samples": samples, **soak_verdict(samples, total)}


# ---- main ---------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=8, help="seconds of measured load per row (default 8)")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load before each row")
    ap.add_argument("--quick", action="store_true", help="3 s rows, 1 s warm-up: a smoke test of the bench")
    ap.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(GROUPS)}")
    ap.add_argument(
        "--loads",
        default=",".join(LOADS),
        help="closed (flat out at c=16 and 64), paced (fixed rate at c=16), or both (default)",
    )
    ap.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE["json"],
        help=f"offered req/s of the paced JSON rows (default {DEFAULT_RATE['json']:,.0f})",
    )
    ap.add_argument(
        "--rate-sse",
        type=float,
        default=DEFAULT_RATE["sse"],
        help=f"offered req/s of the paced streamed rows (default {DEFAULT_RATE['sse']:,.0f})",
    )
    ap.add_argument(
        "--soak",
        type=int,
        default=0,
        metavar="N",
        help="instead of the table: load the 1-worker service until N requests, watching RSS",
    )
    ap.add_argument("--soak-segment", type=int, default=30, help="seconds between RSS samples in --soak")
    ap.add_argument("--soak-max-minutes", type=float, default=120, help="hard stop for --soak")
    ap.add_argument(
        "--redis-url",
        default=None,
        help="use this Redis (e.g. redis://127.0.0.1:6379/15) instead of starting one",
    )
    ap.add_argument(
        "--pairs",
        type=int,
        default=DEFAULT_PAIRS,
        metavar="N",
        help=f"after the table: N rounds of reference and service side by side, json c=64, alternating "
        f"order, for a ratio that the host's drift does not swing (default {DEFAULT_PAIRS}; 0: off)",
    )
    ap.add_argument(
        "--live-frames",
        type=int,
        default=live.DEFAULT_FRAMES,
        metavar="N",
        help=f"frames of 100 ms in a session of the live row (default {live.DEFAULT_FRAMES})",
    )
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, configs)")
    args = ap.parse_args()
    if args.quick:
        args.duration, args.warmup = 3, 1
    groups = [g.strip() for g in args.only.split(",") if g.strip()] or list(GROUPS)
    unknown = set(groups) - set(GROUPS)
    if unknown:
        ap.error(f"unknown --only name(s): {', '.join(sorted(unknown))}; choose from {', '.join(GROUPS)}")
    if args.redis_url and not args.redis_url.startswith("redis://127.0.0.1"):
        ap.error("--redis-url must point at 127.0.0.1: the bench never loads anything off this machine")
    loads = tuple(x.strip() for x in args.loads.split(",") if x.strip())
    if not loads or set(loads) - set(LOADS):
        ap.error(f"--loads takes a comma-separated subset of: {', '.join(LOADS)}")
    if args.rate <= 0 or args.rate_sse <= 0:
        ap.error("--rate and --rate-sse must be positive")
    if args.live_frames < 2:
        ap.error("--live-frames must be 2 or more (a frame's cost is told from a one-frame session's)")
    if args.pairs < 0:
        ap.error("--pairs must be 0 (off) or more")
    args.groups, args.loads = groups, loads
    args.rates = {"json": args.rate, "sse": args.rate_sse}
    return args


def _terminate(signum: int, _frame: object) -> None:
    # Turn SIGTERM into an exception so that the finally below stops every process we started.
    raise SystemExit(128 + signum)


def main() -> int:
    args = parse_args()
    if shutil.which("wrk") is None:
        print("wrk not found: run bench/run.sh, which installs it", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    server_cores, load_cores = cpu_layout()
    workdir = Path(tempfile.mkdtemp(prefix="api-connector-bench-"))
    opts = Options(args.duration, args.warmup, server_cores, load_cores, workdir, args.loads, args.rates)
    procs = Processes(workdir)
    info = machine_info()
    print(
        f"bench: {info['nproc']} cores ({info['cpu_model']}); server on core {server_cores}, "
        f"wrk and nginx on core {load_cores}; {args.duration}s per row; "
        f"paced rows at {args.rate:,.0f} req/s (JSON) and {args.rate_sse:,.0f} req/s (SSE); "
        f"load average {info['loadavg_at_start']}",
        flush=True,
    )
    results: dict = {
        "machine": info,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "pinning": {"server": server_cores, "load": load_cores},
        "paced_rate_rps": args.rates,
        "paced_conc": PACED_CONC,
    }
    failed = True  # until the run has finished: an interrupted run keeps its logs
    try:
        failed = execute(args, opts, procs, results)
        out = BENCH_DIR / "results" / ("soak.json" if args.soak else "latest.json")
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {out.relative_to(BENCH_DIR.parent)}")
    finally:
        procs.stop_all()
        if failed or args.keep:
            print(f"logs and configs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


def execute(args: argparse.Namespace, opts: Options, procs: Processes, results: dict) -> bool:
    """Run the soak or the table into `results`; True if anything failed."""
    try:
        nginx = Upstream(*start_nginx(procs, opts.load_cores))
        if args.soak:
            soak = run_soak(args.soak, args.soak_segment, args.soak_max_minutes, procs, opts, nginx)
            results["soak"] = soak
            print_soak(soak)
            return not (soak.get("flat") and soak.get("reached"))
        own_rows = ("speech", "transcription", "live")
        rows = [r for g in args.groups if g not in own_rows for r in run_group(g, procs, opts, nginx, args.redis_url)]
        # Closed-loop and paced rows stay apart: their p50s answer different questions.
        results["rows"] = [asdict(r) for r in rows if r.offered_rps is None]
        results["paced_rows"] = [asdict(r) for r in rows if r.offered_rps is not None]
        # The pairs are flat-out rows: a paced-only run (the latency question) goes without them.
        members = pair_members(args.groups) if args.pairs and "closed" in opts.loads else []
        if members:
            results["pairs"] = run_pairs(members, args.pairs, procs, opts, nginx, args.redis_url)
        pairs = results.get("pairs")
        results["targets"] = targets(results["rows"], results["paced_rows"], pairs)
        if rows:
            print_report(results)
        if "speech" in args.groups:
            results["speech"] = speech.run_rows(opts, procs, nginx, started, wrk)
            speech.print_rows(results["speech"])
        if "transcription" in args.groups:
            results["transcription"] = transcription.run_rows(opts, procs, nginx, started, wrk)
            transcription.print_rows(results["transcription"])
        if "live" in args.groups:
            results["live"] = live.run_rows(opts, procs, nginx, started, args.live_frames)
            live.print_rows(results["live"])
        spoken = [row for name in own_rows for row in results.get(name, {}).get("rows", [])]
        return any(r.error for r in rows) or bool(pairs and pairs["failed"]) or any(r["error"] for r in spoken)
    except (StartError, RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return True


if __name__ == "__main__":
    sys.exit(main())
