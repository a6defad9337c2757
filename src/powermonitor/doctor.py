"""``powermonitor doctor``: find out why a plug does not read, and blame the right thing.

Each check yields :class:`Finding` rows (one verdict line each, with what to do). The checks go
from the network up, and a later check only runs when it can tell something new:

1. **TCP**: refused (nothing listens: wrong IP or the plug is off), no answer (host down or
   filtered), or open.
2. **Versions**: each candidate protocol version on its own connection, closed before the
   next (plugs take one client at a time). Outcomes are classified by error *type*: answered;
   accepted then closed (busy: another app holds the plug's only connection); answered but
   failed the integrity check (wrong key); no answer (silent); not Tuya frames; a flood.
3. **Second connection**: while one connection is open, does the plug serve another? Real plugs
   usually do not, which is why another app makes the plug look busy.
4. **Broadcasts**: the plug's UDP beacon (its current IP, version and product id).
5. **Profile and physics**: which mapping, profile or guess reads its DPs, and what physics
   says about the numbers (``dps/``).

The verdict's exit code is the one ``poll`` would give for the main fault (README "Exit
codes"); 0 when the plug reads.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from .client.device import TuyaDevice
from .discovery import Discovery
from .dps import DpMapping, interpret, profile_for
from .errors import (
    DeviceReportedError,
    DeviceTimeoutError,
    KeyOrVersionError,
    LimitExceededError,
    PlugBusyError,
    PowermonitorError,
    ProtocolError,
    UnreachableError,
)
from .models import DeviceInfo, mask_key
from .protocol.versions import AUTO_ORDER

__all__ = ["Finding", "Target", "diagnose", "exit_code"]

Status = Literal["ok", "info", "warn", "fail"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One verdict: what was checked, how it went, and what to do (in ``message``)."""

    check: str
    status: Status
    message: str
    exit_code: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status, "message": self.message,
                "exit_code": self.exit_code}


@dataclass(frozen=True, slots=True)
class Target(DeviceInfo):
    """The plug to examine (from the command line or the config): how to reach it, plus what
    helps read its data points."""

    product_id: str = ""
    mapping: DpMapping | None = None


# Outcome of one version attempt, by error type (first match wins): (kind, exit code, text).
_OUTCOMES: tuple[tuple[type[PowermonitorError], str, int, str], ...] = (
    (PlugBusyError, "busy", 8, "accepted the connection, then closed it without answering"),
    (KeyOrVersionError, "key", 5, "answered, but the reply failed its integrity check"),
    (DeviceTimeoutError, "silent", 4, "accepted the connection but never answered"),
    (LimitExceededError, "flood", 7, "flooded us (too many data points or pushes)"),
    (ProtocolError, "junk", 7, "answered with bytes that are not Tuya frames"),
    (DeviceReportedError, "device", 6, "answered with an error"),
    (UnreachableError, "dropped", 3, "dropped the connection"),
)

# The main fault when no version worked (see _main_fault).
_VERDICTS: dict[str, str] = {
    "key": "the plug answers, but every reply fails the integrity check: the local key {key} "
           "is wrong (or stale after re-pairing): get it again (`powermonitor wizard`, or "
           "tinytuya's devices.json) and set it (`powermonitor devices set NAME --key -`)",
    "busy": "busy: the plug accepts connections and closes them at once: another app may be "
            "connected — close Smart Life/Home Assistant/powermonitor run, or poll through it",
    "flood": "the plug floods every connection (too many data points or pushes): a firmware "
             "fault; power-cycle the plug",
    "junk": "something answers on {host}:{port}, but not a Tuya plug: check the IP "
            "(`powermonitor scan`)",
    "silent": "the plug accepts connections but never answers (waited {timeout:g} s per "
              "version): another app may hold it, or it needs a power cycle",
    "device": "the plug reports an error to every request: try another protocol version",
    "dropped": "the plug drops every connection: power-cycle it, and check Wi-Fi signal",
}


