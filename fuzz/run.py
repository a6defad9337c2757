"""Coverage-guided fuzzing with atheris: ``python fuzz/run.py TARGET [libFuzzer flags]``.

TARGET is one of fuzz/targets.py's (frames, payloads, beacons). A crash is any exception but a
typed protocol error; libFuzzer saves the input as ``crash-*`` for a regression test.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))

with atheris.instrument_imports(include=["powermonitor"]):
    import targets


def main() -> None:
    name = sys.argv.pop(1)
    atheris.Setup(sys.argv, targets.TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
