"""IAM for local functions: each function's role policy from the template, evaluated per AWS request.

`Policy` evaluates statements like IAM does for identity policies (explicit Deny wins, then any Allow;
Action/NotAction and Resource/NotResource with `*`/`?` wildcards). Conditions are evaluated with every
IAM operator (String, Numeric, Date, Bool, Binary, IpAddress, Arn, Null; IfExists; ForAnyValue and
ForAllValues) on the keys the runtime knows the value of (`EVALUATED_CONDITION_KEYS`); a condition on any
other key is applied as if it held (reported once at start-up).
`describe_request` derives (action, resource ARNs, condition context) from a raw AWS API request.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import ipaddress
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def trust_allows(trust_policy: dict[str, Any], service_principal: str) -> bool:
    """The role's trust policy lets `service_principal` (e.g. apigateway.amazonaws.com) assume it."""
    allowed = False
    for statement in as_list(trust_policy.get("Statement")):
        actions = as_list(statement.get("Action"))
        if not any(glob_match(str(a), "sts:AssumeRole", case_sensitive=False) for a in actions):
            continue
        principal = statement.get("Principal")
        services = as_list(principal.get("Service")) if isinstance(principal, dict) else []
        if principal == "*" or service_principal in services:
            if statement.get("Effect") == "Deny":
                return False
            allowed = True
    return allowed


