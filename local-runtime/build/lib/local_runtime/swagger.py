"""Swagger UI for a local REST API, served on the API's own port under /_local/swagger/.

Same origin as the API, so "Try it out" needs no CORS grant the deployed API would not have; the path is
outside every stage, where API Gateway answers 403, so it shadows nothing the deployed API serves.
The UI's files come from the pinned npm package swagger-ui-dist (installed by the project's set-up);
nothing is fetched from a CDN.
"""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_runtime.api import SWAGGER_PREFIX as PREFIX
from local_runtime.api import RestApi

_INDEX = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} (local)</title>
  <link rel="stylesheet" href="swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: true,
      presets: [SwaggerUIBundle.presets.apis],
    }});
  </script>
</body>
</html>
"""


def find_dist(*roots: Path) -> Path | None:
    """node_modules/swagger-ui-dist under the first root that has it."""
    for root in roots:
        candidate = root / "node_modules" / "swagger-ui-dist"
        if (candidate / "swagger-ui-bundle.js").is_file():
            return candidate
    return None


@dataclass
class Swagger:
    dist: Path | None
    document: Path | None = None  # the API's OpenAPI file; None: described from the template

    def serve(self, path: str, api: RestApi, base_url: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for a path under PREFIX."""
        name = path[len(PREFIX) :] or "index.html"
        if name == "openapi.json":
            return 200, "application/json", json.dumps(self.openapi(api, base_url)).encode()
        if self.dist is None:
            return 404, "text/plain", b"swagger-ui-dist is not installed (npm ci)"
        if name == "index.html":
            return 200, "text/html; charset=utf-8", _INDEX.format(title=api.name).encode()
        file = (self.dist / name).resolve()
        if file.parent != self.dist.resolve() or not file.is_file():
            return 404, "text/plain", b"not found"
        return 200, mimetypes.guess_type(file.name)[0] or "application/octet-stream", file.read_bytes()

    def openapi(self, api: RestApi, base_url: str) -> dict[str, Any]:
        """The document with the local stage as its only server."""
        if self.document is not None and self.document.is_file():
            document = json.loads(self.document.read_text())
        else:
            document = describe(api)
        document["servers"] = [{"url": base_url.rstrip("/"), "description": "local runtime"}]
        return document


def describe(api: RestApi) -> dict[str, Any]:
    """An OpenAPI document from the template's resources and methods (no schemas: the template has none)."""
    paths: dict[str, Any] = {}
    secured = False
    for resource_path, methods in sorted(api.methods.items()):
        for http_method, method in sorted(methods.items()):
            if http_method in ("OPTIONS", "ANY"):
                continue
            operation: dict[str, Any] = {
                "responses": {"default": {"description": "the integration's answer"}}
            }
            parameters = [
                {"name": part.strip("{}+"), "in": "path", "required": True, "schema": {"type": "string"}}
                for part in resource_path.split("/")
                if part.startswith("{")
            ]
            if parameters:
                operation["parameters"] = parameters
            if method.authorizer is not None:
                operation["security"] = [{"Authorization": []}]
                secured = True
            paths.setdefault(resource_path, {})[http_method.lower()] = operation
    document: dict[str, Any] = {"openapi": "3.0.3", "info": {"title": api.name, "version": api.stage}}
    document["paths"] = paths
    if secured:
        document["components"] = {
            "securitySchemes": {"Authorization": {"type": "apiKey", "in": "header", "name": "Authorization"}}
        }
    return document
