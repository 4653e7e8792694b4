"""API Gateway mapping templates for non-proxy integrations, rendered by a real Velocity engine (airspeed)
with API Gateway's variables: `$input` (body, json(), path(), params()), `$util` (escapeJavaScript,
parseJson, urlEncode/urlDecode, base64Encode/base64Decode), `$context` and `$stageVariables`
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import quote, unquote

import airspeed

from local_runtime.templates import TemplateError


def _json_path(document: Any, path: str) -> Any:
    """The JSONPath subset templates use: `$`, `$.a.b`, `$.a[0]`, `$['a']`."""
    if path in ("$", ""):
        return document
    current = document
    for part in path.removeprefix("$").replace("['", ".").replace("']", "").split("."):
        if not part:
            continue
        name, _, rest = part.partition("[")
        if name:
            current = current.get(name) if isinstance(current, dict) else None
        while rest:
            index, _, rest = rest.partition("]")
            rest = rest.removeprefix("[")
            current = current[int(index)] if isinstance(current, list) and int(index) < len(current) else None
    return current


class Input:
    """`$input`: the request (or, in an integration response, the integration's) body and parameters."""

    def __init__(self, body: str, params: dict[str, dict[str, str]] | None = None) -> None:
        self.body = body
        self._params = params or {"path": {}, "querystring": {}, "header": {}}

    def _document(self) -> Any:
        try:
            return json.loads(self.body) if self.body else {}
        except ValueError:
            return self.body

    def json(self, path: str = "$") -> str:
        return json.dumps(_json_path(self._document(), path))

    def path(self, path: str = "$") -> Any:
        return _json_path(self._document(), path)

    def params(self, name: str | None = None) -> Any:
        if name is None:
            return self._params
        for where in ("path", "querystring", "header"):
            found = self._params.get(where, {}).get(name)
            if found is not None:
                return found
        return ""


class Util:
    """`$util`."""

    @staticmethod
    def escapeJavaScript(text: Any) -> str:  # noqa: N802 (API Gateway's name)
        return json.dumps(str(text))[1:-1].replace("'", "\\'")

    @staticmethod
    def parseJson(text: str) -> Any:  # noqa: N802
        return json.loads(text)

    @staticmethod
    def urlEncode(text: str) -> str:  # noqa: N802
        return quote(str(text), safe="")

    @staticmethod
    def urlDecode(text: str) -> str:  # noqa: N802
        return unquote(str(text))

    @staticmethod
    def base64Encode(text: str) -> str:  # noqa: N802
        return base64.b64encode(str(text).encode()).decode()

    @staticmethod
    def base64Decode(text: str) -> str:  # noqa: N802
        return base64.b64decode(str(text)).decode()


def render(
    template: str, input_: Input, context: dict[str, Any], stage_variables: dict[str, str] | None = None
) -> str:
    try:
        compiled = airspeed.Template(template)
        return str(
            compiled.merge(
                {"input": input_, "util": Util(), "context": context, "stageVariables": stage_variables or {}}
            )
        )
    except airspeed.TemplateError as error:
        raise TemplateError(f"mapping template: {error}") from error


def select_response(responses: list[dict[str, Any]], selector: str | None) -> dict[str, Any] | None:
    """The integration response API Gateway picks: `selector` (a Lambda error's errorMessage; an AWS or
    HTTP backend's status code) against each SelectionPattern, as a whole (Java regex); a Lambda success
    (None), or no match, gets the default response (the one without a pattern).
    https://docs.aws.amazon.com/apigateway/latest/api/API_IntegrationResponse.html (selectionPattern)"""
    default = next((r for r in responses if not r.get("SelectionPattern")), None)
    if selector is not None:
        for response in responses:
            pattern = response.get("SelectionPattern")
            if pattern and re.fullmatch(str(pattern), selector, flags=re.DOTALL):
                return response
    return default if default is not None else ({"StatusCode": 200} if not responses else None)


def response_parameters(parameters: dict[str, str], body: str, headers: dict[str, str]) -> dict[str, str]:
    """Method response headers from an integration response's parameters: 'static' values, the
    integration response's headers, its body or a JSONPath into it."""
    lowered = {k.lower(): v for k, v in headers.items()}
    out: dict[str, str] = {}
    for destination, source in parameters.items():
        if not destination.startswith("method.response.header."):
            continue
        name, source = destination.removeprefix("method.response.header."), str(source)
        if len(source) >= 2 and source.startswith("'") and source.endswith("'"):
            out[name] = source[1:-1]
        elif source.startswith("integration.response.header."):
            found = lowered.get(source.removeprefix("integration.response.header.").lower())
            if found is not None:
                out[name] = found
        elif source == "integration.response.body":
            out[name] = body
        elif source.startswith("integration.response.body."):
            out[name] = str(Input(body).path("$." + source.removeprefix("integration.response.body.")))
    return out
