"""API Gateway WebSocket APIs (AWS::ApiGatewayV2::Api with ProtocolType WEBSOCKET), each on a local port.

- Clients connect to `ws://localhost:<port>/<stage>`. `$connect` runs before the handshake completes:
  an error, or a result whose `statusCode` is not 2xx, refuses the connection with that status. Its
  Lambda REQUEST authorizer, if it has one, runs before it (401/403 as API Gateway answers).
- Each message is routed by the API's RouteSelectionExpression (`$request.body.<path>` of a JSON
  message), to `$default` when no route key matches; with no route either, the client gets
  `{"message": "Forbidden", ...}`. A route with a route response (`$default`) sends the function's
  `body` back (two-way). A failing function or a missing AWS::Lambda::Permission sends
  `{"message": "Internal server error", ...}`.
- Closing runs `$disconnect`.
- Functions answer with the @connections API (`apigatewaymanagementapi`: PostToConnection,
  GetConnection, DeleteConnection) at `https://<requestContext.domainName>/<stage>`. That is a local
  HTTPS endpoint whose certificate the workers trust (tls.py). It is signed with the function's
  credentials and needs `execute-api:ManageConnections` on
  `arn:aws:execute-api:<region>:<account>:<api-id>/<stage>/<METHOD>/@connections/<id>`, as in AWS. A
  closed connection is 410 GoneException.
https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api.html
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local_runtime import tls
from local_runtime.http_api import api_parts
from local_runtime.http_server import LocalServer, respond
from local_runtime.iam import AwsRequest
from local_runtime.iam_auth import IamAuthorizer
from local_runtime.lambda_authorizer import AuthorizerDeniedError, LambdaAuthorizer
from local_runtime.templates import App, TemplateError
from local_runtime.workers import Invocation

if TYPE_CHECKING:  # imported when an app has a WebSocket API (~60 ms): not at every runtime start
    from websockets.sync.server import ServerConnection

log = logging.getLogger("local_runtime.websocket")
MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's WebSocket message size (frames of 32 KB make it up)
_FUNCTION_ARN_PREFIX = ":lambda:path/2015-03-31/functions/"


@dataclass
class WsRoute:
    route_key: str
    function_arn: str
    two_way: bool = False
    authorizer: LambdaAuthorizer | None = None  # $connect only, as API Gateway allows


@dataclass
class WebSocketApi:
    logical_id: str
    stack: str
    api_id: str
    name: str
    stage: str
    selection: str  # RouteSelectionExpression, e.g. $request.body.action
    routes: dict[str, WsRoute] = field(default_factory=dict)

    def route_for(self, message: str | bytes) -> WsRoute | None:
        """The route a message selects: its route key's, else $default (binary messages: $default)."""
        expression = self.selection.replace("${", "$").replace("}", "")  # ${request.body.x} too
        if isinstance(message, str) and expression.startswith("$request.body."):
            try:
                value: Any = json.loads(message)
                for part in expression.removeprefix("$request.body.").split("."):
                    value = value.get(part) if isinstance(value, dict) else None
            except ValueError:
                value = None
            if isinstance(value, str) and value in self.routes:
                return self.routes[value]
        return self.routes.get("$default")


