"""moto's server (`python -m moto.server`) with its hot spots made cheap, behaviour unchanged.

Profiling the 1,000-order run (py-spy on the moto process) showed moto spending most of its time not on
AWS semantics but on bookkeeping that grows with the queue:

- every received SQS message re-reads the queue's retention period through `get_queue_attributes`,
  which builds *all* attributes, three approximate message counts included: each a walk over every
  message in the queue, so receiving is quadratic in the queue's length;
- "now" is computed as `datetime.now(UTC) - datetime.fromtimestamp(0)` for every message checked
  (visibility, delay, retention), a few microseconds each, millions of times;
- every request lists moto's package directory (`os.listdir` + `isdir` on ~150 entries) to map a
  host to a backend, under a lock;
- every EventBridge target renders the event through eight JSONPath expressions (`$.detail`, ...),
  and `jsonpath_ng.ext.parse` builds a new yacc parser for each: ~8 % of moto's time under load;
- werkzeug's dev server closes every connection after one response ("Connection: close", always):
  each call cost a TCP connect and a new server thread (~12 % of moto's time, and getaddrinfo plus
  connect in every client). `KeepAliveHandler` keeps connections open.
- DynamoDB parses every update and condition expression twice per call (once to validate the request,
  once to apply it), ~0.1-0.25 ms each: ~17 % of moto's time in the 1,000-order pipeline, whose
  writes repeat the same few expressions. A parsed tree is cached per expression text: an update's is
  shared (moto copies it before use), a condition's is kept per text, attribute names and value types
  and each call gets a copy with its own values filled in (a pickle round trip, ~7x cheaper than
  parsing);
- every request lists its response class's methods (`inspect.getmembers`, ~4 %) to look its action up;
- each service's botocore model is read with a new loader, which lists the SDK's data folders again
  (~15 ms per service, in every server's start-up);
- a JSON-protocol call (`POST /` with X-Amz-Target: nearly all of an order's calls) went through Flask's
  whole request cycle, ~20 % of moto's CPU: `json_protocol_answer` calls the service's handler directly
  and answers exactly as the Flask app does.

Two fixes are about behaviour. DynamoDB applies each request atomically (a condition is checked and the
write applied as one step), while moto's backend reads, checks and writes items without a lock, so
under load two concurrent `SET n = n + :one` on one item could both read the old value and one
increment was lost (the projection's orderCount went wrong with more than two projections at once).
`apply()` runs DynamoDB requests one at a time: moto's work is Python under one GIL anyway. Likewise
SQS: moto marks and copies received messages without a lock, so two concurrent receives (a queue's
pollers) could both take one message, or leave a message in flight that neither returned (it came back
only after the visibility timeout, 3 minutes for the orders queue). SQS's message operations run one at a
time, a long poll waiting between its attempts outside the lock.

The other replacements return exactly what the originals return (`time.time()` is the same epoch seconds;
the retention period is the same attribute the full attribute dict reads; the module list, the SDK's data
files and a class's methods cannot change while the server runs; a parsed JSONPath or DynamoDB expression
is the same tree for the same text). moto is pinned (requirements-dev.txt): `apply()` checks that each
function it replaces is the one it expects, so an upgrade that moves them fails loudly here.

`--fork-server` (moto_forks.py) imports all this once and forks a fresh server per runtime, for a process
that starts many runtimes.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import io
import json
import logging
import os
import pickle
import random
import signal
import sys
import threading
import time
from typing import Any

from botocore.exceptions import ClientError
from moto.moto_api import recorder
from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from local_runtime import moto_states, priority
from local_runtime.workers import die_with_parent

log = logging.getLogger("local_runtime.moto_server")


def _now_or(original: Any) -> Any:
    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else original(dt)

    return unix_time


class KeepAliveHandler(MotoRequestHandler):
    """moto's request handler (its environ keeps S3's underscored header names), answering over a kept-alive
    HTTP/1.1 connection.

    werkzeug's `run_wsgi` cannot keep a connection: after each response it waits up to 10 ms for stray
    body bytes and reads whatever arrives, which on a kept-alive connection is the next request. Here
    the request body is read completely before moto sees it and the response is sent with its length.
    """

    disable_nagle_algorithm = True  # header and body writes must not wait for delayed ACKs
    wbufsize = -1  # headers and body in one send, flushed after each request (http.server does)

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        stream = environ["wsgi.input"]
        if environ.get("wsgi.input_terminated"):  # chunked: werkzeug dechunks up to the last chunk
            body = stream.read()
        else:
            body = stream.read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        return environ

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        if self.command == "POST" and self.path == moto_states.CONFIG_PATH:
            self._configure_state_machines()
            return
        background = self.headers.get(priority.BACKGROUND_HEADER)
        if background:  # this connection serves background work (priority.py)
            priority.share_the_interpreter()
            priority.enter_background(int(background))
        priority.serve(self._answer)

    def _answer(self) -> None:
        environ = self.environ = self.make_environ()
        lean = json_protocol_answer(self.server.app, environ)  # type: ignore[attr-defined]
        if lean is not None:
            self._send_answer(*lean)
            return
        started: list[Any] = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return chunks.append

        try:
            result = self.server.app(environ, start_response)  # type: ignore[attr-defined]
            try:
                chunks.extend(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        except Exception:
            log.exception("moto failed on %s %s", self.command, self.path)
            chunks.clear()
            chunks.extend(InternalServerError()(environ, start_response))
        status, headers = started
        code, _, reason = status.partition(" ")
        self._send_answer(int(code), reason, headers, b"".join(chunks))

    def _send_answer(self, code: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(code, reason)
        for key, value in headers:
            self.send_header(key, value)
        if not any(key.lower() == "content-length" for key, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _configure_state_machines(self) -> None:
        """The runtime's call that lets state machines run (moto_states.py)."""
        payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        try:
            moto_states.configure(payload["gateway_url"], payload["roles"])
            status, body = 204, b""
        except Exception as error:  # e.g. a moto upgrade moved what moto_states patches
            log.exception("state machines cannot run")
            status, body = 500, str(error).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def json_protocol_answer(
    dispatcher: Any, environ: dict[str, Any]
) -> tuple[int, str, list[tuple[str, str]], bytes] | None:
    """moto's answer to a JSON-protocol call (`POST /` with X-Amz-Target: DynamoDB, SQS, EventBridge...),
    from the service's own handler without Flask's request cycle; None for any other request.

    Flask's part (request context, routing, the flask-cors hook, building a Response) was ~20 % of moto's
    CPU in the 1,000-order pipeline, whose calls are nearly all of this kind. The answer is the one the
    Flask app gives, header for header: what convert_to_flask_response does, werkzeug's default content
    type and flask-cors's `Access-Control-Allow-Origin: *` (a request from a page, with an Origin, goes the
    Flask way: its CORS headers depend on it). tests/local_runtime/test_moto_server.py compares the two."""
    if (
        environ.get("REQUEST_METHOD") != "POST"
        or environ.get("PATH_INFO") != "/"
        or "HTTP_X_AMZ_TARGET" not in environ
        or "HTTP_ORIGIN" in environ
    ):
        return None
    app = dispatcher.get_application(environ)
    view = _root_view(app)
    if view is None:
        return None
    request = app.request_class(environ)
    recorder._record_request(request)
    try:
        result = view.callback(request, request.raw_url, dict(request.headers))
    except ClientError as error:
        result = 400, {}, error.response["Error"]["Message"]
    except HTTPException as error:  # Flask answers with the exception itself
        response = error.get_response(environ)
        answer = [*response.headers.to_wsgi_list(), ("Access-Control-Allow-Origin", "*")]
        return response.status_code, _reason(response.status_code), answer, response.get_data()
    status, headers, content = result if len(result) == 3 else (200, {}, result)
    body = content.encode() if isinstance(content, str) else bytes(content or b"")
    answer = [(str(key), str(value)) for key, value in headers.items()]
    if not any(key.lower() == "content-type" for key, _ in answer):
        answer.append(("Content-Type", "text/html; charset=utf-8"))
    answer += [("Content-Length", str(len(body))), ("Access-Control-Allow-Origin", "*")]
    return int(status), _reason(int(status)), answer, body


