#!/bin/sh
# Container entry point.
# - With a command (docker run IMAGE powermonitor ...), run it.
# - With PLUGID set, the original one-shot poll (PLUGIP, PLUGKEY, PLUGINVERS/PLUGVERS, PLUGJSON).
# - Otherwise the service: config and database under /data; the dashboard where the config's
#   [web] listen says, else on 0.0.0.0:8000 (POWERMONITOR_LISTEN overrides both).
set -e
if [ "$#" -gt 0 ]; then
    exec "$@"
fi
if [ -n "${PLUGID:-}" ]; then
    exec powermonitor poll
fi
config="${POWERMONITOR_CONFIG:-/data/config.toml}"
# A [web] section decides the address itself ([web] listen, or $POWERMONITOR_LISTEN, which
# wins over it); without one, listen on all interfaces: inside a container 127.0.0.1 is
# unreachable from the published port.
if [ -z "${POWERMONITOR_LISTEN:-}" ] && [ -r "$config" ] && grep -q '^[[:space:]]*\[web\]' "$config"; then
    exec powermonitor run --config "$config" --db "${POWERMONITOR_DB:-/data/powermonitor.db}"
fi
exec powermonitor run \
    --config "$config" \
    --db "${POWERMONITOR_DB:-/data/powermonitor.db}" \
    --listen "${POWERMONITOR_LISTEN:-0.0.0.0:8000}"
