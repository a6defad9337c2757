"""Every cap on what the outside world can make powermonitor hold or do, with its reason.

Plugs, LAN hosts, browsers and config files are hostile input: each cap below bounds memory,
time or counts for one of them. One module so the numbers can be reviewed together (and
documented in docs/security.md); the code that enforces a cap imports it from here. The checks
are O(1) per frame or per request: a cap must never make the polling hot path slower.
"""

from __future__ import annotations

from typing import Final

# ----------------------------------------------------------------- plugs (TCP, protocol/ and client/)

MAX_FRAME_LENGTH: Final = 0x4000
"""Largest frame length field accepted (16 KiB). Real plugs stay under 1.5 kB; a bigger value
is garbage or an attack, and the receive buffer never holds more than one such frame."""

MAX_JUNK_BYTES: Final = 4096
"""Bytes that are not part of any Tuya frame a plug may send since its last valid frame.
Peers skip a little noise before a frame (and so do we); a stream of non-Tuya bytes means the
port is not a plug: a protocol error (exit 7), not a timeout or a wrong key."""

MAX_JSON_DEPTH: Final = 16
"""Deepest nesting of JSON objects/arrays accepted in a payload. Real payloads nest 3 deep
({"data": {"dps": {...}}}); deep nesting would make json raise RecursionError (or later
recursion in any consumer). Only checked for payloads longer than :data:`DEEP_CHECK_BYTES`."""

DEEP_CHECK_BYTES: Final = 256
"""Payloads up to this size cannot nest deeper than 128, which json and every consumer handle:
the depth check is skipped for them (nearly every real payload), keeping the hot path O(1)."""

MAX_DPS_PER_PLUG: Final = 255
"""Distinct data point ids kept per plug. DP ids are one byte in Tuya's schema (1..255); a plug
that pushes ever-new ids (memory grew to 1.6 GB in 10 s before this cap) is disconnected."""

MAX_DP_VALUE_CHARS: Final = 2048
"""Longest DP value (string or encoded JSON) accepted. Raw DPs (schedules, phase blobs) are
base64 of at most a few hundred bytes. Checked only for payloads longer than this (a value
cannot be longer than the payload that carries it)."""

MAX_PUSHES_PER_S: Final = 20.0
"""Sustained STATUS pushes per second accepted from one plug (token bucket). Real plugs push
on change and after a refresh, a few per second at most; a flooding plug is disconnected so
it cannot starve the other plugs' polling."""

PUSH_BURST: Final = 50
"""Pushes accepted at once before the rate applies (a strip switching all outlets, a refresh
answered with several frames)."""

# ----------------------------------------------------------------- LAN beacons (UDP)

MAX_DATAGRAM_BYTES: Final = 4096
"""Largest discovery datagram decoded. Real beacons are 150-400 bytes."""

# ----------------------------------------------------------------- web server (web/)

MAX_BODY_BYTES: Final = 16 * 1024
"""Largest HTTP request body (413 beyond). The biggest honest body, a switch command, is under
100 bytes; the body is counted as it arrives and never buffered past this."""

MAX_WEB_CONNECTIONS: Final = 256
"""Open HTTP connections at once (further ones get a 503 and are closed). A dashboard uses a
handful; the cap keeps file descriptors for the plugs (see FD_SHARE_FOR_WEB)."""

FD_SHARE_FOR_WEB: Final = 4
"""The web server takes at most 1/FD_SHARE_FOR_WEB of the process's file-descriptor limit,
so plugs (one connection each), the database and exporters always have descriptors."""

REQUEST_TIMEOUT_S: Final = 10.0
"""Time a client has to send a whole request (headers and body) once it starts one: a
slowloris that trickles a header byte at a time is closed after this."""

KEEP_ALIVE_S: Final = 5.0
"""An idle keep-alive connection is closed after this."""

WRITE_STALL_S: Final = 30.0
"""A client that takes no response bytes for this long (its socket buffer full) is
disconnected: a stalled live-event page must not hold a connection forever."""

MAX_HEADER_BYTES: Final = 16 * 1024
"""Largest request line plus headers (h11 answers 400 beyond)."""

MAX_LIVE_CLIENTS: Final = 64
"""Live-event (SSE) streams at once (503 beyond). Each open dashboard tab holds one. 50 cost
about 5 % of a core on a 1000-plug service polled every second (bench/README.md)."""

POLL_SLOT_S: Final = 0.05
"""Plugs' polls and heartbeats start on a shared grid of this step (each a little later than
due, never earlier; the schedule itself does not drift). A fleet's round trips then share the
event loop's wake-ups instead of waking it once each: at 1000 plugs a second the bare socket
pattern costs 18 µs a round trip on the grid against 45 µs at random phases (bench/README.md).
50 ms is far below any poll interval (≥ 1 s) and below a Wi-Fi plug's own answer jitter."""

BURST_S: Final = 0.1
"""Live events, MQTT state messages and InfluxDB lines go out in bursts gathered over this
long: one write per client (one pass over the plugs' names and totals) per burst rather than
per reading. At 1000 readings a second: 10 wake-ups a second per consumer, not 1000."""

LIVE_BACKLOG_BATCHES: Final = 64
"""Live-event batches kept for clients that are behind. A client further behind than this is
a slow consumer and is dropped (the browser reconnects by itself); it never slows polling."""

LIVE_HUB_QUEUE: Final = 4096
"""The live-event fan-out's one Hub subscription (the Hub drops the oldest beyond this)."""

MAX_QUERY_DEVICES: Final = 1000
"""Plugs named in one query (``device=`` repeated)."""