def _reason(code: int) -> str:
    return HTTP_STATUS_CODES.get(code, "UNKNOWN").upper()  # werkzeug's Response: "400 BAD REQUEST"


@functools.cache
def _root_view(app: Any) -> Any:
    """The view a service's Flask app routes `POST /` to: moto's convert_to_flask_response of its handler."""
    try:
        endpoint, _ = app.url_map.bind("localhost").match("/", method="POST")
    except Exception:  # no such route for this service: Flask answers it
        return None
    view = app.view_functions.get(endpoint)
    return view if hasattr(view, "callback") else None


def apply() -> None:
    from jsonpath_ng import ext as jsonpath_ext
    from moto import backends
    from moto.core import responses, utils
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
    from moto.dynamodb.parsing.validators import Validator
    from moto.dynamodb.responses import DynamoHandler
    from moto.sqs import models as sqs_models

    expected = {
        "moto.core.utils.unix_time": (utils.unix_time, "dt = dt or utcnow()"),
        "moto.core.utils.unix_time_millis": (utils.unix_time_millis, "unix_time(dt) * 1000.0"),
        "moto.backends.list_of_moto_modules": (backends.list_of_moto_modules, "os.listdir(path)"),
        "DynamoHandler.call_action": (DynamoHandler.call_action, "super().call_action()"),
        "jsonpath_ng.ext.parse": (jsonpath_ext.parse, "ExtendedJsonPathParser(debug=debug).parse(path)"),
        "SQSBackend.is_message_valid_based_on_retention_period": (
            sqs_models.SQSBackend.is_message_valid_based_on_retention_period,
            '["MessageRetentionPeriod"]',
        ),
        "moto.core.responses.method_names_from_class": (
            responses.method_names_from_class,
            "inspect.getmembers(clazz, predicate=predicate)",
        ),
        "UpdateExpressionParser.make": (
            UpdateExpressionParser.make,
            "cls(token_list).parse()",
        ),
        "Validator.__init__": (Validator.__init__, "self.node_to_validate = deepcopy(expression)"),
        "ConditionExpressionParser.parse": (
            ConditionExpressionParser.parse,
            "self.expr_attr_values_found.extend(self._find_expr_attr_values(node))",
        ),
        "moto.core.utils._load_service_model": (utils._load_service_model, "loader = create_loader()"),
        "SQSBackend.receive_message": (sqs_models.SQSBackend.receive_message, "queue.wait_for_messages(1)"),
    }
    for name, (function, marker) in expected.items():
        if marker not in inspect.getsource(function):
            raise RuntimeError(
                f"moto changed {name}: review local_runtime/moto_server.py (local-runtime/) for it"
            )

    dynamodb_call = DynamoHandler.call_action
    one_at_a_time = threading.Lock()

    def call_action_atomically(self: Any) -> Any:
        with one_at_a_time:
            return dynamodb_call(self)

    DynamoHandler.call_action = call_action_atomically  # type: ignore[method-assign]
    _sqs_one_at_a_time(sqs_models.SQSBackend)
    # A parsed expression is an immutable tree; moto imports `parse` from the module at each call.
    jsonpath_ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ext.parse)
    unix_time = _now_or(utils.unix_time)
    utils.unix_time = unix_time
    utils.unix_time_millis = lambda dt=None: unix_time(dt) * 1000.0
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = functools.cache(lambda: modules)

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention_period = self.get_queue(queue_name).message_retention_period
        return bool(retention_period + message.sent_timestamp / 1000 > time.time())

    responses.method_names_from_class = functools.cache(responses.method_names_from_class)
    # One botocore loader for every service model moto reads (a loader lists the SDK's data folders once).
    loader = functools.cache(utils.create_loader)
    utils._load_service_model = lambda service, model: loader().load_service_model(service, model)
    _cache_expression_parsers(UpdateExpressionParser, ConditionExpressionParser)

    backend = sqs_models.SQSBackend
    backend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]
    # Modules that imported the clock by name before this ran (backends load lazily, after it).
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("moto.") and module is not utils:
            for attribute in ("unix_time", "unix_time_millis"):
                if getattr(module, attribute, None) is expected[f"moto.core.utils.{attribute}"][0]:
                    setattr(module, attribute, getattr(utils, attribute))


