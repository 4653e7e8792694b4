"""local_runtime.http_server: the threaded server behind the APIs, the AWS endpoint, WebSocket management."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

from local_runtime.http_server import LocalServer
from tests.helpers import put_expecting_continue


def test_an_upload_waiting_for_100_continue_gets_it_before_sending_its_body() -> None:
    """Responses are buffered (headers and body leave in one send), but the interim answer must not be:
    botocore's S3 uploads wait for it."""

    def echo(handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers["Content-Length"]))
        handler.send_response(201)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    server = LocalServer(echo, port=0, name="test-echo")
    server.start()
    try:
        interim, status, body = put_expecting_continue(server.port, "/upload", {}, b"the file")
    finally:
        server.stop()
    assert (interim, status, body) == (b"HTTP/1.1 100 Continue", 201, b"the file")
