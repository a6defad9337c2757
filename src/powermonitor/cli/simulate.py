"""``powermonitor simulate``: serve simulated plugs on loopback so anyone can try the tool.

The devices file (tinytuya devices.json field names plus ``port``) is written only once every
plug accepts connections, so scripts can wait for the file and then connect.
"""

from __future__ import annotations

import click
from rich.console import Console

from ..errors import PowermonitorError, UsageError
from ..models import mask_key
from ..protocol.versions import normalize_version
from ..simulator.beacons import BeaconSender
from ..simulator.latency import Latency, parse_latency
from ..simulator.layouts import LAYOUTS
from ..simulator.profiles import make_profile
from ..simulator.server import FAULTS, Faults, Fleet, check_loopback, fleet_specs
from ..simulator.spec import load_spec
from . import runtime
from .paths import default_devices_file
from .render import Column, table


def split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def plug_numbers(value: str, option: str) -> set[int]:
    """1-based plug numbers ("1,3") to 0-based indexes."""
    try:
        return {int(i) - 1 for i in split_list(value)}
    except ValueError:
        raise UsageError(f"{option} takes plug numbers such as 1,3") from None


def build_fleet(
    count: int, protocol: str, layout: str, profile: str, host: str, base_port: int,
    address_per_plug: bool, seed: int, push_interval: float, idle_timeout: float,
    time_scale: float, faults: Faults, fault_plugs: str, device22: str = "",
    spec_file: str | None = None, latency: Latency | None = None,
) -> Fleet:
    try:
        check_loopback(host)
    except PowermonitorError as exc:
        raise UsageError(str(exc)) from None
    versions = [normalize_version(v) for v in split_list(protocol)]
    if "auto" in versions or not versions:
        raise UsageError("--protocol takes versions such as 3.1,3.3,3.4,3.5 (not auto)")
    layouts = split_list(layout)
    for name in layouts:
        if name not in LAYOUTS:
            raise UsageError(f"unknown DP layout {name!r}; known: {', '.join(LAYOUTS)}")
    profiles = split_list(profile)
    for spec in profiles:
        try:
            make_profile(spec, 0)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if spec_file is not None:  # the plugs are described by the file, not the options
        specs = load_spec(spec_file)
        count = len(specs)
    else:
        specs = fleet_specs(count, versions, layouts, profiles, seed=seed,
                            device22=plug_numbers(device22, "--device22"))
    chosen = plug_numbers(fault_plugs, "--fault-plugs") if fault_plugs else set(range(count))
    fault_map = {i: faults for i in chosen} if faults != Faults() else {}
    return Fleet(
        specs, host=host, base_port=base_port, address_per_plug=address_per_plug,
        faults=fault_map, idle_timeout=idle_timeout, push_interval=push_interval,
        time_scale=time_scale, latency=latency or Latency(),
    )


FLEET_COLUMNS = (
    Column("name", "Name"), Column("id", "Id", "id"), Column("address", "Address"),
    Column("version", "Version"), Column("layout", "Layout"), Column("profile", "Profile"),
    Column("key", "Key"),
)
SHOWN = 50  # plugs listed; the devices file has them all


def print_fleet(fleet: Fleet, devices_file: str, console: Console) -> None:
    rows = []
    for server in fleet.servers[:SHOWN]:
        e = server.device_entry()
        rows.append({**e, "address": f"{e['ip']}:{e['port']}", "key": mask_key(e["key"], compact=True)})
    console.print(table(rows, FLEET_COLUMNS, title=f"{len(fleet.servers)} simulated plugs"))
    if len(fleet.servers) > SHOWN:
        console.print(f"... and {len(fleet.servers) - SHOWN} more")
    console.print(f"devices file: {devices_file}", highlight=False)
    console.print("Press Ctrl-C to stop.")


@click.command("simulate")
@click.option("--count", "-n", type=click.IntRange(1, 5000), default=3, show_default=True,
              help="Number of plugs.")
@click.option("--protocol", default="3.3", show_default=True,
              help="Protocol versions to cycle through, e.g. 3.1,3.3,3.4,3.5.")
@click.option("--layout", default="cz", show_default=True,
              help=f"DP layouts to cycle through: {', '.join(LAYOUTS)}.")
@click.option("--profile", default="fridge,tv,pc,kettle,washer,lamp", show_default=True,
              help="Load profiles to cycle through, e.g. constant:100,square:1000:0:600:0.5.")
@click.option("--spec", "spec_file", type=click.Path(dir_okay=False), default=None,
              help="Serve the plugs described in this JSON file (a list of {id, key, version, "
                   "product_key, dps}) instead of --count/--protocol/--layout/--profile.")
