#!/usr/bin/env bash
# What compiling our client's per-poll path buys, on the neutral harness: a trial, not a build.
#
# mypyc (mypy's compiler, from PyPI) compiles the modules a poll runs through, unchanged, in a
# scratch copy of src/; the harness then runs with that copy first on PYTHONPATH, beside the
# peers. Nothing in the repository changes. bench/README.md ("Issue 13, session 4") has the
# result and why it does not decide the client targets.
#
#   bash bench/peers/compiled_trial.sh                 # scratch under /tmp/pm-compiled, ~4 min
#   bash bench/peers/compiled_trial.sh --repeat 1 --scenarios single    # extra run_bench args
#
# PEERBENCH_DIR: the harness (default ../shared/bench-peers); its venvs from its setup.sh.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="${COMPILED_TRIAL_DIR:-/tmp/pm-compiled}"
harness="${PEERBENCH_DIR:-$repo/../shared/bench-peers}"
modules=(
    protocol/commands.py protocol/connection.py protocol/crypto.py protocol/events.py
    protocol/frames.py protocol/payload.py protocol/versions.py transport/tcp.py
    client/device.py client/plug.py client/turns.py dps/interpret.py
)

if [ ! -x "$work/venv/bin/mypyc" ]; then
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install -q mypy setuptools "$repo"  # the dependencies, and mypyc
fi
rm -rf "$work/src" && cp -r "$repo/src" "$work/src" && find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
(cd "$work/src" && "$work/venv/bin/mypyc" "${modules[@]/#/powermonitor/}" >"$work/mypyc.log")
PYTHONPATH="$work/src" "$work/venv/bin/python" -c \
    'import powermonitor.client.device as d; assert d.__file__.endswith(".so"), d.__file__'
mkdir -p "$repo/bench/results"
PYTHONPATH="$work/src" PEERBENCH_POWERMONITOR_PYTHON="$work/venv/bin/python" \
    python3 "$harness/run_bench.py" --clients powermonitor,powermonitor-device,rustuya,tinytuya \
    --out "$repo/bench/results/peers_compiled_trial_$(date +%F).json" "$@"
