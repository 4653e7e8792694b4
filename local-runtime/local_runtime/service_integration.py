"""REST API methods integrated with an AWS service (Type AWS, not Lambda): SQS, S3, DynamoDB, EventBridge,
SNS, Kinesis... API Gateway builds the service request from the integration URI
(`arn:aws:apigateway:{region}:{service}:action/{Action}` or `...:{service}:path/{path}`), the integration's
request parameters and the rendered request template, signs it as the integration's `Credentials` role
and sends it. Here it is sent to the IAM gateway, which authorizes that role's call like any other
(identity policy, resource policy, conditions); the response is selected by its HTTP status code.
https://docs.aws.amazon.com/apigateway/latest/api/API_Integration.html (uri, credentials)
https://docs.aws.amazon.com/apigateway/latest/developerguide/request-response-data-mappings.html
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import urllib3
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local_runtime import mapping
from local_runtime.gateway import Gateway
from local_runtime.iam import Policy, trust_allows
from local_runtime.templates import TemplateError

_URI = re.compile(r"^arn:aws[\w-]*:apigateway:([^:]*):([^:]+):(action|path)/(.*)$", re.DOTALL)
# Services that speak JSON with X-Amz-Target: API Gateway sets the target for an `action/` URI.
_JSON_TARGETS = {
    "dynamodb": ("DynamoDB_20120810", "1.0"),
    "events": ("AWSEvents", "1.1"),
    "kinesis": ("Kinesis_20131202", "1.1"),
    "firehose": ("Firehose_20150804", "1.1"),
    "states": ("AWSStepFunctions", "1.0"),
    "logs": ("Logs_20140328", "1.1"),
    "ssm": ("AmazonSSM", "1.1"),
    "secretsmanager": ("secretsmanager", "1.1"),
}


class IntegrationConfigError(Exception):
    """What API Gateway logs as "Execution failed due to configuration error" (the client gets a 500)."""


@dataclass(frozen=True)
class ServiceTarget:
    service: str
    http_method: str
    credentials: str | None
    action: str | None = None
    action_params: tuple[tuple[str, str], ...] = ()
    path: str | None = None  # with {name} placeholders for integration.request.path.name
    request_parameters: dict[str, str] = field(default_factory=dict)  # destination -> source


def parse_target(
    uri: str, http_method: str, credentials: str | None, request_parameters: dict[str, str]
) -> ServiceTarget:
    match = _URI.match(uri)
    if match is None:
        raise TemplateError(f"integration URI {uri} is not an AWS service URI")
    _region, host, kind, rest = match.groups()
    subdomain, _, service = host.rpartition(".")
    if kind == "path":
        path = f"{subdomain}/{rest}" if subdomain and service == "s3" else rest  # bucket.s3:path/key
        return ServiceTarget(
            service, http_method, credentials, path=path, request_parameters=request_parameters
        )
    action, _, params = rest.partition("&")
    pairs = tuple((k, v) for k, _, v in (p.partition("=") for p in params.split("&") if p))
    return ServiceTarget(
        service,
        http_method,
        credentials,
        action=action,
        action_params=pairs,
        request_parameters=request_parameters,
    )


@dataclass
class IncomingRequest:
    """The method request, as integration request parameters and templates see it."""

    path: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    body: str
    context: dict[str, Any]
    stage_variables: dict[str, str] = field(default_factory=dict)

    def source(self, expression: str) -> str | None:
        """An integration request parameter's source: a method request parameter, the body (or a JSONPath
        into it), a context or stage variable, or a 'static' value."""
        if len(expression) >= 2 and expression.startswith("'") and expression.endswith("'"):
            return expression[1:-1]
        where, _, name = expression.removeprefix("method.request.").partition(".")
        if expression.startswith("method.request."):
            if where == "body":
                return self.body if not name else _text(mapping.Input(self.body).path("$." + name))
            if where == "header":
                lowered = {k.lower(): v for k, v in self.headers.items()}
                return lowered.get(name.lower())
            found = {"path": self.path, "querystring": self.query}.get(where, {}).get(name)
            return found
        if expression.startswith("context."):
            value: Any = self.context
            for part in expression.removeprefix("context.").split("."):
                value = value.get(part) if isinstance(value, dict) else None
            return None if value is None else _text(value)
        if expression.startswith("stageVariables."):
            return self.stage_variables.get(expression.removeprefix("stageVariables."))
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@dataclass
class ServiceResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def build_request(target: ServiceTarget, incoming: IncomingRequest, body: str, endpoint: str) -> AWSRequest:
    """The integration request: method, path, query string, headers and body sent to the service."""
    mapped: dict[str, dict[str, str]] = {"path": {}, "querystring": {}, "header": {}}
    for destination, source in target.request_parameters.items():
        where, _, name = destination.removeprefix("integration.request.").partition(".")
        value = incoming.source(str(source))
        if where in mapped and value is not None:
            mapped[where][name] = value
    headers = dict(mapped["header"])
    named = {k.lower() for k in headers}
    query: list[tuple[str, str]] = []
    path = "/"
    if target.action is not None:
        if target.service in _JSON_TARGETS and "x-amz-target" not in named:
            prefix, version = _JSON_TARGETS[target.service]
            headers["X-Amz-Target"] = f"{prefix}.{target.action}"
            if "content-type" not in named:
                headers["Content-Type"] = f"application/x-amz-json-{version}"
        elif target.service not in _JSON_TARGETS:  # query protocol (SQS, SNS): the action in the URL
            query = [("Action", target.action), *target.action_params]
    else:
        assert target.path is not None
        path = "/" + re.sub(
            r"\{([^}+]+)\+?\}", lambda m: quote(mapped["path"].get(m.group(1), ""), safe="/"), target.path
        )
    query += list(mapped["querystring"].items())
    if body and not {"content-type"} & {k.lower() for k in headers}:
        headers["Content-Type"] = "application/json"
    url = f"{endpoint}{path}" + (f"?{urlencode(query)}" if query else "")
    return AWSRequest(method=target.http_method, url=url, data=body.encode(), headers=headers)


class ServiceCalls:
    """API Gateway's calls to AWS services as each integration's Credentials role, sent through the IAM
    gateway with credentials it issued for that role (so the role's policies decide, as in AWS)."""

    SERVICE_PRINCIPAL = "apigateway.amazonaws.com"

    def __init__(self, gateway: Gateway, account: str, region: str) -> None:
        self._gateway = gateway
        self._account = account
        self._region = region
        self.policies: dict[str, Policy] = {}  # role ARN -> the role's identity policy
        self.trust_policies: dict[str, dict[str, Any]] = {}  # role ARN -> AssumeRolePolicyDocument
        self._http = urllib3.PoolManager(maxsize=8)

    def update(self, policies: dict[str, Policy], trust_policies: dict[str, dict[str, Any]]) -> None:
        """A (re)deploy's roles: the next call is made under the new policies."""
        self.policies, self.trust_policies = policies, trust_policies

    def call(self, target: ServiceTarget, incoming: IncomingRequest, body: str) -> ServiceResponse:
        role = target.credentials
        if not role:
            raise IntegrationConfigError(f"no Credentials role to call {target.service} with")
        if role not in self.trust_policies:
            raise IntegrationConfigError(f"Credentials {role} is not a role of this app")
        if not trust_allows(self.trust_policies[role], self.SERVICE_PRINCIPAL):
            raise IntegrationConfigError(
                f"API Gateway does not have permission to assume the provided role {role} "
                f"(its trust policy does not name {self.SERVICE_PRINCIPAL})"
            )
        access_key, identity = self._gateway.role_session(
            "apigateway", role, self.policies.get(role, Policy()), "ApiGateway"
        )
        request = build_request(target, incoming, body, self._gateway.url)
        credentials = Credentials(access_key, identity.secret_key, identity.session_token)
        signer = S3SigV4Auth if target.service == "s3" else SigV4Auth
        signer(credentials, target.service, self._region).add_auth(request)
        prepared = request.prepare()
        answer = self._http.request(
            prepared.method,
            prepared.url,
            body=prepared.body,
            headers=dict(prepared.headers.items()),
            retries=False,
            redirect=False,
        )
        return ServiceResponse(answer.status, dict(answer.headers.items()), answer.data)
