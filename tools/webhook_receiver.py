"""A minimal Alertmanager webhook receiver: logs every notification as one JSON line.

The compose stack's and ``make stack``'s receiver, and the end-to-end test's::

    python -m tools.webhook_receiver --port 9095 [--out notifications.jsonl]

Each line is ``{"path": "/page", "payload": <Alertmanager's webhook JSON>}``; the
path names the receiver (``/page``, ``/ticket``, ``/watchdog`` in
``dashboards/alertmanager/alertmanager.yml``).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO


class WebhookReceiver:
    """Serve on ``host:port`` in a thread; :attr:`notifications` holds what arrived."""

    def __init__(self, port: int, host: str = "127.0.0.1", out: TextIO | None = None) -> None:
        self.notifications: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    payload = json.loads(body)
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                receiver.add({"path": self.path, "payload": payload})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # quiet: the JSON lines are the log
                return None

        self._out = out
        self.server = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add(self, note: dict[str, Any]) -> None:
        with self._lock:
            self.notifications.append(note)
            if self._out is not None:
                self._out.write(json.dumps(note, sort_keys=True) + "\n")
                self._out.flush()

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.notifications)

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9095)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--out", type=Path, help="append the JSON lines here (default stdout)")
    args = parser.parse_args(argv)
    out = args.out.open("a") if args.out else sys.stdout
    receiver = WebhookReceiver(args.port, args.host, out)
    try:
        receiver.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        receiver.server.server_close()


if __name__ == "__main__":
    main()
