"""Processes under test and how they are measured: start, wait, sample /proc, stop.

Everything listens on 127.0.0.1 only, on ports the kernel picked, and every process started here runs
in its own session so that stopping it (by its process-group id) also stops the workers it forked.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
FIXTURES = BENCH_DIR / "fixtures"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class StartError(RuntimeError):
    """A process under test did not come up; the message says why (with its log's tail)."""


def free_port() -> int:
    # Bind-and-release leaves a tiny race with other programs; on a bench machine that is acceptable.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cmd: Sequence[str], cores: str | None) -> list[str]:
    """Prefix with taskset so that the "one core" figures mean one core, whatever else runs."""
    if cores is None or shutil.which("taskset") is None:
        return list(cmd)
    return ["taskset", "-c", cores, *cmd]


def cpu_layout() -> tuple[str | None, str | None]:
    """(server cores, load-generator cores); (None, None) when there are too few cores to split."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None, None
    return str(cores[0]), str(cores[1])


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_post(url: str, body: bytes, key: str | None, timeout: float = 10.0) -> tuple[int, bytes, str]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


@dataclass
class Proc:
    """One started process (and its descendants), with its output in a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def last_line(self) -> str:
        tail = [line.strip() for line in self.log_tail(50).splitlines() if line.strip()]
        return tail[-1] if tail else "(no output)"

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def pids(self) -> list[int]:
        return descendants(self.popen.pid)

    def stop(self, grace: float = 5.0) -> None:
        if not self.alive():
            return
        _signal_group(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=grace)
        # Forked workers may outlive their parent for a moment; the group id still reaches them.
        _signal_group(self.popen.pid, signal.SIGKILL)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@dataclass
class Processes:
    """Every process this run started, stopped in reverse order whatever happens."""

    workdir: Path
    started: list[Proc] = field(default_factory=list)

    def start(self, name: str, cmd: Sequence[str], env: Mapping[str, str] | None = None) -> Proc:
        log = self.workdir / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                list(cmd),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                start_new_session=True,
                cwd=self.workdir,
            )
        proc = Proc(name, popen, log)
        self.started.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.started:
            self.started.remove(proc)

    def stop_all(self) -> None:
        while self.started:
            self.stop(self.started[-1])


