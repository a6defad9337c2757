#!/usr/bin/env bash
# Install everything the test suite needs, including the interop oracles:
#   - this package in editable mode with its [test] extra (pytest, hypothesis,
#     tinytuya==1.20.0, rustuya, ...)
#   - tuyamock 0.0.6 WITHOUT its dependencies: it pins tinytuya==1.18.1, and a
#     normal install would downgrade tinytuya; it runs fine on 1.20.0
#   - tuyapi 7.7.1 (Node) in tests/interop/node from the committed lock file
# Idempotent; run from anywhere (it cds to the repo root). Debian packages need root.
# Usage: install-test-deps.sh [system|python|all]   (default all)
#   system  Debian services, Node and npm, and python3-venv when $PYTHON lacks venv/ensurepip
#   python  the Python packages into $PYTHON's environment (./run test passes .venv's python),
#           and tuyapi from npm
# Env: PYTHON (default python3).
set -euo pipefail
phase="${1:-all}"
case "$phase" in system|python|all) ;; *) echo "usage: $0 [system|python|all]" >&2; exit 2 ;; esac

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

PYTHON="${PYTHON:-python3}"
log() { printf '[install-test-deps] %s\n' "$*"; }

apt_updated=0
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        log "missing $* and no apt-get: install it by hand" >&2
        exit 1
    fi
    if [ "$apt_updated" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [ "$phase" != python ]; then
# ---------------------------------------------------------------- Debian services
# Real components the tests start on loopback: PostgreSQL, mosquitto, Chromium (driven by
# Playwright), promtool (prometheus) and InfluxDB 1.x. Installed only where missing.
need_apt=()
have_pg() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }
have_pg || need_apt+=(postgresql)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto mosquitto-clients)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v influxd >/dev/null 2>&1 || [ -x /usr/bin/influxd ] || need_apt+=(influxdb)
if [ "${#need_apt[@]}" -gt 0 ]; then
    apt_install "${need_apt[@]}"
fi
# Debian starts some of these as system services on install; the tests run their own copies
# on free ports, so stop the system ones (quietly: there may be no init system at all).
for svc in mosquitto prometheus influxdb postgresql; do
    (service "$svc" stop || systemctl stop "$svc") >/dev/null 2>&1 || true
done

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    apt_install python3 python3-venv
fi
# ./run makes a virtual environment; Debian/Ubuntu ship venv's pip bootstrap separately.
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    minor="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    apt_install python3-venv "python$minor-venv"
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
fi
fi  # system

if [ "$phase" = system ]; then
    log "done (system)"
    exit 0
fi

# ---------------------------------------------------------------- Python
if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    apt_install python3-pip
fi
# A Debian system Python refuses pip installs (PEP 668) unless told otherwise. ./run installs
# into .venv; run alone on a disposable dev/CI machine, this script may use the system's.
if "$PYTHON" - <<'EOF'
import os, sys, sysconfig
in_venv = sys.prefix != sys.base_prefix
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
sys.exit(0 if not in_venv and os.path.exists(marker) else 1)
EOF
then
    log "externally managed Python: setting PIP_BREAK_SYSTEM_PACKAGES=1"
    export PIP_BREAK_SYSTEM_PACKAGES=1
fi

pip_install() {
    "$PYTHON" -m pip install --disable-pip-version-check --progress-bar off -q "$@"
}

log "pip install -e '.[test]'"
pip_install -e '.[test]'
pip_install -e '.[cloud]'  # wizard qr tests: tuya-device-sharing-sdk, qrcode

log "pip install --no-deps tuyamock==0.0.6"
pip_install --no-deps 'tuyamock==0.0.6'
# tuyamock imports tinytuya internals only; tinytuya's own runtime deps are
# requests, colorama, cryptography (normally pulled in by tinytuya already).
pip_install requests colorama cryptography

"$PYTHON" - <<'EOF'
from importlib.metadata import version
import tinytuya, tuyamock, rustuya  # noqa: F401  (import check)
got = {d: version(d) for d in ("tinytuya", "tuyamock", "rustuya")}
assert got["tinytuya"] == "1.20.0", f"tinytuya must be 1.20.0 (tuyamock may have downgraded it): {got}"
assert got["tuyamock"] == "0.0.6", got
print("[install-test-deps] python oracles:", ", ".join(f"{k} {v}" for k, v in got.items()))
EOF

# ---------------------------------------------------------------- Node
node_dir="tests/interop/node"
log "npm in $node_dir (node $(node --version), npm $(npm --version))"
if [ -f "$node_dir/package-lock.json" ]; then
    (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
else
    (cd "$node_dir" && npm install --no-audit --no-fund --loglevel=error)
fi
tuyapi_version="$(cd "$node_dir" && node -p "require('tuyapi/package.json').version")"
if [ "$tuyapi_version" != "7.7.1" ]; then
    log "tuyapi must be 7.7.1, got $tuyapi_version" >&2
    exit 1
fi
log "node oracle: tuyapi $tuyapi_version"
log "done"
