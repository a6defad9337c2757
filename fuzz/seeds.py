"""Write a seed corpus per target into fuzz/corpus/TARGET/: real frames and beacons to mutate.

Random bytes almost never pass a CRC, HMAC or GCM check; starting from valid frames (made with
the same deterministic session keys as the targets use) lets the fuzzer reach the decoders
behind them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import targets

from powermonitor.protocol import discovery

DPS = {"1": True, "9": 0, "18": 485, "19": 1210, "20": 2304, "26": 0}


def frame_seeds() -> list[bytes]:
    seeds = []
    for i, version in enumerate(targets.VERSIONS):
        _, device = targets.pair(version)
        replies = [
            device.status_reply(1, 10, DPS, targets.T),
            device.push({"19": 5}, targets.T),
            device.ack(2, 13) + device.push({"1": False}, targets.T),
            device.heartbeat_reply(3),
            device.error_reply(4, 10, "json obj data unvalid"),
        ]
        seeds += [bytes([i]) + r for r in replies]
        client, _ = targets.pair(version)
        seeds.append(bytes([i]) + client.query(targets.T))
        seeds.append(bytes([i]) + client.control({"1": True}, targets.T))
    return seeds


def payload_seeds() -> list[bytes]:
    bodies = [
        json.dumps({"devId": targets.DEV, "dps": DPS}).encode(),
        json.dumps({"protocol": 4, "t": targets.T, "data": {"dps": DPS}}).encode(),
        json.dumps({"dpId": [18, 19, 20]}).encode(),
        b"json obj data unvalid",
        b'{"dps":{"1":[[[[1]]]]}}',
    ]
    return [bytes([v, c]) + b for v in range(5) for c in (0, 1, 2) for b in bodies]


def beacon_seeds() -> list[bytes]:
    info = {"ip": "192.168.1.20", "gwId": targets.DEV, "active": 2, "ablilty": 0,
            "encrypt": True, "productKey": "keyabc", "version": "3.3"}
    seeds = [json.dumps(info).encode()]
    for version in ("3.1", "3.3", "3.4", "3.5"):
        seeds.append(discovery.encode_beacon(info, version, iv=b"0123456789ab"))
    seeds.append(discovery.encode_discovery_request("192.168.1.2", b"0123456789ab"))
    return seeds


def main() -> None:
    root = Path(__file__).resolve().parent / "corpus"
    for name, seeds in (("frames", frame_seeds()), ("payloads", payload_seeds()),
                        ("beacons", beacon_seeds())):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for n, seed in enumerate(seeds):
            (folder / f"seed-{n:03d}").write_bytes(seed)
        print(f"{name}: {len(seeds)} seeds in {folder}")


if __name__ == "__main__":
    main()
