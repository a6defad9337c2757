"""The configuration sits below what consumes it: loading a config pulls in no alerts code."""

from __future__ import annotations

import os
import subprocess
import sys


def test_importing_the_config_pulls_in_no_alerts_engine_or_notifiers() -> None:
    code = ("import sys, powermonitor.config, powermonitor.config.alerts\n"
            "print(','.join(sorted(m for m in sys.modules if m.startswith('powermonitor.alerts'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env=os.environ)
    assert result.stdout.strip() == ""