SQS_MESSAGE_OPERATIONS = (
    "send_message",
    "send_message_batch",
    "delete_message",
    "delete_message_batch",
    "change_message_visibility",
    "change_message_visibility_batch",
    "purge_queue",
)


def _sqs_one_at_a_time(backend: Any) -> None:
    """SQS message operations one at a time (reentrant: a batch calls the single operation)."""
    lock = threading.RLock()

    def atomic(operation: Any) -> Any:
        @functools.wraps(operation)
        def run(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return operation(*args, **kwargs)

        return run

    for name in SQS_MESSAGE_OPERATIONS:
        setattr(backend, name, atomic(getattr(backend, name)))
    receive = backend.receive_message

    def receive_message(
        self: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> list[Any]:
        polling_end = time.time() + (wait_seconds_timeout or 0)
        while True:
            with lock:  # one attempt, without waiting (moto's own long poll would hold the lock)
                result = receive(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
            remaining = polling_end - time.time()
            if result or remaining <= 0:
                return result
            self.get_queue(queue_name).wait_for_messages(min(1.0, remaining))

    backend.receive_message = receive_message


@dataclasses.dataclass(frozen=True)
class _Placeholder:
    """Stands for an expression attribute value while a condition is parsed: moto's parse only stores a
    value (`AttributeValue(value)` keeps `value[type]`), so one parsed tree serves every call that uses
    the same text, names and value types; each call's own values are filled into a copy."""

    name: str
    type: str


def _cache_expression_parsers(update_parser: Any, condition_parser: Any) -> None:
    """Parse each DynamoDB expression once. An invalid expression raises, and is parsed again, every time.
    A condition's tree is evaluated as it is, so each call gets its own copy, with its own values."""
    parse_update = update_parser.make.__func__
    parse_condition = condition_parser.parse

    # moto only reads an update tree and copies it before validating (checked in apply()): share it.
    make = functools.lru_cache(maxsize=512)(parse_update)

    @functools.lru_cache(maxsize=512)
    def parsed_condition(text: str, names: str, value_types: tuple[tuple[str, str], ...]) -> bytes:
        placeholders = {name: {kind: _Placeholder(name, kind)} for name, kind in value_types}
        parser = condition_parser(text, json.loads(names), placeholders)
        tree = parse_condition(parser)
        found = (parser.expr_attr_names_found, parser.expr_attr_values_found)
        return pickle.dumps((tree, found), pickle.HIGHEST_PROTOCOL)

    def parse(self: Any) -> Any:
        values = self.expression_attribute_values or {}
        try:
            names = json.dumps(self.expression_attribute_names, sort_keys=True)
            value_types = tuple(sorted((name, _only_key(value)) for name, value in values.items()))
        except (TypeError, ValueError):  # not the shapes moto passes: parse as moto does
            return parse_condition(self)
        blob = parsed_condition(self.condition_expression, names, value_types)
        tree, (names_found, values_found) = pickle.loads(blob)  # noqa: S301 (pickled just above)
        if _fill_placeholders(tree, values) != len(values_found):  # a value kept where the walk cannot see
            return parse_condition(self)
        self.expr_attr_names_found.extend(names_found)
        self.expr_attr_values_found.extend(values_found)
        return tree

    update_parser.make = classmethod(make)  # type: ignore[arg-type]
    condition_parser.parse = parse


def _only_key(value: Any) -> str:
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError("not an attribute value")
    return str(next(iter(value)))


def _fill_placeholders(node: Any, values: dict[str, Any]) -> int:
    """Put each call's attribute values where the parse stored placeholders (a tree of plain objects);
    returns how many it filled: one per value reference in the expression."""
    filled = 0
    children = node if isinstance(node, list | tuple) else getattr(node, "__dict__", None)
    if isinstance(children, dict):
        for key, child in children.items():
            if isinstance(child, _Placeholder):
                children[key] = values[child.name][child.type]
                filled += 1
            else:
                filled += _fill_placeholders(child, values)
    elif children is not None:
        for child in children:
            filled += _fill_placeholders(child, values)
    return filled


def _exit_now(*_: Any) -> None:
    """SIGTERM: moto keeps nothing on disk, so skip the interpreter's teardown of its thousands of
    modules (half a second at every stop of the runtime)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


# The services a runtime provisions and its functions call: a fork server imports them and builds their
# Flask apps and botocore models once, so a forked server answers its first call to each without
# importing or reading anything.
PRELOADED_SERVICES = (
    "cognito-idp",
    "dynamodb",
    "dynamodbstreams",
    "events",
    "firehose",
    "iam",
    "kinesis",
    "kms",
    "logs",
    "s3",
    "scheduler",
    "secretsmanager",
    "sns",
    "sqs",
    "ssm",
    "sts",
)


def _app() -> Any:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    apply()
    # werkzeug logs every request to moto.log: a write under a lock per call; errors still show.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return DomainDispatcherApplication(create_backend_app)


def _serve(app: Any, host: str, port: int) -> None:
    from werkzeug.serving import run_simple

    signal.signal(signal.SIGTERM, _exit_now)
    run_simple(host, port, app, threaded=True, request_handler=KeepAliveHandler)


def fork_server(host: str) -> None:
    """`--fork-server`: import moto and PRELOADED_SERVICES once, then for each line `PORT LOG_PATH` on stdin
    fork a fresh server (its own process and state, as if started anew) and answer its pid on stdout.

    A process that starts many runtimes (a test suite: ~50) saves each one moto's start-up, about 1.5 s
    of CPU. The servers die with this process, which ends when its stdin closes (its parent is gone)."""
    from moto.core.utils import get_service_model
    from moto.moto_api._internal import mock_random

    app = _app()
    for service in PRELOADED_SERVICES:
        app.app_instances[service] = app.create_app(service)
        get_service_model(service)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the servers; runtimes watch a pidfd
    for line in sys.stdin:
        port, log_path = line.rstrip("\n").split(" ", 1)
        pid = os.fork()
        if pid == 0:
            try:
                os.setsid()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                die_with_parent()
                log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.dup2(log_fd, 1)
                os.dup2(log_fd, 2)
                os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
                # Ids (queues' receipt handles, pools, ...) as random as in a server started anew.
                mock_random.seed()
                random.seed()
                _serve(app, host, int(port))
            finally:
                os._exit(1)
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()
    os._exit(0)  # stdin closed: the process that used it is gone (no teardown of moto's modules)


def main(argv: list[str] | None = None) -> None:
    """`python -m moto.server -H HOST -p PORT`, served with `KeepAliveHandler`; or `--fork-server`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int)
    parser.add_argument("--fork-server", action="store_true")
    args = parser.parse_args(argv)
    if args.fork_server:
        fork_server(args.host)
    elif args.port is None:
        parser.error("--port is required")
    else:
        _serve(_app(), args.host, args.port)


if __name__ == "__main__":
    main()
