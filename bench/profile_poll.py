"""Where does our client's (and our simulator's) time per status poll go?

Layers, each measured as CPU per poll (time.process_time, medians of several runs):

  A. sans-IO client: ``Connection.query()`` + ``Connection.receive_data(reply)`` in memory
     (no loop, no socket), with the primitives it is made of (JSON, AES, HMAC/GCM, framing);
  B. ``TuyaDevice.status()`` on a running loop over an in-memory link (the reply is delivered
     with ``loop.call_soon``; no syscalls): adds the asyncio request machinery
     (Lock, asyncio.timeout, Future, dispatch, dict copy);
  C. ``TuyaDevice.status()`` over real loopback TCP to our simulator pinned to the other core:
     adds the event loop's select/wake-up and the socket syscalls;
  D. simulator side in memory: ``_Session.data_received(query)`` with a fake transport, and its
     parts (``SimulatedPlug.dps()``, device ``receive_data``, ``status_reply``);
  E. first poll phases (TCP connect / 3.4 handshake / first status) against our simulator and
     tuyamock.

Then cProfile tables (top functions by own time) of B/C's real-socket loop and of D, and a
pyinstrument sampling profile of C if pyinstrument is installed. Results go to
bench/results/profile_poll_<ver>_<loop>.md/.json (+ _pyinstrument.txt, wall-clock samples).

    taskset -c 0 python3 bench/profile_poll.py                  # 3.4, default loop, ~40 s
    python3 bench/profile_poll.py --version 3.5 --uvloop
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

C.ensure_importable()

from powermonitor.client.device import TuyaDevice
from powermonitor.protocol import events as ev
from powermonitor.protocol.commands import Cmd
from powermonitor.protocol.connection import Connection, Role
from powermonitor.protocol.payload import dumps as _dumps
from powermonitor.simulator.plug import SimulatedPlug
from powermonitor.simulator.server import PlugServer, _Session, fleet_specs

T = 1_764_000_000


def per_call_us(fn: Callable[[], Any], n: int, repeat: int = 5) -> float:
    """Median over ``repeat`` runs of CPU µs per call of ``fn`` (n calls per run)."""
    for _ in range(min(n, 200)):
        fn()
    runs = []
    for _ in range(repeat):
        c0 = time.process_time()
        for _ in range(n):
            fn()
        runs.append((time.process_time() - c0) / n * 1e6)
    return C.median(runs)


def pair(version: str) -> tuple[Connection, Connection, SimulatedPlug]:
    """A client and a device Connection with the 3.4/3.5 session negotiated in memory."""
    spec = fleet_specs(1, (version,))[0]
    plug = SimulatedPlug(spec)
    cli = Connection(Role.CLIENT, version, spec.local_key, spec.device_id)
    dev = Connection(Role.DEVICE, version, spec.local_key, spec.device_id)
    out = cli.start()
    while out:
        dev.receive_data(out)
        back = dev.data_to_send()
        if not back:
            break
        cli.receive_data(back)
        out = cli.data_to_send()
        if out:
            dev.receive_data(out)
            out = dev.data_to_send()
    return cli, dev, plug


# ------------------------------------------------------------------ A. sans-IO client


def layer_a(version: str, n: int) -> dict[str, float]:
    cli, dev, plug = pair(version)
    query = cli.query(T)
    (req,) = dev.receive_data(query)
    assert isinstance(req, ev.QueryRequest), req
    dps = plug.dps()
    reply = dev.status_reply(req.seqno, req.cmd, dps, T)
    res: dict[str, float] = {}
    res["client: conn.query(t) (build+encrypt+frame)"] = per_call_us(lambda: cli.query(T), n)
    res["client: conn.receive_data(reply) (split+verify+decrypt+json+event)"] = per_call_us(
        lambda: cli.receive_data(reply), n
    )

    def both() -> None:
        cli.query(T)
        cli.receive_data(reply)

    res["client sans-IO total per poll"] = per_call_us(both, n)

    # primitives
    from powermonitor.protocol import crypto, frames

    key = cli.session_key or cli._key
    payload = (
        _dumps({"protocol": 5, "t": T, "data": {}}).encode()
        if version in ("3.4", "3.5")
        else _dumps({"gwId": "x" * 20, "devId": "x" * 20, "uid": "x" * 20, "t": str(T)}).encode()
    )
    body_json = _dumps({"protocol": 4, "t": T, "data": {"dps": dps}}).encode()
    ecb = crypto.EcbCipher(key)
    hm = crypto.HmacSha256(key)
    gcm = crypto.GcmCipher(key)
    enc = ecb.encrypt(body_json)
    res["prim: json dumps of the query payload"] = per_call_us(
        lambda: _dumps({"protocol": 5, "t": T, "data": {}}).encode("utf-8"), n
    )
    res["prim: json.loads of the reply payload"] = per_call_us(lambda: json.loads(body_json), n)
    res["prim: ECB encrypt query (pad+update)"] = per_call_us(lambda: ecb.encrypt(payload), n)
    res["prim: ECB decrypt reply (update+unpad)"] = per_call_us(lambda: ecb.decrypt(enc), n)
    res["prim: HMAC-SHA256 (copy+update+digest) 200 B"] = per_call_us(
        lambda: hm.digest(reply[:-36]), n
    )
    iv = b"\x00" * 12
    sealed = gcm.encrypt(iv, body_json, b"h" * 14)
    res["prim: AES-GCM encrypt 60 B"] = per_call_us(lambda: gcm.encrypt(iv, payload, b"h" * 14), n)
    res["prim: AES-GCM decrypt reply"] = per_call_us(lambda: gcm.decrypt(iv, sealed, b"h" * 14), n)
    fb = frames.FrameBuffer()

    def framing() -> None:
        fb.feed(reply)
        fb.next_frame()

    res["prim: FrameBuffer feed+next_frame"] = per_call_us(framing, n)
    res["prim: time.time() + int()"] = per_call_us(lambda: int(time.time()), n)
    res["prim: frozenset(int(c) for c in {Cmd})"] = per_call_us(
        lambda: frozenset(int(c) for c in {Cmd.DP_QUERY_NEW}), n
    )
    spec = fleet_specs(1, (version,))[0]
    res["connect: Connection(CLIENT) construction (ciphers for the local key)"] = per_call_us(
        lambda: Connection(Role.CLIENT, version, spec.local_key, spec.device_id), n // 4
    )

    def handshake() -> None:
        c = Connection(Role.CLIENT, version, spec.local_key, spec.device_id)
        d = Connection(Role.DEVICE, version, spec.local_key, spec.device_id)
        out = c.start()
        if out:
            d.receive_data(out)
            c.receive_data(d.data_to_send())
            d.receive_data(c.data_to_send())

    res["connect: both Connections + full handshake in memory"] = per_call_us(handshake, n // 4)
    res["prim: os.urandom(12) (3.5 IV)"] = per_call_us(lambda: __import__("os").urandom(12), n)
    return res


# ------------------------------------------------------------------ B. TuyaDevice in memory


class _MemLink:
    """Stands in for TcpLink: every write is answered with a canned reply via call_soon."""

    closed = False

    def __init__(self, device: TuyaDevice, reply: bytes) -> None:
        self._device = device
        self._reply = reply
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        self._loop.call_soon(self._device._data_received, self._reply)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


async def _mem_device(version: str) -> TuyaDevice:
    cli, dev, plug = pair(version)
    (req,) = dev.receive_data(cli.query(T))
    reply = dev.status_reply(req.seqno, req.cmd, plug.dps(), T)
    spec = fleet_specs(1, (version,))[0]
    d = TuyaDevice(spec.device_id, "127.0.0.1", spec.local_key, version, port=1)
    d._conn = cli
    d._closed = asyncio.get_running_loop().create_future()
    d._link = _MemLink(d, reply)  # type: ignore[assignment]
    # what connect() sets up besides the link (attributes of the TuyaDevice in use)
    d._set_wanted_sets()
    if hasattr(d, "_loop"):
        d._loop = asyncio.get_running_loop()
    return d


async def layer_b(version: str, n: int, repeat: int = 5) -> dict[str, Any]:
    d = await _mem_device(version)
    for _ in range(300):
        await d.status()
    runs = []
    for _ in range(repeat):
        c0 = time.process_time()
        for _ in range(n):
            await d.status()
        runs.append((time.process_time() - c0) / n * 1e6)

    # the bare loop cost of "write; await a future resolved by call_soon" (no Tuya code)
    loop = asyncio.get_running_loop()

    async def bare() -> None:
        fut = loop.create_future()
        loop.call_soon(fut.set_result, None)
        await fut

    bare_runs = []
    for _ in range(repeat):
        c0 = time.process_time()
        for _ in range(n):
            await bare()
        bare_runs.append((time.process_time() - c0) / n * 1e6)

    # the same with the request machinery TuyaDevice wraps around each poll
    lock = asyncio.Lock()

    async def machinery() -> None:
        async with lock:
            fut = loop.create_future()
            loop.call_soon(fut.set_result, None)
            async with asyncio.timeout(5.0):
                await fut

    mach_runs = []
    for _ in range(repeat):
        c0 = time.process_time()
        for _ in range(n):
            await machinery()
        mach_runs.append((time.process_time() - c0) / n * 1e6)

    pr = cProfile.Profile()
    pr.enable()
    for _ in range(n):
        await d.status()
    pr.disable()
    return {
        "TuyaDevice.status() in memory": C.median(runs),
        "bare: future + call_soon + await (no Tuya code)": C.median(bare_runs),
        "bare + asyncio.Lock + asyncio.timeout": C.median(mach_runs),
        "_profile": pr,
    }


class _MemTransport:
    """For the lean prototype: write() answers with the canned reply via call_soon."""

    def __init__(self, proto: Any, reply: bytes) -> None:
        self._proto, self._reply = proto, reply
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        self._loop.call_soon(self._proto.data_received, self._reply)

    def close(self) -> None:
        pass


async def layer_b_lean(version: str, n: int, repeat: int = 5) -> float:
    from lean_client import LeanDevice

    cli, dev, plug = pair(version)
    (req,) = dev.receive_data(cli.query(T))
    reply = dev.status_reply(req.seqno, req.cmd, plug.dps(), T)
    spec = fleet_specs(1, (version,))[0]
    d = LeanDevice(spec.device_id, "127.0.0.1", spec.local_key, version, port=1)
    d._conn, d._qcmd = cli, int(cli.spec.query_cmd)
    d._loop = asyncio.get_running_loop()
    d._t = _MemTransport(d, reply)  # type: ignore[assignment]
    for _ in range(300):
        await d.status()
    runs = []
    for _ in range(repeat):
        c0 = time.process_time()
        for _ in range(n):
            await d.status()
        runs.append((time.process_time() - c0) / n * 1e6)
    if d._timer is not None:
        d._timer.cancel()
    return C.median(runs)


async def layer_c_lean(dev: dict[str, Any], n: int, repeat: int) -> dict[str, float]:
    from lean_client import LeanDevice

    d = LeanDevice(dev["id"], dev["ip"], dev["key"], dev["version"], port=dev["port"])
    await d.connect()
    assert await d.status(), "lean prototype got no dps"
    for _ in range(300):
        await d.status()
    runs, walls = [], []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            await d.status()
        runs.append((time.process_time() - c0) / n * 1e6)
        walls.append((time.perf_counter() - w0) / n * 1e6)
    await d.close()
    return {"cpu": C.median(runs), "wall": C.median(walls)}


# ------------------------------------------------------------------ C. real socket


async def layer_c(dev: dict[str, Any], n: int, repeat: int, instrument: bool) -> dict[str, Any]:
    d = TuyaDevice(dev["id"], dev["ip"], dev["key"], dev["version"], port=dev["port"])
    await d.connect()
    for _ in range(300):
        await d.status()
    runs, walls = [], []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            await d.status()
        runs.append((time.process_time() - c0) / n * 1e6)
        walls.append((time.perf_counter() - w0) / n * 1e6)
    import resource

    r0 = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(n):
        await d.status()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    user = (r1.ru_utime - r0.ru_utime) / n * 1e6
    system = (r1.ru_stime - r0.ru_stime) / n * 1e6
    # CPU-time profile: the default (wall) timer would charge the blocking epoll wait
    pr = cProfile.Profile(time.process_time)
    pr.enable()
    for _ in range(n):
        await d.status()
    pr.disable()
    pyi_text = None
    if instrument and C.have("pyinstrument"):
        from pyinstrument import Profiler

        prof = Profiler(interval=0.0001, async_mode="disabled")
        prof.start()
        for _ in range(n * 2):
            await d.status()
        prof.stop()
        pyi_text = prof.output_text(unicode=True, color=False, show_all=False)
    await d.close()
    return {
        "TuyaDevice.status() over loopback TCP": C.median(runs),
        "wall per poll": C.median(walls),
        "user CPU per poll (getrusage)": user,
        "system CPU per poll (getrusage)": system,
        "_profile": pr,
        "_pyinstrument": pyi_text,
    }


# ------------------------------------------------------------------ D. simulator side


class _FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.sent += 1

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


async def layer_d(version: str, n: int) -> dict[str, Any]:
    spec = fleet_specs(1, (version,))[0]
    plug = SimulatedPlug(spec)
    server = PlugServer(plug)
    sess = _Session(server)
    sess.connection_made(_FakeTransport())
    cli = Connection(Role.CLIENT, version, spec.local_key, spec.device_id)
    out = cli.start()
    if out:  # handshake through the session's own Connection
        sess.conn.receive_data(out)
        cli.receive_data(sess.conn.data_to_send())
        sess.conn.receive_data(cli.data_to_send())
    query = cli.query(T)
    res: dict[str, Any] = {}
    res["sim: _Session.data_received(query) total"] = per_call_us(
        lambda: sess.data_received(query), n
    )
    dev = sess.conn
    res["sim: device conn.receive_data(query)"] = per_call_us(lambda: dev.receive_data(query), n)
    res["sim: SimulatedPlug.dps()"] = per_call_us(plug.dps, n)
    dps = plug.dps()
    res["sim: conn.status_reply(...) (json+encrypt+frame)"] = per_call_us(
        lambda: dev.status_reply(1, Cmd.DP_QUERY_NEW, dps, T), n
    )
    if hasattr(sess, "_arm_idle"):  # before the lazily re-armed idle timer
        res["sim: _arm_idle() (cancel + call_later 30 s)"] = per_call_us(sess._arm_idle, n)
    res["sim: time.time() + int()"] = per_call_us(lambda: int(time.time()), n)
    res["sim (per connection): _Session(server) construction"] = per_call_us(
        lambda: _Session(server), n // 4
    )
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(n):
        sess.data_received(query)
    pr.disable()
    res["_profile"] = pr
    return res


# ------------------------------------------------------------------ E. first poll phases


async def layer_e(dev: dict[str, Any], samples: int) -> dict[str, float]:
    phases: dict[str, list[float]] = {
        "tcp connect (open_link)": [],
        "3.4/3.5 handshake": [],
        "first status": [],
        "total": [],
        "close": [],
    }
    for _ in range(samples):
        await asyncio.sleep(0.03)
        d = TuyaDevice(dev["id"], dev["ip"], dev["key"], dev["version"], port=dev["port"])
        t0 = time.perf_counter()
        # the connect() steps, timed separately (same calls TuyaDevice.connect makes)
        import powermonitor.client.device as devmod

        marks: list[float] = []
        orig = devmod.open_link

        async def timed_open(
            *a: Any, _orig: Any = orig, _marks: list[float] = marks, **k: Any
        ) -> Any:
            link = await _orig(*a, **k)
            _marks.append(time.perf_counter())
            return link

        devmod.open_link = timed_open  # type: ignore[assignment]
        try:
            await d.connect()
        finally:
            devmod.open_link = orig
        t2 = time.perf_counter()
        await d.status()
        t3 = time.perf_counter()
        await d.close()
        t4 = time.perf_counter()
        t1 = marks[0] if marks else t0
        phases["tcp connect (open_link)"].append((t1 - t0) * 1e3)
        phases["3.4/3.5 handshake"].append((t2 - t1) * 1e3)
        phases["first status"].append((t3 - t2) * 1e3)
        phases["total"].append((t3 - t0) * 1e3)
        phases["close"].append((t4 - t3) * 1e3)
    return {k: C.median(v) for k, v in phases.items()}


# ------------------------------------------------------------------ output


def top_table(pr: cProfile.Profile, calls: int, limit: int = 22) -> str:
    """Markdown: top functions by own time, in µs per poll (cProfile inflates small calls)."""
    st = pstats.Stats(pr)
    rows = []
    for (fname, line, func), (cc, nc, tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        short = fname.replace(str(C.REPO / "src") + "/", "").replace(sys.prefix, "<py>")
        if "site-packages/" in short:
            short = "<site>/" + short.split("site-packages/", 1)[1]
        rows.append((tt, ct, nc, f"{short}:{line}({func})"))
    rows.sort(reverse=True)
    out = ["| own µs/poll | cum µs/poll | calls/poll | function |", "|---:|---:|---:|---|"]
    for tt, ct, nc, name in rows[:limit]:
        out.append(
            f"| {tt / calls * 1e6:.2f} | {ct / calls * 1e6:.2f} | {nc / calls:.1f} | `{name}` |"
        )
    return "\n".join(out)


def kv_table(d: dict[str, Any], unit: str = "µs") -> str:
    out = [f"| what | CPU {unit} per call |", "|---|---:|"]
    for k, v in d.items():
        if not k.startswith("_"):
            out.append(f"| {k} | {v:.2f} |")
    return "\n".join(out)


async def amain(a: argparse.Namespace) -> None:
    env = C.environment()
    env["loop"] = "uvloop" if a.uvloop else "asyncio"
    print(f"A. sans-IO client ({a.version})", flush=True)
    A = layer_a(a.version, a.n)
    print(f"B. TuyaDevice in memory ({env['loop']})", flush=True)
    B = await layer_b(a.version, a.n)
    B_lean = await layer_b_lean(a.version, a.n)
    print("D. simulator side in memory", flush=True)
    D = await layer_d(a.version, a.n)
    sim = C.start_simulator(1, (a.version,))
    simuv = C.start_simulator(1, (a.version,), uvloop=True) if C.have("uvloop") else None
    tm = C.start_tuyamock(a.version) if C.have("tuyamock") else None
    try:
        await asyncio.sleep(0.3)
        print("C. real socket vs simulator on the other core", flush=True)
        Cres = await layer_c(sim.devices[0], a.n, 5, a.pyinstrument)
        C_lean = await layer_c_lean(sim.devices[0], a.n, 5)
        print("E. first-poll phases", flush=True)
        E_sim = await layer_e(sim.devices[0], a.first)
        E_tm = await layer_e(tm.devices[0], a.first) if tm else {}
        E_uv = await layer_e(simuv.devices[0], a.first) if simuv else {}
    finally:
        sim.stop()
        if simuv:
            simuv.stop()
        if tm:
            tm.stop()

    n = a.n
    total_c = Cres["TuyaDevice.status() over loopback TCP"]
    sans = A["client sans-IO total per poll"]
    mem = B["TuyaDevice.status() in memory"]
    summary = {
        "sans-IO protocol work (A)": sans,
        "asyncio request machinery in TuyaDevice (B - A)": mem - sans,
        "event loop wake-up + socket syscalls (C - B)": total_c - mem,
        "total over TCP (C)": total_c,
    }
    lean = {
        "TuyaDevice.status() in memory (B)": mem,
        "lean prototype in memory (bench/lean_client.py)": B_lean,
        "TuyaDevice.status() over TCP (C)": total_c,
        "lean prototype over TCP (one in-process run, noisy: see poll_cpu_34_lean.md)": C_lean[
            "cpu"
        ],
        "lean prototype over TCP, wall µs": C_lean["wall"],
    }
    md = [
        (
            f"# Where the time goes: our client's persistent status poll, protocol {a.version}, "
            f"{env['loop']} loop (bench/profile_poll.py)"
        ),
        "",
        (
            f"{env['date']}, git {env['git']}, Python {env['python']}, {env.get('cpu_model', '?')}. "
            f"CPU per poll = time.process_time() deltas, median of 5 runs x {n}. Simulator pinned "
            f"to core {C.DEVICE_CORE}, this process to core {C.CLIENT_CORE}."
        ),
        "",
        "## Breakdown (client CPU per poll)",
        "",
        kv_table(summary),
        "",
        (
            f"Wall per poll over TCP: {Cres['wall per poll']:.0f} µs; user/system split "
            f"(getrusage, tick-sampled): {Cres['user CPU per poll (getrusage)']:.0f} / "
            f"{Cres['system CPU per poll (getrusage)']:.0f} µs."
        ),
        "",
        "## What-if: the same Connection under a lean request path (bench/lean_client.py)",
        "",
        kv_table(lean),
        "",
        "## A. sans-IO client and primitives",
        "",
        kv_table(A),
        "",
        "## B. asyncio machinery, no sockets",
        "",
        kv_table({k: v for k, v in B.items() if not k.startswith("_")}),
        "",
        (
            "## C. cProfile (CPU-time timer), real loopback TCP (own time; cProfile's overhead "
            "inflates small calls, read it for ranking only)"
        ),
        "",
        top_table(Cres["_profile"], n),
        "",
        "## B. cProfile, TuyaDevice.status() in memory",
        "",
        top_table(B["_profile"], n, 15),
        "",
        "## D. Simulator side per poll (in memory, fake transport)",
        "",
        kv_table(D),
        "",
        top_table(D["_profile"], n, 22),
        "",
        "## E. First poll phases, wall ms (median)",
        "",
        "| phase | our simulator | our simulator on uvloop | tuyamock |",
        "|---|---:|---:|---:|",
    ]
    for k in E_sim:
        md.append(
            f"| {k} | {E_sim[k]:.3f} | {E_uv.get(k, float('nan')):.3f} | "
            f"{E_tm.get(k, float('nan')):.3f} |"
        )
    text = "\n".join(md) + "\n"
    stem = f"profile_poll_{a.version.replace('.', '')}_{env['loop']}"
    if Cres["_pyinstrument"]:
        (C.RESULTS / f"{stem}_pyinstrument.txt").parent.mkdir(parents=True, exist_ok=True)
        (C.RESULTS / f"{stem}_pyinstrument.txt").write_text(Cres["_pyinstrument"])
    data = {
        "environment": env,
        "params": vars(a),
        "summary": summary,
        "A": A,
        "B": {k: v for k, v in B.items() if not k.startswith("_")},
        "C": {k: v for k, v in Cres.items() if not k.startswith("_")},
        "D": {k: v for k, v in D.items() if not k.startswith("_")},
        "E_sim": E_sim,
        "E_sim_uvloop": E_uv,
        "E_tuyamock": E_tm,
        "lean": lean,
    }
    jp, mp = C.write_results(stem, data, text)
    print(text)
    print(f"wrote {jp}, {mp}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--version", default="3.4")
    p.add_argument("--uvloop", action="store_true")
    p.add_argument("--n", type=int, default=2000, help="polls/calls per measured run")
    p.add_argument("--first", type=int, default=20, help="first-poll samples")
    p.add_argument("--no-pyinstrument", dest="pyinstrument", action="store_false")
    a = p.parse_args()
    C.pin(C.CLIENT_CORE)
    if a.uvloop:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
            r.run(amain(a))
    else:
        asyncio.run(amain(a))


if __name__ == "__main__":
    main()
