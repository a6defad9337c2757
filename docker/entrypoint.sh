#!/bin/sh
# Container entry point.
# - With a command (docker run IMAGE powermonitor ...), run it.
# - With PLUGID set, the original one-shot poll (PLUGIP, PLUGKEY, PLUGINVERS/PLUGVERS, PLUGJSON).
# - Otherwise the service: config and database under /data, dashboard on port 8000.
set -e
if [ "$#" -gt 0 ]; then
    exec "$@"
fi
if [ -n "${PLUGID:-}" ]; then
    exec powermonitor poll
fi
exec powermonitor run \
    --config "${POWERMONITOR_CONFIG:-/data/config.toml}" \
    --db "${POWERMONITOR_DB:-/data/powermonitor.db}" \
    --listen "${POWERMONITOR_LISTEN:-0.0.0.0:8000}"