def websocket_apis(app: App) -> list[WebSocketApi]:
    """The app's WebSocket APIs; refuses what is not emulated (non-proxy integrations, AWS_IAM routes)."""
    apis = []
    for stack, logical_id, resource in app.all_resources("AWS::ApiGatewayV2::Api"):
        props = app.resolve(stack, resource.get("Properties", {}))
        if str(props.get("ProtocolType", "HTTP")).upper() != "WEBSOCKET":
            continue
        api_id = str(app.ref(stack, logical_id))
        parts = {
            kind: api_parts(app, stack, api_id, f"AWS::ApiGatewayV2::{kind}")
            for kind in ("Integration", "RouteResponse", "Stage", "Route", "Authorizer")
        }
        authorizers = {
            str(app.ref(stack, lid)): _authorizer(f"{stack.name}/{lid}", lid, str(app.ref(stack, lid)), p)
            for lid, p in parts["Authorizer"]
        }
        integrations = {str(app.ref(stack, lid)): p for lid, p in parts["Integration"]}
        two_way = {str(p.get("RouteId")) for _lid, p in parts["RouteResponse"]}
        stages = [str(p.get("StageName")) for _lid, p in parts["Stage"]]
        api = WebSocketApi(
            logical_id,
            stack.name,
            api_id,
            str(props.get("Name", logical_id)),
            stages[0] if stages else "production",
            str(props.get("RouteSelectionExpression", "$request.body.action")),
        )
        for lid, p in parts["Route"]:
            key = str(p["RouteKey"])
            where = f"{stack.name}/{lid} ({key})"
            authorization = str(p.get("AuthorizationType", "NONE")).upper()
            authorizer = authorizers.get(str(p.get("AuthorizerId"))) if authorization == "CUSTOM" else None
            if authorization not in ("NONE", "CUSTOM") or (authorization == "CUSTOM" and authorizer is None):
                raise TemplateError(f"{where}: authorization {authorization} is not emulated locally")
            integration = integrations.get(str(p.get("Target", "")).removeprefix("integrations/"))
            if integration is None or str(integration.get("IntegrationType")).upper() != "AWS_PROXY":
                raise TemplateError(f"{where}: only Lambda proxy (AWS_PROXY) integrations are emulated")
            uri = str(integration.get("IntegrationUri", ""))
            function = uri.split(_FUNCTION_ARN_PREFIX, 1)[-1].removesuffix("/invocations")
            api.routes[key] = WsRoute(key, function, str(app.ref(stack, lid)) in two_way, authorizer)
        apis.append(api)
    return apis


def _authorizer(where: str, logical_id: str, authorizer_id: str, props: dict[str, Any]) -> LambdaAuthorizer:
    """A Lambda REQUEST authorizer of $connect: its identity sources (`route.request.header.X`,
    `route.request.querystring.y`) must be present, then its IAM policy must allow execute-api:Invoke
    on the $connect route. WebSocket APIs do not cache its answer."""
    if str(props.get("AuthorizerType", "REQUEST")).upper() != "REQUEST":
        raise TemplateError(f"{where}: only Lambda REQUEST authorizers exist for WebSocket APIs")
    uri = str(props.get("AuthorizerUri", ""))
    sources = [
        str(s).replace("route.request.", "method.request.", 1) for s in props.get("IdentitySource", [])
    ]
    return LambdaAuthorizer(
        logical_id,
        authorizer_id,
        str(props.get("Name", logical_id)),
        "REQUEST",
        sources,
        uri.split(_FUNCTION_ARN_PREFIX, 1)[-1].removesuffix("/invocations"),
        ttl_s=0,
    )


@dataclass
class Client:
    """A connection, from its handshake on (GetConnection describes it). Its peer address is kept: a
    closed socket has none, and $disconnect still reports it."""

    connection_id: str
    socket: ServerConnection
    connected_at: datetime
    source_ip: str
    user_agent: str
    last_active: datetime