def glob_match(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    return _glob(pattern, case_sensitive).fullmatch(value) is not None


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    """A policy's patterns are few and every call evaluates them: build each regex once."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, (0 if case_sensitive else re.IGNORECASE) | re.DOTALL)


# Condition keys whose value the runtime knows for a function's call: from the request (`s3:prefix`,
# `Described.context`) and the global keys of its identity and connection (`global_context`).
EVALUATED_CONDITION_KEYS = frozenset(
    {
        "s3:prefix",
        "aws:principalarn",
        "aws:principalaccount",
        "aws:principaltype",
        "aws:userid",
        "aws:requestedregion",
        "aws:securetransport",
        "aws:currenttime",
        "aws:epochtime",
        "aws:sourceip",
        "aws:viaawsservice",
        # set for a service's delivery (EventBridge, SNS, S3); absent from a function's own calls
        "aws:sourcearn",
        "aws:sourceaccount",
        # set for the KMS calls a service makes with a customer managed key (kms.py)
        "kms:viaservice",
        "kms:calleraccount",
        # the partition keys a DynamoDB request touches (dynamodb_keys.py)
        "dynamodb:leadingkeys",
    }
)


# Tag keys (tags.py): known where the app defines the role's or resource's tags. The context of such a
# call lists which families it carries under KNOWN_TAG_KEYS; elsewhere they are applied as if they held.
KNOWN_TAG_KEYS = "local-runtime:known-tag-keys"
PRINCIPAL_TAG = "aws:principaltag/"
RESOURCE_TAG = "aws:resourcetag/"


def evaluated(key: str) -> bool:
    """Whether local evaluation knows the condition key (otherwise it is applied as if it held)."""
    lowered = key.lower()
    return lowered in EVALUATED_CONDITION_KEYS or lowered.startswith(
        ("kms:encryptioncontext:", PRINCIPAL_TAG, RESOURCE_TAG)
    )


_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}


def resolve_variables(pattern: str, context: dict[str, Any]) -> str | None:
    """A Resource or condition value with its policy variables (`${aws:PrincipalTag/team}`,
    `${key, 'default'}`) replaced from the request's context; None when one has no value and no
    default: the pattern then matches nothing, as in IAM (reference_policies_variables.html, "Policy
    variables with no value"). `${*}`, `${?}` and `${$}` stand for the character (a literal `*` or `?`
    in a Like pattern is a wildcard here). A multivalued key cannot be a variable."""
    if "${" not in pattern:
        return pattern
    present = {k.lower(): v for k, v in context.items()}
    unresolved = False

    def value_of(match: re.Match[str]) -> str:
        nonlocal unresolved
        inner = match.group(1).strip()
        if inner in _ESCAPES:
            return _ESCAPES[inner]
        key, _, default = inner.partition(",")
        value = present.get(key.strip().lower())
        if isinstance(value, str):
            return value
        default = default.strip()
        if len(default) >= 2 and default[0] == default[-1] == "'":
            return default[1:-1].replace("''", "'")
        unresolved = True
        return ""

    resolved = _VARIABLE.sub(value_of, pattern)
    return None if unresolved else resolved


def _resolved(patterns: Any, context: dict[str, Any]) -> list[str]:
    return [r for r in (resolve_variables(str(p), context) for p in as_list(patterns)) if r is not None]


def _known_in(key: str, context: dict[str, Any]) -> bool:
    """A tag key is known only where the request's context says its tags were looked up."""
    family = next((f for f in (PRINCIPAL_TAG, RESOURCE_TAG) if key.lower().startswith(f)), None)
    return family is None or family in context.get(KNOWN_TAG_KEYS, ())


def global_context(principal_arn: str, account: str, region: str) -> dict[str, str]:
    """The global condition keys of a function's call, as IAM sets them for an assumed role.

    aws:SecureTransport is "true": the SDK in Lambda calls AWS over HTTPS (the local endpoint is plain
    HTTP only because it is on this machine). aws:SourceIp is the loopback address, as a VPC endpoint
    would give a private one (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html).
    """
    role, _, session = principal_arn.split("assumed-role/", 1)[-1].partition("/")
    role_id = "AROA" + hashlib.sha256(role.encode()).hexdigest()[:16].upper()
    now = time.time()
    return {
        "aws:PrincipalArn": f"arn:aws:iam::{account}:role/{role}",
        "aws:PrincipalAccount": account,
        "aws:PrincipalType": "AssumedRole",
        "aws:userid": f"{role_id}:{session}",
        "aws:RequestedRegion": region,
        "aws:SecureTransport": "true",
        "aws:CurrentTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "aws:EpochTime": str(int(now)),
        "aws:SourceIp": "127.0.0.1",
        "aws:ViaAWSService": "false",
    }


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _date(text: str) -> float | None:
    """ISO 8601 or epoch seconds, as IAM's Date operators take them."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _compare(
    convert: Callable[[str], float | None], test: Callable[[float, float], bool]
) -> Callable[[str, str], bool]:
    def matches(value: str, pattern: str) -> bool:
        left, right = convert(value), convert(pattern)
        return left is not None and right is not None and test(left, right)

    return matches


def _ip(value: str, pattern: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(pattern, strict=False)
    except ValueError:
        return False


def _arn_like(value: str, pattern: str) -> bool:
    """ArnLike: each of the six colon-separated parts matched on its own (wildcards stay within a part)."""
    values, patterns = value.split(":", 5), pattern.split(":", 5)
    return len(values) == len(patterns) == 6 and all(
        glob_match(p, v, case_sensitive=True) for v, p in zip(values, patterns, strict=True)
    )


# operator -> (negated, value matches pattern); IAM's list
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
_OPERATORS: dict[str, tuple[bool, Callable[[str, str], bool]]] = {
    "StringEquals": (False, lambda value, pattern: value == pattern),
    "StringNotEquals": (True, lambda value, pattern: value == pattern),
    "StringEqualsIgnoreCase": (False, lambda value, pattern: value.lower() == pattern.lower()),
    "StringNotEqualsIgnoreCase": (True, lambda value, pattern: value.lower() == pattern.lower()),
    "StringLike": (False, lambda value, pattern: glob_match(pattern, value, case_sensitive=True)),
    "StringNotLike": (True, lambda value, pattern: glob_match(pattern, value, case_sensitive=True)),
    "NumericEquals": (False, _compare(_number, lambda a, b: a == b)),
    "NumericNotEquals": (True, _compare(_number, lambda a, b: a == b)),
    "NumericLessThan": (False, _compare(_number, lambda a, b: a < b)),
    "NumericLessThanEquals": (False, _compare(_number, lambda a, b: a <= b)),
    "NumericGreaterThan": (False, _compare(_number, lambda a, b: a > b)),
    "NumericGreaterThanEquals": (False, _compare(_number, lambda a, b: a >= b)),
    "DateEquals": (False, _compare(_date, lambda a, b: a == b)),
    "DateNotEquals": (True, _compare(_date, lambda a, b: a == b)),
    "DateLessThan": (False, _compare(_date, lambda a, b: a < b)),
    "DateLessThanEquals": (False, _compare(_date, lambda a, b: a <= b)),
    "DateGreaterThan": (False, _compare(_date, lambda a, b: a > b)),
    "DateGreaterThanEquals": (False, _compare(_date, lambda a, b: a >= b)),
    "Bool": (False, lambda value, pattern: value.lower() == pattern.lower()),
    "BinaryEquals": (False, lambda value, pattern: value == pattern),
    "IpAddress": (False, _ip),
    "NotIpAddress": (True, _ip),
    "ArnEquals": (False, lambda value, pattern: value == pattern),
    "ArnNotEquals": (True, lambda value, pattern: value == pattern),
    "ArnLike": (False, _arn_like),
    "ArnNotLike": (True, _arn_like),
}


def unevaluated_condition_keys(statement: dict[str, Any]) -> set[str]:
    """The statement's condition keys that local evaluation treats as holding."""
    return {
        key for pairs in (statement.get("Condition") or {}).values() for key in pairs if not evaluated(key)
    }


def _condition_holds(operator: str, key: str, values: Any, context: dict[str, Any]) -> bool | None:
    """IAM's result for one operator/key pair; None when the operator is not one IAM has.

    A key missing from the request makes a positive operator false and a negated one true (IAM's
    rule); `...IfExists` makes a missing key true. `ForAnyValue:`/`ForAllValues:` compare each of a
    multivalued key's values (ForAllValues holds for a missing key).
    """
    present = {k.lower(): v for k, v in context.items()}
    value = present.get(key.lower())
    qualifier, _, operator = operator.rpartition(":")
    base, if_exists = (
        (operator[: -len("IfExists")], True) if operator.endswith("IfExists") else (operator, False)
    )
    if base == "Null":
        return (value is None) == (str(as_list(values)[0]).lower() == "true")
    if base not in _OPERATORS:
        return None
    negated, matches = _OPERATORS[base]
    patterns = _resolved(
        [str(v).lower() if isinstance(v, bool) else str(v) for v in as_list(values)], context
    )
    if value is None:
        return qualifier == "ForAllValues" or if_exists or negated
    items = [str(v) for v in as_list(value)]

    def one(item: str) -> bool:
        hit = any(matches(item, pattern) for pattern in patterns)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(item) for item in items)
    return any(one(item) for item in items)


