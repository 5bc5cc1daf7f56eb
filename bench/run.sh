#!/usr/bin/env bash
# One command for the whole benchmark: installs what it needs, then runs bench/run.py.
#   bash bench/run.sh [--duration 8] [--quick] [--soak N] [--only NAME[,NAME]]
set -euo pipefail
cd "$(dirname "$0")/.."

# The load generator, the upstream, Redis for the shared-state row, and taskset for pinning.
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v taskset >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "bench: installing ${missing[*]}" >&2
    # Refresh the package lists only when the install fails without it (fresh images ship none).
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}" >/dev/null \
        || { $sudo apt-get update -q >/dev/null \
             && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}" >/dev/null; }
fi

if [ ! -x .venv/bin/python ]; then
    echo "bench: creating .venv and installing the project" >&2
    python3 -m venv .venv
    .venv/bin/pip install -q -e '.[test]'
fi

exec .venv/bin/python bench/run.py "$@"