class WebSocketServer:
    """One WebSocket API: its clients' port and its @connections endpoint (HTTPS)."""

    def __init__(
        self,
        api: WebSocketApi,
        invoke: Callable[[str, Any, str], Invocation],
        may_invoke: Callable[[str, str], bool],
        iam_authorizer: IamAuthorizer,
        certificate: tuple[Path, Path],
        region: str,
        account: str,
        port: int = 0,
    ) -> None:
        self.api = api
        self._invoke = invoke
        self._may_invoke = may_invoke
        self._iam = iam_authorizer
        self.region, self.account = region, account
        self._arn_prefix = f"arn:aws:execute-api:{region}:{account}:{api.api_id}"
        self.clients: dict[str, Client] = {}
        self._lock = threading.Lock()
        self._stopping = False
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.server import serve

        self._closed = ConnectionClosed
        self._server = serve(
            self._serve_client,
            "127.0.0.1",
            port,
            process_request=self._connect,
            max_size=MAX_MESSAGE_BYTES,
        )
        self.port: int = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"ws-{api.name}", daemon=True)
        self._management = LocalServer(
            self._manage, port=0, name=f"ws-connections-{api.name}", tls=tls.server_context(*certificate)
        )
        self.domain_name = f"localhost:{self._management.port}"

    @property
    def url(self) -> str:
        return f"ws://localhost:{self.port}/{self.api.stage}"

    @property
    def connections_url(self) -> str:
        return f"https://{self.domain_name}/{self.api.stage}"

    def start(self) -> None:
        self._thread.start()
        self._management.start()

    def stop(self) -> None:
        self._stopping = True  # the clients it closes are not disconnects to report to $disconnect
        self._server.shutdown()
        for client in list(self.clients.values()):
            client.socket.close(1001, "Going away")
        self._management.stop()

    # ------------------------------------------------------------------ clients
    def _connect(self, socket: ServerConnection, request: Any) -> Any:
        """$connect, before the handshake completes: its result decides whether the client connects."""
        parts = urlsplit(request.path)
        if unquote(parts.path).rstrip("/") != f"/{self.api.stage}":
            return socket.respond(403, "Forbidden\n")
        now = datetime.now(UTC)
        client = Client(
            base64.b64encode(secrets.token_bytes(10)).decode(),  # AWS's look: 16 characters
            socket,
            now,
            str(socket.remote_address[0]),
            request.headers.get("User-Agent", ""),
            now,
        )
        socket.local_runtime_client = client  # type: ignore[attr-defined]  # for _serve_client
        route = self.api.routes.get("$connect")
        if route is None:
            return None
        headers = {k: v for k, v in request.headers.raw_items()}
        query = parse_qsl(parts.query, keep_blank_values=True)
        context = self._context(client, "$connect", "CONNECT")
        event: dict[str, Any] = {
            "headers": headers,
            "multiValueHeaders": {k: request.headers.get_all(k) for k in headers},
            "queryStringParameters": dict(query) or None,
            "multiValueQueryStringParameters": _multi(query) or None,
            "requestContext": context,
            "isBase64Encoded": False,
        }
        if route.authorizer is not None:
            try:
                context["authorizer"] = self._authorize(route.authorizer, headers, dict(query), event)
            except AuthorizerDeniedError as denied:
                status = _DENIED_STATUS.get(denied.response_type, 500)
                log.warning("%s: $connect authorizer refused (%s): %s", self.api.name, status, denied.reason)
                return socket.respond(status, f"{denied.message}\n")
        status, _body = self._run(route, event)
        if not 200 <= status < 300:
            log.warning("%s: $connect refused the connection (%s)", self.api.name, status)
            return socket.respond(status, "Forbidden\n" if status == 403 else f"{status}\n")
        return None

    def _authorize(
        self,
        authorizer: LambdaAuthorizer,
        headers: dict[str, str],
        query: dict[str, str],
        event: dict[str, Any],
    ) -> dict[str, Any]:
        source = f"{self._arn_prefix}/authorizers/{authorizer.authorizer_id}"
        return authorizer.authorize(
            f"{self._arn_prefix}/{self.api.stage}/$connect",
            headers,
            query,
            lambda: event,
            self._invoke,
            lambda function: self._may_invoke(function, source),
        )

    def _serve_client(self, socket: ServerConnection) -> None:
        client: Client = socket.local_runtime_client  # type: ignore[attr-defined]
        with self._lock:
            self.clients[client.connection_id] = client
        code, reason = 1000, ""
        try:
            for message in socket:
                client.last_active = datetime.now(UTC)
                self._message(client, message)
        except self._closed:
            pass
        finally:
            with self._lock:
                self.clients.pop(client.connection_id, None)
            if socket.close_code is not None:
                code, reason = socket.close_code, socket.close_reason or ""
            self._disconnect(client, code, reason)

    def _message(self, client: Client, message: str | bytes) -> None:
        route = self.api.route_for(message)
        context = self._context(client, route.route_key if route else "$default", "MESSAGE")
        if route is None:
            self._reply(client.socket, {"message": "Forbidden", **_ids(context)})
            return
        event = {
            "requestContext": {**context, "messageId": base64.b64encode(secrets.token_bytes(10)).decode()},
            "body": base64.b64encode(message).decode() if isinstance(message, bytes) else message,
            "isBase64Encoded": isinstance(message, bytes),
        }
        status, body = self._run(route, event)
        if status >= 500:
            self._reply(client.socket, {"message": "Internal server error", **_ids(context)})
        elif route.two_way and body is not None:
            self._reply(client.socket, body)

    def _disconnect(self, client: Client, code: int, reason: str) -> None:
        route = self.api.routes.get("$disconnect")
        if route is None or self._stopping:
            return
        context = self._context(client, "$disconnect", "DISCONNECT")
        context.update(disconnectStatusCode=code, disconnectReason=reason)
        self._run(route, {"headers": {}, "requestContext": context, "isBase64Encoded": False})

    def _run(self, route: WsRoute, event: dict[str, Any]) -> tuple[int, str | None]:
        """(status, body) of the route's function, as API Gateway reads a Lambda proxy result."""
        source = f"{self._arn_prefix}/{self.api.stage}/{route.route_key}"
        if not self._may_invoke(route.function_arn, source):
            log.warning(
                "%s %s: no AWS::Lambda::Permission lets API Gateway invoke %s",
                self.api.name,
                route.route_key,
                route.function_arn,
            )
            return 500, None
        result = self._invoke(route.function_arn, event, f"websocket {self.api.name} {route.route_key}")
        if not result.ok:
            return 500, None
        answer = result.result
        if not isinstance(answer, dict):
            return 200, None if answer is None else json.dumps(answer)
        body = answer.get("body")
        if body is not None and not isinstance(body, str):
            body = json.dumps(body)
        return int(answer.get("statusCode", 200)), body

    def _context(self, client: Client, route_key: str, event_type: str) -> dict[str, Any]:
        now = datetime.now(UTC)
        agent = client.user_agent if event_type == "CONNECT" else ""
        request_id = base64.b64encode(secrets.token_bytes(12)).decode()
        return {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "messageDirection": "IN",
            "stage": self.api.stage,
            "connectedAt": int(client.connected_at.timestamp() * 1000),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "identity": {"sourceIp": client.source_ip, **({"userAgent": agent} if agent else {})},
            "requestId": request_id,
            "domainName": self.domain_name,
            "connectionId": client.connection_id,
            "apiId": self.api.api_id,
        }

    def _reply(self, socket: ServerConnection, payload: Any) -> None:
        with contextlib.suppress(self._closed):
            socket.send(payload if isinstance(payload, str) else json.dumps(payload))

    # ------------------------------------------------------------------ @connections
    def _manage(self, handler: BaseHTTPRequestHandler) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        body = handler.rfile.read(int(headers.get("content-length") or 0))
        stage, _, rest = urlsplit(handler.path).path.lstrip("/").partition("/")
        prefix, _, connection_id = rest.partition("/")
        connection_id = unquote(connection_id)
        if stage != self.api.stage or prefix != "@connections" or not connection_id:
            respond(handler, 403, {"x-amzn-ErrorType": "ForbiddenException"}, {"message": "Forbidden"})
            return
        method = handler.command
        arn = f"{self._arn_prefix}/{stage}/{method}/@connections/{connection_id}"
        try:
            self._iam.authorize(
                AwsRequest(method, handler.path, headers, body), arn, "execute-api:ManageConnections"
            )
        except AuthorizerDeniedError as denied:
            respond(handler, 403, {"x-amzn-ErrorType": "ForbiddenException"}, {"message": denied.message})
            return
        client = self.clients.get(connection_id)
        if client is None:
            respond(handler, 410, {"x-amzn-ErrorType": "GoneException"}, {"message": None})
            return
        if method == "POST":
            if len(body) > MAX_MESSAGE_BYTES:
                respond(
                    handler,
                    413,
                    {"x-amzn-ErrorType": "PayloadTooLargeException"},
                    {"message": "Message too long"},
                )
                return
            try:
                data: str | bytes = body.decode("utf-8")  # text frames; anything else as binary
            except UnicodeDecodeError:
                data = body
            try:
                client.socket.send(data)
            except self._closed:
                respond(handler, 410, {"x-amzn-ErrorType": "GoneException"}, {"message": None})
                return
            respond(handler, 200, {}, None)
        elif method == "GET":
            respond(
                handler,
                200,
                {},
                {
                    "connectedAt": _iso(client.connected_at),
                    "identity": {"sourceIp": client.source_ip, "userAgent": client.user_agent},
                    "lastActiveAt": _iso(client.last_active),
                },
            )
        elif method == "DELETE":
            client.socket.close(1000, "")
            respond(handler, 204, {}, None)
        else:
            respond(handler, 403, {"x-amzn-ErrorType": "ForbiddenException"}, {"message": "Forbidden"})


# A refused $connect: the handshake's HTTP status per gateway response type.
_DENIED_STATUS = {"UNAUTHORIZED": 401, "ACCESS_DENIED": 403}


def _ids(context: dict[str, Any]) -> dict[str, str]:
    return {"connectionId": context["connectionId"], "requestId": context["requestId"]}


def _multi(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return out


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