@dataclass
class Policy:
    statements: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def _conditions_hold(statement: dict[str, Any], context: dict[str, Any]) -> bool:
        deny = statement.get("Effect") == "Deny"
        for operator, pairs in (statement.get("Condition") or {}).items():
            for key, values in pairs.items():
                if not evaluated(key) or not _known_in(key, context):
                    continue  # not known locally: applied as if it held (reported at start-up)
                held = _condition_holds(operator, key, values, context)
                if held is None:  # an operator we do not evaluate on a known key: never more permissive
                    held = deny
                if not held:
                    return False
        return True

    def _matches(
        self, statement: dict[str, Any], action: str, resource: str, context: dict[str, Any]
    ) -> bool:
        if "Condition" in statement and not self._conditions_hold(statement, context):
            return False
        if "Action" in statement:
            action_ok = any(glob_match(a, action, case_sensitive=False) for a in as_list(statement["Action"]))
        else:
            action_ok = not any(
                glob_match(a, action, case_sensitive=False) for a in as_list(statement["NotAction"])
            )
        if not action_ok:
            return False
        if "Resource" in statement:
            patterns = _resolved(statement["Resource"], context)
            return any(glob_match(r, resource, case_sensitive=True) for r in patterns)
        return not any(
            glob_match(r, resource, case_sensitive=True)
            for r in _resolved(statement.get("NotResource"), context)
        )

    def decide(self, action: str, resource: str, context: dict[str, Any] | None = None) -> str:
        """'Allow', 'ExplicitDeny' or 'ImplicitDeny' (context: the request's condition keys)."""
        allowed = False
        for statement in self.statements:
            if not self._matches(statement, action, resource, context or {}):
                continue
            if statement.get("Effect") == "Deny":
                return "ExplicitDeny"
            allowed = True
        return "Allow" if allowed else "ImplicitDeny"

    def allows(self, action: str, resource: str, context: dict[str, Any] | None = None) -> bool:
        return self.decide(action, resource, context) == "Allow"

    def granted(self) -> list[tuple[str, str]]:
        """(action, resource) pairs allowed by the statements (as written, wildcards kept)."""
        pairs = []
        for statement in self.statements:
            if statement.get("Effect") != "Allow":
                continue
            for action in as_list(statement.get("Action")):
                for resource in as_list(statement.get("Resource", "*")):
                    pairs.append((action, resource))
        return pairs


