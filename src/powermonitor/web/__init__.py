"""The web dashboard and HTTP API: ``create_app(service)`` and ``serve(app, host, port)``."""

from __future__ import annotations

from .app import create_app, serve

__all__ = ["create_app", "serve"]
