"""Serve a prometheus-client registry on ``/metrics``, optionally with TLS and basic auth.

prometheus-client's own ``start_http_server`` has TLS but no basic auth, and it
runs each TLS handshake in its accepting thread, where one silent client holds
every scrape back. Here the handshake runs in the request's thread with a time
limit, and a :class:`~monitor.web_config.WebConfig` adds the users.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import CollectorRegistry

from monitor.web_config import WebConfig

HANDSHAKE_TIMEOUT_S = 10.0

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # no access log on stderr
        pass


def basic_auth(app: WSGIApp, config: WebConfig) -> WSGIApp:
    """*app* behind the basic-auth users of *config* (401 with a challenge otherwise)."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if config.authorized(environ.get("HTTP_AUTHORIZATION")):
            return app(environ, start_response)
        start_response(
            "401 Unauthorized",
            [("WWW-Authenticate", 'Basic realm="vitals"'), ("Content-Type", "text/plain")],
        )
        return [b"Unauthorized\n"]

    return guarded


def serve_metrics(
    registry: CollectorRegistry, host: str, port: int, config: WebConfig | None = None
) -> tuple[WSGIServer, threading.Thread]:
    """Start serving *registry* in a daemon thread; ``server.shutdown()`` stops it."""
    app: WSGIApp = make_wsgi_app(registry)
    if config is not None and config.basic_auth_users:
        app = basic_auth(app, config)
    context = None if config is None else config.ssl_context()

    class Server(ThreadingWSGIServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

        def finish_request(self, request: Any, client_address: Any) -> None:
            if isinstance(request, ssl.SSLSocket):
                request.settimeout(HANDSHAKE_TIMEOUT_S)
                try:
                    request.do_handshake()
                except OSError:  # refused certificate, not TLS, too slow: drop it
                    return
                request.settimeout(None)
            super().finish_request(request, client_address)

    server = make_server(host, port, app, Server, handler_class=_QuietHandler)
    if context is not None:
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    return server, thread
