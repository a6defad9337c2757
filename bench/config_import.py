"""``devices import`` of a large tinytuya devices.json: time for N plugs (issue 10 #14).

    PYTHONPATH=src python bench/config_import.py --count 20000

Writes a devices.json of N plugs (distinct ids, names, addresses), runs
``powermonitor devices import`` on it into an empty config file, as a real process, and
reports the wall time and how many plugs the saved file holds. The phases (read+check,
merge, save) are timed in-process too, to show where the time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from powermonitor.config import Config, import_devices, load_config, merge_plugs, save_config


def devices(count: int) -> list[dict[str, object]]:
    return [{"name": f"plug {n}", "id": f"bf{n:018d}", "ip": f"10.{n // 65536}.{n // 256 % 256}."
             f"{n % 256}", "key": f"{n:016d}", "version": "3.3"} for n in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "devices.json"
        source.write_text(json.dumps(devices(args.count)))
        target = Path(tmp) / "config.toml"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "powermonitor", "devices", "import", str(source),
                        "--config", str(target)], check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ})
        process_s = time.perf_counter() - started
        saved = len(load_config(target).plugs)

        t0 = time.perf_counter()
        result = import_devices(source)
        t1 = time.perf_counter()
        merged, _ = merge_plugs(Config(path=Path(tmp) / "again.toml"), result.plugs)
        t2 = time.perf_counter()
        save_config(merged)
        t3 = time.perf_counter()
    print(f"| {args.count} plugs | `devices import` process {process_s:.2f} s | read+check "
          f"{t1 - t0:.2f} s | merge {t2 - t1:.2f} s | save (render + re-validate + write) "
          f"{t3 - t2:.2f} s | saved {saved} |")


if __name__ == "__main__":
    main()