def _main_fault(failures: dict[str, list[str]]) -> str:
    """What explains the failures. The first version tried (3.3, the commonest, or the given
    one) shows the socket's nature: junk, flood and silence do not depend on the version, and
    3.4/3.5 handshakes fail as "integrity" against such a plug, so they are no evidence of a
    wrong key. A plug that only drops or closes on the first version may speak another one: an
    integrity failure on another version then points at the key."""
    first = next(iter(failures), "")
    if first in ("busy", "dropped") and "key" in failures:
        return "key"
    return first


def _classify(exc: PowermonitorError) -> tuple[str, int, str]:
    for kind_type, kind, code, text in _OUTCOMES:
        if isinstance(exc, kind_type):
            return kind, code, text
    return "error", exc.exit_code, str(exc)


async def _tcp(target: Target, timeout: float) -> Finding:
    where = f"{target.host}:{target.port}"
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(target.host, target.port)
    except ConnectionRefusedError:
        return Finding("tcp", "fail", f"{where} refused the connection: nothing listens there — "
                       "wrong IP (find the plug with `powermonitor scan`) or the plug is off", 3)
    except TimeoutError:
        return Finding("tcp", "fail", f"no answer from {where} within {timeout:g} s: the host is "
                       "down, asleep or filtered — check the IP and the plug's Wi-Fi", 3)
    except OSError as exc:
        return Finding("tcp", "fail", f"cannot reach {where}: {exc.strerror or exc} — check the "
                       "IP and that this machine is on the plug's network", 3)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return Finding("tcp", "ok", f"{where} accepts TCP connections")


def _candidates(target: Target) -> list[str]:
    if target.version != "auto":
        return [target.version]
    return [v for v in AUTO_ORDER if v == "3.1" or len(target.local_key) == 16]


def _device(target: Target, version: str, timeout: float) -> TuyaDevice:
    return TuyaDevice(target.device_id, target.host, target.local_key, version,
                      port=target.port, timeout=timeout)


async def _try_version(target: Target, version: str, timeout: float
                       ) -> tuple[dict[str, Any] | None, PowermonitorError | None]:
    device = _device(target, version, timeout)
    try:
        await device.connect()
        dps = await device.status()
    except PowermonitorError as exc:
        return None, exc
    finally:
        await device.close()
    return dict(dps), None


async def _second_connection(target: Target, version: str, timeout: float) -> Finding:
    first = _device(target, version, timeout)
    second = _device(target, version, min(timeout, 2.0))
    try:
        await first.connect()
        await first.status()
        try:
            await second.connect()
            await second.status()
        except PowermonitorError as exc:
            kind = _classify(exc)[0]
            return Finding("second connection", "info",
                           f"while one client is connected the plug refuses another ({kind}), "
                           "as most Tuya plugs do: only one app at a time can read it — poll "
                           "through `powermonitor run` when it is running")
        return Finding("second connection", "info",
                       "the plug serves two clients at once (unusual but fine)")
    except PowermonitorError as exc:
        return Finding("second connection", "warn",
                       f"the plug answered once but not again ({_classify(exc)[2]}): it may be "
                       "unstable — check its Wi-Fi signal")
    finally:
        await second.close()
        await first.close()


async def _broadcasts(target: Target, listen_s: float, listen_host: str,
                      ports: Sequence[int]) -> tuple[Finding, str]:
    """The plug's beacon, if heard within ``listen_s``; returns the product key it announced."""
    heard = asyncio.Event()

    def on_beacon(beacon: Any) -> None:
        if beacon.device_id == target.device_id:
            heard.set()

    disc = Discovery(listen_host=listen_host, ports=ports, on_beacon=on_beacon)
    try:
        await disc.start()
    except PowermonitorError as exc:
        return Finding("broadcast", "info", f"cannot listen for broadcasts ({exc}); skipped"), ""
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(listen_s):
                await heard.wait()
    finally:
        beacons = await disc.stop()
    beacon = next((b for b in beacons if b.device_id == target.device_id), None)
    if beacon is None:
        return Finding("broadcast", "info",
                       f"no broadcast from this plug in {listen_s:g} s (normal when this machine "
                       "is on another subnet or in a container without host networking)"), ""
    if beacon.ip != target.host:
        return Finding("broadcast", "warn",
                       f"the plug broadcasts from {beacon.ip}, not {target.host}: its IP changed "
                       "— update it (`powermonitor devices set NAME --host "
                       f"{beacon.ip}`) and reserve it in the router"), beacon.product_key
    return Finding("broadcast", "ok",
                   f"broadcasts heard (protocol {beacon.version}, product id "
                   f"{beacon.product_key or 'none'})"), beacon.product_key