@click.option("--devices-file", type=click.Path(dir_okay=False), default=None,
              help=f"Where to write the devices file [default: {default_devices_file()}].")
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address.")
@click.option("--base-port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="First TCP port (0: any free port per plug).")
@click.option("--address-per-plug", is_flag=True,
              help="Give each plug its own 127.0.0.x address on port 6668, like a real LAN.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of ids, keys and loads.")
@click.option("--push-interval", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Push power values to a connected client every N seconds (0: only on change).")
@click.option("--idle-timeout", type=click.FloatRange(0), default=30.0, show_default=True,
              help="Drop a client connection after N silent seconds, as real plugs do.")
@click.option("--time-scale", type=click.FloatRange(0.001), default=1.0, show_default=True,
              help="Simulated seconds per real second for the load profiles.")
@click.option("--latency", "latency_text", default="0ms", show_default=True,
              help="Every plug answers after this, like a real plug over Wi-Fi: 5ms, 0.02s, or "
                   "a range 5ms..20ms (uniform jitter). A spec file's \"latency\" wins.")
@click.option("--delay", type=click.FloatRange(0), default=0.0, help="Fault: reply delay (s).")
@click.option("--drop-after", type=click.IntRange(0), default=0,
              help="Fault: close each connection after N requests.")
@click.option("--garbage", type=click.FloatRange(0, 1), default=0.0,
              help="Fault: probability of junk bytes before a reply.")
@click.option("--silent", is_flag=True, help="Fault: accept connections but never answer.")
@click.option("--fault", "fault_names", multiple=True, type=click.Choice(list(FAULTS)),
              help="Fault to inject (repeatable): busy (accept, then close), silent, wrong-key, "
                   "junk (answer with non-Tuya bytes), dp-flood (push ever-new DP ids), "
                   "push-flood (push as fast as possible).")
@click.option("--fault-plugs", default="", help="Plug numbers (1-based) the faults apply to.")
@click.option("--device22", "device22", default="",
              help="Plug numbers (1-based) that answer like device22 firmware (3.2 plugs always do).")
@click.option("--beacons", is_flag=True,
              help="Announce the plugs with UDP beacons on loopback, so `scan` finds them.")
@click.option("--beacon-interval", type=click.FloatRange(0.1), default=5.0, show_default=True,
              help="Seconds between two beacons of a plug.")
@click.option("--beacon-address", default="127.0.0.1", show_default=True,
              help="Loopback address the beacons are sent to.")
@click.option("--beacon-port-31", type=click.IntRange(1, 65535), default=6666,
              show_default=True, help="UDP port of 3.1 plugs' beacons.")
@click.option("--beacon-port-33", type=click.IntRange(1, 65535), default=6667,
              show_default=True, help="UDP port of 3.2-3.4 plugs' beacons.")
@click.option("--beacon-port-35", type=click.IntRange(1, 65535), default=6667,
              show_default=True, help="UDP port of 3.5 plugs' beacons.")
@click.option("--probe-port", type=click.IntRange(0, 65535), default=7000, show_default=True,
              help="With --beacons, answer `scan --probe` requests on this loopback UDP port "
                   "(0: do not answer).")
def simulate_command(
    count: int, protocol: str, layout: str, profile: str, spec_file: str | None,
    devices_file: str | None, host: str,
    base_port: int, address_per_plug: bool, seed: int, push_interval: float,
    idle_timeout: float, time_scale: float, latency_text: str, delay: float, drop_after: int,
    garbage: float,
    silent: bool, fault_names: tuple[str, ...], fault_plugs: str, device22: str, beacons: bool,
    beacon_interval: float,
    beacon_address: str, beacon_port_31: int, beacon_port_33: int, beacon_port_35: int,
    probe_port: int,
) -> None:
    """Serve simulated Tuya plugs on loopback until Ctrl-C or SIGTERM."""
    faults = Faults.named(fault_names, delay_s=delay, drop_after=drop_after, garbage=garbage,
                          silent=silent)
    latency = parse_latency(latency_text)
    path = devices_file or str(default_devices_file())

    async def main() -> None:
        stop = runtime.StopSignal()  # before the devices file announces that we are ready
        fleet = build_fleet(count, protocol, layout, profile, host, base_port, address_per_plug,
                            seed, push_interval, idle_timeout, time_scale, faults, fault_plugs,
                            device22, spec_file, latency)
        try:
            await fleet.start()
        except OSError as exc:
            await fleet.stop()
            raise UsageError(f"cannot listen on {host}: {exc.strerror or exc}") from None
        try:
            written = fleet.write_devices_file(path)
        except OSError as exc:
            await fleet.stop()
            raise UsageError(f"cannot write the devices file {path}: {exc.strerror}") from None
        sender: BeaconSender | None = None
        if beacons:
            try:
                sender = BeaconSender(
                    fleet, interval=beacon_interval, address=beacon_address,
                    port_31=beacon_port_31, port_33=beacon_port_33, port_35=beacon_port_35,
                    answer_probes=probe_port != 0, probe_port=probe_port or 7000,
                )
                await sender.start()
            except PowermonitorError as exc:
                await fleet.stop()
                raise UsageError(f"cannot send beacons: {exc}") from None
        console = Console(stderr=False)
        print_fleet(fleet, str(written), console)
        if latency:
            console.print(f"every plug answers after {latency}", highlight=False)
        if sender is not None:
            console.print(
                f"beacons every {beacon_interval:g} s to {beacon_address} (UDP {beacon_port_31} "
                f"for 3.1, {beacon_port_33} for 3.2-3.4, {beacon_port_35} for 3.5)"
                + (f"; answering scan --probe on UDP 127.0.0.1:{sender.probe_port}"
                   if probe_port else "")
            )
        try:
            await stop.wait()
        finally:
            stop.close()
            if sender is not None:
                await sender.stop()
            await fleet.stop()

    runtime.run(main())
