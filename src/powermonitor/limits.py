"""Every cap the service puts on what comes from outside, in one place, each with its reason.

The service runs for months beside plugs, browsers and a LAN it does not control: anything
from outside (plug frames, beacons, HTTP requests, live-event clients) is bounded in memory,
time and count, so that no outsider can make it stop polling or recording. Each constant
says what it bounds and why its value is enough for honest use. docs/security.md lists
them for users; change a value here and there together.
"""

from __future__ import annotations

from typing import Final

# ---------------------------------------------------------------- web server (powermonitor.web)

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

MAX_LIVE_CLIENTS: Final = 32
"""Live-event (SSE) streams at once (503 beyond). Each open dashboard tab holds one."""

LIVE_BACKLOG_BATCHES: Final = 64
"""Live-event batches kept for clients that are behind. A client further behind than this is
a slow consumer and is dropped (the browser reconnects by itself); it never slows polling."""

LIVE_HUB_QUEUE: Final = 4096
"""The live-event fan-out's one Hub subscription (the Hub drops the oldest beyond this)."""

MAX_QUERY_DEVICES: Final = 1000
"""Plugs named in one query (``device=`` repeated)."""

# ---------------------------------------------------------------- owned by other parts
# Frame size, DPs per plug, pushes per second (protocol, monitor) and beacons per scan
# (discovery) belong here too: see docs/security.md for the list.
