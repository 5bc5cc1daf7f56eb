#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh machine, then runs it (lint, types, tests).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
# mitmproxy (the network-level chaos tests) in an environment of its own: its pins clash with ours.
if [ ! -x .venv/tools-mitmproxy/bin/mitmdump ]; then
  python3 -m venv .venv/tools-mitmproxy
  .venv/tools-mitmproxy/bin/python -m pip install -q 'mitmproxy>=11,<12'
fi

# The speech tests make and check real audio with espeak-ng and sox (MP3 through libsox-fmt-mp3).
audio=()
command -v espeak-ng >/dev/null 2>&1 || audio+=(espeak-ng)
command -v sox >/dev/null 2>&1 || audio+=(sox)
sox -h 2>/dev/null | grep -qw mp3 || audio+=(libsox-fmt-mp3)
if [ ${#audio[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${audio[@]}" >/dev/null \
    || { $sudo apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${audio[@]}" >/dev/null; }
fi

# The PostgreSQL and Redis tests use the real servers on loopback; start them if they have stopped.
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if command -v redis-server >/dev/null 2>&1 && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi

.venv/bin/ruff check src tests bench
.venv/bin/mypy
exec .venv/bin/pytest -q "$@"
