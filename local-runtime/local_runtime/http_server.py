"""A threaded HTTP server on 127.0.0.1 that hands every request, whatever its method, to one function."""

from __future__ import annotations

import json
import logging
import ssl
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local_runtime import priority

log = logging.getLogger(__name__)
# How often serve_forever checks for a shutdown: socketserver's 0.5 s made every stop wait up to that long
# per server (API, AWS endpoint, control port), one after the other.
SHUTDOWN_POLL_S = 0.05


class LocalServer:
    def __init__(
        self,
        handle: Callable[[BaseHTTPRequestHandler], None],
        *,
        port: int,
        name: str,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # header and body writes must not wait for delayed ACKs
            # A response's headers and body leave in one send, flushed after each request (http.server
            # does): two sends woke the client twice per response.
            wbufsize = -1

            def handle_expect_100(self) -> bool:
                super().handle_expect_100()
                self.wfile.flush()  # the client waits for this interim answer before sending the body
                return True

            def log_message(self, format: str, *args: Any) -> None:
                log.debug(format, *args)

            def _handle(self) -> None:
                priority.serve(lambda: handle(self))  # a client's request before background work

            def __getattr__(self, name: str) -> Any:
                # Every method, TRACE and made-up ones included, gets the server's own answer rather than
                # http.server's HTML "501 Unsupported method".
                if name.startswith("do_"):
                    return self._handle
                raise AttributeError(name)

        local = self

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                # A request still in flight while the runtime stops fails as its parts go away, and a
                # client that goes away (a stopped worker's kept-alive connection) resets it: expected.
                gone = isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError)
                if local.stopping or gone:
                    log.debug(
                        "%s: request from %s ended (stopping or client gone)",
                        name,
                        client_address,
                        exc_info=True,
                    )
                else:
                    log.exception("%s: request from %s failed", name, client_address)

        self.stopping = False
        self.server = Server(("127.0.0.1", port), Handler)
        if tls is not None:  # HTTPS: the handshake runs in the request's thread, on its first read
            self.server.socket = tls.wrap_socket(
                self.server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(SHUTDOWN_POLL_S,), name=name, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping = True
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()


def respond(
    handler: BaseHTTPRequestHandler,
    status: int,
    headers: dict[str, str],
    body: Any,
    cookies: list[str] | None = None,
    json_type: str = "Content-Type",
) -> None:
    """One response: bytes as they are, None as no body, anything else as JSON; one Set-Cookie per cookie."""
    if body is None:
        data = b""
    elif isinstance(body, bytes):
        data = body
    else:
        data = json.dumps(body).encode()
        headers = {json_type: "application/json", **headers}
    handler.send_response(status)
    for key, value in headers.items():
        if key.lower() != "content-length":
            handler.send_header(key, value)
    for cookie in cookies or []:
        handler.send_header("Set-Cookie", cookie)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(data)