# ---------------------------------------------------------------------- request → (action, resources)


@dataclass
class AwsRequest:
    method: str
    path: str  # path + query, as received
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query, keep_blank_values=True)

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass
class Described:
    service: str
    action: str  # e.g. "dynamodb:PutItem"
    resources: list[str]
    access_key: str | None
    protocol: str  # "json" | "query" | "rest-xml" | "rest-json"
    s3: dict[str, Any] = field(default_factory=dict)  # bucket/key/operation for S3 notifications
    context: dict[str, str] = field(default_factory=dict)  # condition keys of the request (s3:prefix)
    json_body: dict[str, Any] = field(default_factory=dict)  # a JSON-protocol request's parsed body


_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


def _credential(request: AwsRequest) -> tuple[str | None, str | None]:
    match = _SCOPE.search(request.header("authorization"))
    if match:
        return match.group(1), match.group(3)
    query = request.query
    if "X-Amz-Credential" in query:
        parts = query["X-Amz-Credential"][0].split("/")
        return parts[0], parts[3] if len(parts) > 3 else None
    if "AWSAccessKeyId" in query:  # SigV2 presigned URL (S3 only)
        return query["AWSAccessKeyId"][0], "s3"
    return None, None


_TARGET_SERVICES = {
    "DynamoDB_": "dynamodb",
    "AmazonSQS.": "sqs",
    "AWSEvents.": "events",
    "AmazonSSM.": "ssm",
    "AWSLambda": "lambda",
    "AmazonSNS": "sns",
    "secretsmanager.": "secretsmanager",
    "AWSStepFunctions.": "states",
}


def describe_request(request: AwsRequest, region: str, account: str) -> Described:
    access_key, scope_service = _credential(request)
    target = request.header("x-amz-target")
    if target:
        operation = target.partition(".")[2]
        service = next((s for p, s in _TARGET_SERVICES.items() if target.startswith(p)), scope_service or "")
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        action = f"{service}:{operation}"
        resources = _json_resources(service, operation, body, region, account)
        return Described(service, action, resources, access_key, "json", json_body=body)
    service = scope_service or "s3"
    if service in ("s3",):
        return _describe_s3(request, access_key)
    if service == "lambda" and request.method == "POST":
        invoked = _LAMBDA_INVOKE.fullmatch(unquote(urlsplit(request.path).path))
        if invoked:
            return _describe_invoke(request, invoked.group(1), access_key, region, account)
    # Query protocol (SQS/SNS/STS/IAM form posts)
    form = parse_qs(request.body.decode("utf-8", "replace")) if request.body else {}
    form = {**request.query, **form}
    operation = (form.get("Action") or [""])[0]
    params = {k: v[0] for k, v in form.items()}
    queue_path = urlsplit(request.path).path.strip("/")
    if service == "sqs" and "QueueUrl" not in params and queue_path.count("/") == 1:
        params["QueueUrl"] = queue_path  # a path-style call (/{account}/{queue}): the queue is the path
    action = f"{service}:{operation}"
    return Described(
        service, action, _query_resources(service, operation, params, region, account), access_key, "query"
    )