def wait_http(proc: Proc, url: str, timeout: float) -> None:
    """Poll url until it answers 200; fail early, with the log, if the process exits."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not proc.alive():
            raise StartError(f"{proc.name} exited with {proc.popen.returncode}: {proc.last_line()}\n{proc.log_tail()}")
        try:
            status, _ = http_get(url, timeout=1.0)
            if status == 200:
                return
            last = f"HTTP {status}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise StartError(f"{proc.name} not ready at {url} after {timeout:.0f}s ({last})\n{proc.log_tail()}")


def wait_redis(proc: Proc, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise StartError(f"redis exited:\n{proc.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise StartError(f"redis not answering on port {port}:\n{proc.log_tail()}")


# ---- /proc sampling -------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, utime+stime ticks, rss pages) of one process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[21])


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                children.setdefault(stat[0], []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if Path(f"/proc/{pid}").exists():
            found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_ticks(pids: Sequence[int]) -> dict[int, int]:
    ticks = {}
    for pid in pids:
        stat = _stat(pid)
        if stat is not None:
            ticks[pid] = stat[1]
    return ticks


def cpu_seconds_between(before: Mapping[int, int], after: Mapping[int, int]) -> float:
    # A worker that appeared during the run counts from zero; one that vanished is lost (rare, and
    # a vanished worker during a run is itself a finding that the error column will show).
    return sum(t - before.get(pid, 0) for pid, t in after.items()) / CLK_TCK


def rss_bytes(pids: Sequence[int]) -> int:
    """Resident memory of the process tree (forked workers' shared pages count once per worker)."""
    total = 0
    for pid in pids:
        stat = _stat(pid)
        if stat is not None:
            total += stat[2] * PAGE_SIZE
    return total


# ---- the upstream ---------------------------------------------------------------------------------

NGINX_CONF = """\
worker_processes 1;
pid nginx.pid;
error_log error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    # A real provider keeps connections open: never make the gateway reconnect mid-run.
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    etag off;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root www;
        # The static module answers POST with 405; error_page turns that into an internal GET of the
        # same file, so a POST gets the canned body with status 200.
        location /json/ {{ default_type application/json; error_page 405 =200 $uri; }}
        location /sse/ {{ default_type "text/event-stream; charset=utf-8"; error_page 405 =200 $uri; }}
        # The embeddings row: 16 vectors of 256 floats (about 50 KB).
        location /emb/ {{ default_type application/json; error_page 405 =200 $uri; }}
        # The rerank (Cohere v2), Anthropic Messages and Responses rows: one canned answer each.
        location /rerank/ {{ default_type application/json; error_page 405 =200 $uri; }}
        location /msg/ {{ default_type application/json; error_page 405 =200 $uri; }}
        location /resp/ {{ default_type application/json; error_page 405 =200 $uri; }}
        # The synthesis row (bench/speech.py): audio at full speed, and paced as a vendor produces it.
        location /audio/ {{ default_type audio/wav; error_page 405 =200 $uri; }}
        location /audio-paced/ {{ default_type audio/wav; error_page 405 =200 $uri; limit_rate 4m; }}
        # The transcription row (bench/transcription.py): a 1 MB form posted, a canned transcript answered.
        location /stt/ {{ default_type application/json; client_max_body_size 4m; error_page 405 =200 $uri; }}
    }}
}}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        raise StartError("nginx not found (bench/run.sh installs it with apt-get)")
    return found


def start_nginx(procs: Processes, cores: str | None) -> tuple[Proc, int]:
    """nginx serving the fixtures: /json/v1/... answers JSON, /sse/v1/... an SSE stream, /emb/v1/... embeddings,
    /rerank/, /msg/ and /resp/ a rerank, an Anthropic message and a Responses object."""
    prefix = procs.workdir / "nginx"
    for kind, body in (("json", "chat_completion.json"), ("sse", "chat_completion.sse")):
        api = prefix / "www" / kind / "v1"
        (api / "chat").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FIXTURES / body, api / "chat" / "completions")
        # Providers are probed with GET /models by health checks: answer those too.
        shutil.copyfile(FIXTURES / "models.json", api / "models")
    embeddings = prefix / "www" / "emb" / "v1"
    embeddings.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FIXTURES / "embeddings.json", embeddings / "embeddings")
    shutil.copyfile(FIXTURES / "embedding_models.json", embeddings / "models")
    # Cohere's rerank under /rerank/v2/, its model list (which the service's live list asks) under /rerank/v1/;
    # the Anthropic message the reference is answered; a Responses object and OpenAI's model list.
    for served, fixture in (
        ("rerank/v2/rerank", "rerank.json"),
        ("rerank/v1/models", "rerank_models.json"),
        ("msg/v1/messages", "message.json"),
        ("resp/v1/responses", "response.json"),
        ("resp/v1/models", "models.json"),
    ):
        (prefix / "www" / served).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FIXTURES / fixture, prefix / "www" / served)
    (prefix / "tmp").mkdir(exist_ok=True)
    port = free_port()
    (prefix / "nginx.conf").write_text(NGINX_CONF.format(port=port))
    # Run as root, nginx workers drop to an unprivileged user that must be able to read www/.
    for path in [procs.workdir, *prefix.rglob("*"), prefix]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    cmd = [nginx_binary(), "-p", f"{prefix}/", "-c", "nginx.conf", "-e", "error.log", "-g", "daemon off;"]
    proc = procs.start("nginx", pinned(cmd, cores))
    wait_http(proc, f"http://127.0.0.1:{port}/json/v1/models", timeout=10)
    return proc, port


def start_redis(procs: Processes, cores: str | None) -> tuple[Proc, str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise StartError("redis-server not found (bench/run.sh installs it with apt-get)")
    port = free_port()
    # No persistence: the bench measures the gateway, not Redis's disk.
    cmd = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(procs.workdir),
    ]
    proc = procs.start("redis", pinned(cmd, cores))
    wait_redis(proc, port)
    return proc, f"redis://127.0.0.1:{port}/15"


def redis_commands(url: str) -> int | None:
    """Commands the Redis at url has processed so far (INFO stats), or None if it cannot be asked."""
    parsed = urllib.parse.urlsplit(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=2) as sock:
            sock.sendall(b"INFO stats\r\n")
            data = b""
            while b"total_commands_processed:" not in data or not data.endswith(b"\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("total_commands_processed:"):
            return int(line.split(":", 1)[1])
    return None


def version_of(cmd: Sequence[str]) -> str:
    try:
        out = subprocess.run(list(cmd), capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0] if text else "?"


def machine_info() -> dict[str, object]:
    try:
        nginx = version_of([nginx_binary(), "-v"])
    except StartError:
        nginx = "?"
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "kernel": os.uname().release,
        # Other work on the machine skews every row; a high figure here explains a noisy run.
        "loadavg_at_start": round(os.getloadavg()[0], 2),
        "nginx": nginx,
        "wrk": version_of(["wrk", "-v"]).split(" [")[0] if shutil.which("wrk") else "?",
    }