def _readings(target: Target, dps: dict[str, Any], version: str, product_id: str
              ) -> list[Finding]:
    reading = interpret(dps, device_id=target.device_id, timestamp=datetime.now(UTC),
                        protocol=version, mapping=target.mapping, product_id=product_id or None)
    source = reading.source
    out: list[Finding] = []
    if source.startswith("mapping"):
        out.append(Finding("profile", "ok", f"DPs read with the configured {source}"))
    elif source.startswith("profile"):
        profile = profile_for(product_id)
        name = profile.name if profile else ""
        out.append(Finding("profile", "ok", f"product id {product_id}: known model ({name}, "
                                            f"{source})"))
    else:
        known = f"product id {product_id} is not in the profile table" if product_id else \
            "no product id known"
        out.append(Finding("profile", "info" if source != "none" else "warn",
                           f"{known}: DPs read by {source}; if numbers are null, add a mapping "
                           "(`powermonitor wizard`, or import tinytuya's devices.json) or set "
                           "the product id (`powermonitor devices set NAME --product-id P`)"))
    for note in reading.notes:
        out.append(Finding("physics", "warn", note))
    if not reading.has_power_data:
        out.append(Finding("physics", "info", f"this plug reports no power data (DPs: "
                                              f"{', '.join(sorted(dps)) or 'none'})"))
    elif not reading.notes:
        parts = [f"{v:g} {u}" for v, u in ((reading.voltage_v, "V"), (reading.power_w, "W"),
                                           (reading.current_a, "A")) if v is not None]
        out.append(Finding("physics", "ok", f"readings are plausible: {', '.join(parts)}"))
    return out


async def diagnose(
    target: Target,
    *,
    timeout: float = 5.0,
    listen_s: float = 6.0,
    listen_host: str = "0.0.0.0",
    beacon_ports: Sequence[int] = (6666, 6667),
) -> list[Finding]:
    """Every finding about ``target``, in check order (network first)."""
    findings = [await _tcp(target, timeout)]
    works: tuple[str, dict[str, Any]] | None = None
    failures: dict[str, list[str]] = {}
    if findings[0].status == "ok":
        for version in _candidates(target):
            dps, exc = await _try_version(target, version, timeout)
            if exc is None and dps is not None:
                findings.append(Finding(f"protocol {version}", "ok", "answers with this key"))
                works = (version, dps)
                break
            assert exc is not None
            kind, _, text = _classify(exc)
            failures.setdefault(kind, []).append(version)
            findings.append(Finding(f"protocol {version}", "info", text))
        if works is None:
            kind = _main_fault(failures)
            code = next(c for t, k, c, _ in _OUTCOMES if k == kind) if kind else 1
            text = _VERDICTS.get(kind, "no protocol version worked").format(
                key=mask_key(target.local_key), host=target.host, port=target.port,
                timeout=timeout)
            findings.append(Finding("verdict", "fail", text, code))
        else:
            findings.append(await _second_connection(target, works[0], timeout))
    product_id = target.product_id
    if listen_s > 0:
        finding, heard_product = await _broadcasts(target, listen_s, listen_host, beacon_ports)
        findings.append(finding)
        product_id = product_id or heard_product
    if works is not None:
        findings.extend(_readings(target, works[1], works[0], product_id))
    return findings


def exit_code(findings: Sequence[Finding]) -> int:
    """The exit code of the first failing finding (0 when nothing failed)."""
    return next((f.exit_code for f in findings if f.status == "fail"), 0)
