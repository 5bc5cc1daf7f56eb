"""Instructions a request costs, counted by valgrind's callgrind: the same figure whatever else runs.

`python bench/instructions.py [--requests 1500] [--only service,reference,service-redis] [--body json,sse,emb]
[--keep DIR]` (--keep: callgrind's output files are copied to DIR, for callgrind_annotate)

Wall-clock figures on a shared machine move by 20% between runs; instruction counts move by about 1%.
This runs the reference or the service (one worker, the bench's configuration) under callgrind with
counting switched off, warms it with 300 requests from `hey`, counts exactly `--requests` more
(concurrency 16), and prints instructions per request and the ratio to the reference. A body whose
request file holds the marker `#SEQ#` (emb, rerank) is sent by wrk with `post.lua` instead, which
numbers every request (and stops after exactly that many answers): the service shares one upstream
call among identical deterministic requests in flight, and one fixed body would count that sharing.
Counting is about fifty times slower than running, so a row takes a minute or two. Needs `valgrind`,
`hey` and `wrk` (Debian).
Instructions are not time (cache misses and system calls cost more than their count says), so the
wall-clock table of run.py stays the judge; this one tells whether a change made the work smaller.
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
from pathlib import Path

import service
import yaml
from harness import Processes, StartError, free_port, start_nginx, start_redis, wait_http
from run import SERVICE_PATHS, UPSTREAM_PATHS, request_file

BENCH_DIR = Path(__file__).resolve().parent
_WARMUP = 300
_CONCURRENCY = 16
# wrk (numbered bodies) gives up on the count after this long; a counted run takes a minute or two.
_WRK_LIMIT_S = 1200


def _callgrind(out: Path) -> list[str]:
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]


def _control(pid: int, env: dict[str, str], *action: str) -> None:
    # callgrind_control finds the process through files named after the target's USER and HOST
    # variables, so it must see the same ones.
    subprocess.run(["callgrind_control", *action, str(pid)], capture_output=True, env=env, check=False)


def _hey(url: str, key: str, body: str, count: int) -> str:
    # -disable-compression: hey's Go client would otherwise ask for gzip, which wrk (run.py's load) never
    # does; the service would then compress the larger answers (embeddings), work the reference never does.
    cmd = ["hey", "-n", str(count), "-c", str(_CONCURRENCY), "-disable-compression", "-m", "POST"]
    cmd += ["-T", "application/json", "-H", f"Authorization: Bearer {key}", "-D", str(request_file(body)), url]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=1800).stdout


def _wrk(url: str, key: str, body: str, count: int, first: int) -> bool:
    """``count`` numbered requests (numbers after ``first``) through wrk and post.lua; True when every
    one was answered with a 2xx. wrk sends no Accept-Encoding, so nothing is compressed."""
    cmd = ["wrk", "-t1", f"-c{_CONCURRENCY}", f"-d{_WRK_LIMIT_S}s", "--timeout", "60s"]
    cmd += ["-s", str(BENCH_DIR / "post.lua"), url]
    env = {**os.environ, "BENCH_BODY_FILE": str(request_file(body)), "BENCH_KEY": key}
    env |= {"BENCH_STOP_AFTER": str(count), "BENCH_SEQ_FROM": str(first)}
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env) as wrk:
        assert wrk.stdout is not None
        lines = []
        for line in wrk.stdout:
            lines.append(line)
            if line.startswith("BENCH_STOPPED"):
                # Its thread stopped after the last answer; wrk would still sleep out -d.
                wrk.send_signal(signal.SIGINT)
    for line in lines:
        if line.startswith("BENCH_JSON "):
            figures = json.loads(line[len("BENCH_JSON ") :])
            return figures["requests"] == count and not any(figures["errors"].values())
    return False


def _send(url: str, key: str, body: str, count: int, first: int) -> bool:
    """``count`` requests at concurrency 16: numbered ones (wrk) for a body with the ``#SEQ#`` marker,
    else one fixed body (hey, whose counts the earlier figures were taken with)."""
    if b"#SEQ#" in request_file(body).read_bytes():
        return _wrk(url, key, body, count, first)
    return "[200]" in _hey(url, key, body, count)


def _total(out: Path) -> int:
    totals = []
    for part in out.parent.glob(out.name + "*"):
        for line in part.read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                totals.append(int(line.split()[1]))
    return max(totals, default=0)


def _start(what: str, procs: Processes, work: Path, nginx_port: int, out: Path) -> tuple[int, str, str, dict]:
    """Start the target under callgrind; (pid, url for the body kind, caller key, its environment)."""
    port = free_port()
    if what == "reference":
        env = dict(os.environ)
        cmd = [sys.executable, str(BENCH_DIR / "reference_passthrough.py"), str(port), f"http://127.0.0.1:{nginx_port}"]
        proc = procs.start(what, _callgrind(out) + cmd, env=env)
        wait_http(proc, f"http://127.0.0.1:{port}/health", timeout=180)
        return proc.popen.pid, f"http://127.0.0.1:{port}{{upstream}}", service.UPSTREAM_KEY, env
    home = work / what
    (home / "data").mkdir(parents=True)
    config = home / "config.yaml"
    config.write_text(yaml.safe_dump(service.service_config(nginx_port), sort_keys=False))
    # service-redis: limits, breakers and health in a Redis of its own (the Redis server is not counted).
    redis_url = start_redis(procs, None)[1] if what == "service-redis" else None
    env = service.service_env(port, 1, config, home / "data", redis_url)
    proc = procs.start(what, _callgrind(out) + service.service_command(), env=env)
    wait_http(proc, f"http://127.0.0.1:{port}/health", timeout=300)
    key = service.provision_key(f"http://127.0.0.1:{port}")
    return proc.popen.pid, f"http://127.0.0.1:{port}{{service}}", key, env


def measure(what: str, body: str, requests: int, work: Path, keep: Path | None = None) -> float:
    """Instructions per request of ``what`` (service or reference) answering ``body`` requests.

    With ``keep``, callgrind's output files are copied there, for callgrind_annotate.
    """
    procs = Processes(work)
    out = work / f"callgrind-{what}-{body}.out"
    try:
        _, nginx_port = start_nginx(procs, None)
        pid, url, key, env = _start(what, procs, work, nginx_port, out)
        url = url.format(upstream=UPSTREAM_PATHS[body], service=SERVICE_PATHS[body])
        if not _send(url, key, body, _WARMUP, 0):
            raise StartError(f"{what}: the warm-up requests did not succeed")
        _control(pid, env, "-i", "on")
        answered = _send(url, key, body, requests, _WARMUP)
        _control(pid, env, "-i", "off")
        _control(pid, env, "-d")
        time.sleep(2)
        if not answered:
            raise StartError(f"{what}: the counted requests did not succeed")
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            for part in out.parent.glob(out.name + "*"):
                shutil.copy(part, keep / part.name)
        return _total(out) / requests
    finally:
        procs.stop_all()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1500)
    ap.add_argument("--only", default="reference,service")
    ap.add_argument("--body", default="json,sse,emb")
    ap.add_argument("--keep", type=Path, help="copy callgrind's output files to this directory")
    args = ap.parse_args()
    for tool in ("valgrind", "callgrind_control", "hey", "wrk"):
        if shutil.which(tool) is None:
            print(f"instructions: {tool} is missing (apt-get install valgrind hey wrk nginx)", file=sys.stderr)
            return 2
    figures: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory(prefix="apc-instr-") as tmp:
        Path(tmp).chmod(0o755)  # nginx's unprivileged workers read the fixtures below it
        for body in args.body.split(","):
            for what in args.only.split(","):
                work = Path(tmp) / f"{what}-{body}"
                work.mkdir()
                figures[what, body] = measure(what, body, args.requests, work, args.keep)
                print(f"  {what:<10} {body:<4} {figures[what, body] / 1000:8.0f} k instructions/request", flush=True)
    print(f"\n{'target':<10} {'body':<4} {'k instr/req':>12} {'x reference':>12}")
    for (what, body), value in figures.items():
        ref = figures.get(("reference", body))
        ratio = f"{value / ref:.2f}x" if ref else "—"
        print(f"{what:<10} {body:<4} {value / 1000:>12,.0f} {ratio:>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
