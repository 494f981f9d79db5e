"""Real receivers for notification tests: an HTTP server that records the JSON bodies POSTed to it
(a webhook or Slack endpoint; it can be taken down and brought back on the same port), and an SMTP
server (aiosmtpd) that keeps the messages it accepts. Both listen on loopback only."""

from __future__ import annotations

import json
import socket
import threading
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

# Quay refuses webhooks to "localhost" and "127.0.0.1" by name; the rest of 127/8 is loopback too.
RECEIVER_HOST = "127.0.0.2"


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class HttpReceiver:
    """Records ``(path, headers, json body)`` of every POST; answers ``status`` (default 200)."""

    def __init__(self, host: str = RECEIVER_HOST) -> None:
        self.host = host
        self.port = _free_port(host)
        self.received: list[tuple[str, dict[str, str], Any]] = []
        self.status = 200
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def bodies(self, path: str | None = None) -> list[Any]:
        with self._lock:
            return [b for p, _h, b in self.received if path is None or p.split("?")[0] == path]

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                with receiver._lock:
                    receiver.received.append((self.path, dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Down: the port is closed (connections are refused) until ``start()`` again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class SmtpReceiver:
    """aiosmtpd on loopback, keeping every accepted message (``messages``)."""

    def __init__(self) -> None:
        try:
            from aiosmtpd.controller import Controller
        except ImportError:
            pytest.fail("aiosmtpd is missing: pip install -e 'registry_app[test]'")
        self.messages: list[tuple[str, list[str], Message]] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                outer.messages.append(
                    (envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.original_content))
                )
                return "250 Message accepted for delivery"

        self.host = "127.0.0.1"
        self.port = _free_port(self.host)
        self.controller = Controller(Handler(), hostname=self.host, port=self.port)

    def start(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
