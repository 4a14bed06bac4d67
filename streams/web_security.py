"""TLS and basic auth for the worker's web endpoints (``/metrics``, ``/healthz``, ``/readyz``).

The worker's ``web_config_file`` is a Prometheus exporter web config
(:mod:`monitor.web_config`); this turns it into faust settings: the TLS context of
its aiohttp site and a middleware that checks every request's basic auth, as
exporter-toolkit does for every path.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web

from monitor.web_config import WebConfig, load_web_config


def auth_middleware(config: WebConfig) -> Any:
    """An aiohttp middleware answering 401 unless the request's basic auth is granted
    (bcrypt runs in a thread: a wrong password must not stall the event loop)."""

    @web.middleware
    async def basic_auth(request: web.Request, handler: Any) -> web.StreamResponse:
        if await asyncio.to_thread(config.authorized, request.headers.get("Authorization")):
            return await handler(request)
        return web.Response(
            status=401, text="Unauthorized\n", headers={"WWW-Authenticate": 'Basic realm="vitals"'}
        )

    return basic_auth


def faust_web_settings(path: Path | None) -> dict[str, Any]:
    """faust App settings for the web config at *path* ({} without one)."""
    if path is None:
        return {}
    try:
        config = load_web_config(path)
    except ValueError as exc:
        raise SystemExit(f"vitals worker: {exc}") from None
    settings: dict[str, Any] = {}
    if config.tls_server_config is not None:
        settings["web_ssl_context"] = config.ssl_context()
    if config.basic_auth_users:
        settings["web_application_options"] = {"middlewares": [auth_middleware(config)]}
    return settings