_LAMBDA_INVOKE = re.compile(r"/2015-03-31/functions/([^/]+)/invocations")


def _describe_invoke(
    request: AwsRequest, function: str, access_key: str | None, region: str, account: str
) -> Described:
    """Lambda's Invoke (REST-JSON): the function, alias or version ARN it names."""
    qualifier = (request.query.get("Qualifier") or [""])[0]
    if not function.startswith("arn:"):
        function = f"arn:aws:lambda:{region}:{account}:function:{function}"
    if qualifier and function.count(":") == 6:
        function = f"{function}:{qualifier}"
    return Described("lambda", "lambda:InvokeFunction", [function], access_key, "rest-json")


def _table_arn(region: str, account: str, table: str, index: str | None = None) -> str:
    base = table if table.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{table}"
    return f"{base}/index/{index}" if index else base


def _queue_arn(region: str, account: str, queue_url_or_name: str) -> str:
    name = queue_url_or_name.rstrip("/").rsplit("/", 1)[-1]
    return f"arn:aws:sqs:{region}:{account}:{name}"


def _json_resources(
    service: str, operation: str, body: dict[str, Any], region: str, account: str
) -> list[str]:
    if service == "dynamodb":
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [_table_arn(region, account, t) for t in body.get("RequestItems", {})]
        if operation in ("TransactWriteItems", "TransactGetItems"):
            tables = []
            for item in body.get("TransactItems", []):
                for op in item.values():
                    tables.append(_table_arn(region, account, op.get("TableName", "")))
            return sorted(set(tables))
        if "TableName" in body:
            return [_table_arn(region, account, body["TableName"], body.get("IndexName"))]
        return ["*"]
    if service == "sqs":
        if "QueueUrl" in body:
            return [_queue_arn(region, account, body["QueueUrl"])]
        if "QueueName" in body:
            return [_queue_arn(region, account, body["QueueName"])]
        return ["*"]
    if service == "events":
        if operation == "PutEvents":
            buses = {str(e.get("EventBusName") or "default") for e in body.get("Entries", [])}
            return sorted(
                b if b.startswith("arn:") else f"arn:aws:events:{region}:{account}:event-bus/{b}"
                for b in buses
            )
        return ["*"]
    if service == "kinesis" and ("StreamARN" in body or "StreamName" in body):
        stream = str(body.get("StreamARN") or body["StreamName"])
        return [
            stream if stream.startswith("arn:") else f"arn:aws:kinesis:{region}:{account}:stream/{stream}"
        ]
    if service == "secretsmanager" and "SecretId" in body:
        # By ARN as given; a name is matched as its partial ARN (a policy naming the full ARN does not).
        secret = str(body["SecretId"])
        if secret.startswith("arn:"):
            return [secret]
        return [f"arn:aws:secretsmanager:{region}:{account}:secret:{secret}"]
    if service == "states":
        # The resource each action names (Step Functions' service authorization reference): a state
        # machine, an execution or an activity; task tokens and listings are "*".
        for field_name in ("stateMachineArn", "executionArn", "activityArn"):
            if body.get(field_name):
                return [str(body[field_name])]
        return ["*"]
    if service == "ssm":
        names = body.get("Names") or ([body["Name"]] if "Name" in body else [])
        if "Path" in body:
            names = [body["Path"]]
        if names:
            return [f"arn:aws:ssm:{region}:{account}:parameter/{n.lstrip('/')}" for n in names]
        return ["*"]
    return ["*"]


