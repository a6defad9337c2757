#!/usr/bin/env bash
# Run every benchmark with its default (CI-sized) settings; results land in bench/results/.
# See bench/README.md for what each measures and the numbers recorded so far.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PYTHON:-python3}"
for script in poll_cpu fleet_cpu monitor_fleet storage_ingest web_bench exporters_bench; do
    if [ -f "bench/$script.py" ]; then
        echo "== bench/$script.py"
        "$PY" "bench/$script.py" "$@"
    fi
done
