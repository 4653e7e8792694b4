"""Links a client can follow: paths of this API as the client addressed it.

A client reaches the API either on the default endpoint, where every path starts with the stage
(`https://<id>.execute-api.<region>.amazonaws.com/dev/users/42`), or on a custom domain whose base path
mapping replaces the stage (`https://api.example.com/users/42`, `.../v1/users/42`). API Gateway passes
the path the client sent as `requestContext.path` and the matched resource as `requestContext.resourcePath`;
what precedes the resource in the sent path is the prefix every link needs.
"""

from __future__ import annotations

from urllib.parse import quote

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent


def request_prefix(event: APIGatewayProxyEvent) -> str:
    """'/dev' on the default endpoint, '' or '/<base path>' behind a custom domain mapping."""
    context = event.request_context
    sent = context.path or ""
    resource = context.resource_path or ""
    for name, value in (event.path_parameters or {}).items():
        for placeholder in (f"{{{name}}}", f"{{{name}+}}"):
            resource = resource.replace(placeholder, value)
    for own in (resource, _encoded(resource)):
        if own and sent.endswith(own):
            return sent[: len(sent) - len(own)].rstrip("/")
    # Unknown shape: only the default endpoint puts the stage first.
    return f"/{context.stage}" if (context.domain_name or "").endswith(".amazonaws.com") else ""


def link(event: APIGatewayProxyEvent, path: str) -> str:
    """`path` of this API (e.g. '/users/42') as a path the client can request."""
    return f"{request_prefix(event)}{path}"


def _encoded(path: str) -> str:
    return quote(path, safe="/")