def _query_resources(
    service: str, operation: str, params: dict[str, str], region: str, account: str
) -> list[str]:
    if service == "sqs":
        if "QueueUrl" in params:
            return [_queue_arn(region, account, params["QueueUrl"])]
        if "QueueName" in params:
            return [_queue_arn(region, account, params["QueueName"])]
    if service == "sns" and "TopicArn" in params:
        return [params["TopicArn"]]
    return ["*"]


def _describe_s3(request: AwsRequest, access_key: str | None) -> Described:
    parts = urlsplit(request.path)
    host = request.header("host").split(":")[0]
    path = unquote(parts.path)
    if host.endswith(".localhost"):
        bucket, key = host[: -len(".localhost")], path.lstrip("/")
    else:
        bucket, _, key = path.lstrip("/").partition("/")
    query = request.query
    method = request.method.upper()
    info: dict[str, Any] = {
        "bucket": bucket,
        "key": key,
        "decoded_length": request.header("x-amz-decoded-content-length"),
    }
    if not bucket:
        return Described("s3", "s3:ListAllMyBuckets", ["*"], access_key, "rest-xml", info)
    bucket_arn = f"arn:aws:s3:::{bucket}"
    object_arn = f"{bucket_arn}/{key}"
    if key:
        if method in ("GET", "HEAD"):
            action = "s3:GetObject"
            if "tagging" in query:
                action = "s3:GetObjectTagging"
            elif "acl" in query:
                action = "s3:GetObjectAcl"
        elif method == "PUT":
            action = "s3:PutObject"
            if "tagging" in query:
                action = "s3:PutObjectTagging"
            elif "acl" in query:
                action = "s3:PutObjectAcl"
            elif request.header("x-amz-copy-source"):
                info["operation"] = "Copy"
            elif "partNumber" in query:
                info["operation"] = "Part"
            else:
                info["operation"] = "Put"
        elif method == "POST":
            action = "s3:PutObject"
            if "uploadId" in query:
                info["operation"] = "CompleteMultipartUpload"
        elif method == "DELETE":
            action = "s3:AbortMultipartUpload" if "uploadId" in query else "s3:DeleteObject"
            if action == "s3:DeleteObject":
                info["operation"] = "Delete"
        else:
            action = "s3:GetObject"
        return Described("s3", action, [object_arn], access_key, "rest-xml", info)
    if method == "POST" and "delete" in query:
        info["operation"] = "DeleteObjects"
        return Described("s3", "s3:DeleteObject", [f"{bucket_arn}/*"], access_key, "rest-xml", info)
    if method in ("GET", "HEAD"):
        action = "s3:ListBucket"
        if "versions" in query:
            action = "s3:ListBucketVersions"
        elif "uploads" in query:
            action = "s3:ListBucketMultipartUploads"
        elif "location" in query:
            action = "s3:GetBucketLocation"
        elif "notification" in query:
            action = "s3:GetBucketNotification"
        context = {"s3:prefix": query["prefix"][0]} if "prefix" in query else {}
        return Described("s3", action, [bucket_arn], access_key, "rest-xml", info, context)
    if method == "PUT":
        return Described("s3", "s3:CreateBucket", [bucket_arn], access_key, "rest-xml", info)
    if method == "DELETE":
        return Described("s3", "s3:DeleteBucket", [bucket_arn], access_key, "rest-xml", info)
    return Described("s3", f"s3:{method}", [bucket_arn], access_key, "rest-xml", info)


# Calls every identity may make without a grant.
ALWAYS_ALLOWED = {"sts:GetCallerIdentity"}


def access_denied(
    described: Described,
    principal_arn: str,
    resource: str,
    explicit: bool,
    *,
    action: str | None = None,
    code: str | None = None,
) -> tuple[int, dict, bytes]:
    """(status, headers, body) of AWS's AccessDenied answer in the service's protocol; `action` when
    the denied action is not the request's own (a KMS action on the resource's key), with the service's
    `code` for it (then a 400, as services answer a KMS refusal; S3 keeps its 403 AccessDenied)."""
    action = action or described.action
    reason = (
        "with an explicit deny in an identity-based policy"
        if explicit
        else (f"because no identity-based policy allows the {action} action")
    )
    message = f"User: {principal_arn} is not authorized to perform: {action}"
    message += f" on resource: {resource} {reason}"
    request_id = f"{time.time_ns():x}"
    if code is not None and described.protocol != "rest-xml":
        return _service_error(described, 400, code, message, request_id)
    if described.protocol == "rest-json":  # Lambda
        headers = {"Content-Type": "application/json", "x-amzn-ErrorType": "AccessDeniedException"}
        return (
            403,
            {**headers, "x-amzn-RequestId": request_id},
            json.dumps({"Type": "User", "Message": message}).encode(),
        )
    if described.protocol == "json":
        error_type = "AccessDeniedException"
        body = {"__type": f"com.amazon.coral.service#{error_type}", "message": message, "Message": message}
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "x-amzn-ErrorType": error_type,
            "x-amzn-RequestId": request_id,
        }
        if described.service == "sqs":  # SQS's JSON protocol is query-compatible: clients see "AccessDenied"
            headers["x-amzn-query-error"] = "AccessDenied;Sender"
        return 400, headers, json.dumps(body).encode()
    if described.protocol == "rest-xml":
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
            f"<Message>{_xml_escape(message)}</Message><RequestId>{request_id}</RequestId>"
            f"<HostId>{request_id}</HostId></Error>"
        )
        return 403, {"Content-Type": "application/xml", "x-amz-request-id": request_id}, xml.encode()
    xml = (
        '<?xml version="1.0"?>\n<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>'
        f"<Message>{_xml_escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return 403, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, xml.encode()


_SQS_JSON_ERRORS = {"KMS.AccessDeniedException": "com.amazonaws.sqs#KmsAccessDenied"}


def _service_error(
    described: Described, status: int, code: str, message: str, request_id: str
) -> tuple[int, dict, bytes]:
    """A service's own error `code` (JSON: `__type`; query: the XML ErrorResponse)."""
    if described.protocol == "json":
        error_type = code
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": request_id}
        if described.service == "sqs":  # JSON, query-compatible: the query code is in a header
            error_type = _SQS_JSON_ERRORS.get(code, code)
            headers["x-amzn-query-error"] = f"{code};Sender"
        headers["x-amzn-ErrorType"] = error_type
        body = {"__type": error_type, "message": message, "Message": message}
        return status, headers, json.dumps(body).encode()
    xml = (
        f'<?xml version="1.0"?>\n<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{_xml_escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, xml.encode()


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Recorder:
    """Appends one JSON line per evaluated call (allowed or denied) to a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file = path.open("a", encoding="utf-8")
        self.listeners: list[Callable[[dict[str, Any]], None]] = []  # e.g. the console's denied calls

    def record(self, function: str, action: str, resource: str, allowed: bool, via: str = "function") -> None:
        entry = {
            "time": time.time(),
            "function": function,
            "action": action,
            "resource": resource,
            "allowed": allowed,
            "via": via,
        }
        with self._lock:
            self._file.write(json.dumps(entry) + "\n")
            self._file.flush()
        for listener in self.listeners:
            listener(entry)

    def close(self) -> None:
        with self._lock:
            self._file.close()


def unused_grants(
    granted: dict[str, list[tuple[str, str]]], recording: list[dict[str, Any]]
) -> dict[str, list[tuple[str, str]]]:
    """Per function, granted (action, resource) pairs that no allowed recorded call used."""
    used: dict[str, list[tuple[str, str]]] = {}
    for entry in recording:
        if entry.get("allowed"):
            used.setdefault(entry["function"], []).append((entry["action"], entry["resource"]))
    report: dict[str, list[tuple[str, str]]] = {}
    for function, pairs in granted.items():
        calls = used.get(function, [])
        report[function] = [
            (action, resource)
            for action, resource in pairs
            if not any(
                fnmatch.fnmatchcase(a.lower(), action.lower())
                and glob_match(resource, r, case_sensitive=True)
                for a, r in calls
            )
        ]
    return report
