"""API Gateway's Cognito user pool authorizer (COGNITO_USER_POOLS) for the local REST API.

What API Gateway checks before the integration runs, done here with joserfc (no hand-written crypto):
- the token comes from the identity source header (`Authorization`); a `Bearer ` prefix is accepted as
  well as the bare token (REST APIs accept both: Amplify's documented `Bearer <idToken>` header works,
  e.g. aws-amplify/docs#1137, awslabs/nx-plugin-for-aws#828);
- RS256 signature by a key of the pool's JWKS (fetched from the embedded moto, cached, refetched once
  when the `kid` is unknown); any other `alg` (`none`, HS256...) is refused;
- `iss` is one of the authorizer's pools, `exp` is in the future, `iat`/`nbf` are not in the future;
- without AuthorizationScopes on the method the ID token is required (`token_use` id, `aud` an app
  client of that pool) and an access token is refused; with scopes, an access token (`client_id` an app
  client of the pool) carrying one of the scopes is required.
A failure is a 401 whose message is "Unauthorized", or "The incoming token has expired" for a token
past its `exp` (aws-amplify/amplify-js#6060).

Claims reach the function as API Gateway REST (v1) renders them in `requestContext.authorizer.claims`:
every value is a string. `exp`/`iat` become Java date strings ("Fri Jul 29 18:52:53 UTC 2016"),
`auth_time` and other numbers their digits, booleans "true"/"false" (a v1 event captured from AWS in
amazon-archives/amazon-cognito-identity-js#92). Lists, `cognito:groups` first, are joined with commas
("admins,editors"): what REST APIs hand over, as opposed to HTTP API JWT authorizers' "[admins editors]"
(REST: aws/chalice#783 splits the claim on ","; an article on exactly this conversion, openillumi.com
"API Gateway Cognito JWT claim conversion"; HTTP API: aws-solutions-library-samples/
guidance-for-claude-code-with-amazon-bedrock#802). Objects are rendered as compact JSON (unverified).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

UNAUTHORIZED = "Unauthorized"
EXPIRED = "The incoming token has expired"
CLOCK_SKEW_S = 300  # how far in the future iat/nbf may be
_USERPOOL_ARN = re.compile(r"^arn:[^:]+:cognito-idp:([^:]+):[^:]*:userpool/(.+)$")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class UnauthorizedError(Exception):
    """The request is refused with 401; `message` is API Gateway's `$context.error.message`."""

    def __init__(self, message: str = UNAUTHORIZED, reason: str = "") -> None:
        super().__init__(reason or message)
        self.message = message
        self.reason = reason or message  # for the runtime's log, never sent to the client


@dataclass
class CognitoAuthorizer:
    logical_id: str
    name: str
    header: str  # from IdentitySource method.request.header.<name>
    provider_arns: list[str]
    validation_expression: str | None = None
    pools: dict[str, str] = field(default_factory=dict)  # issuer -> pool id

    def __post_init__(self) -> None:
        for arn in self.provider_arns:
            match = _USERPOOL_ARN.match(arn)
            if match is None:
                raise ValueError(f"authorizer {self.logical_id}: {arn!r} is not a Cognito user pool ARN")
            region, pool_id = match.groups()
            self.pools[f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"] = pool_id


def java_date(epoch: float) -> str:
    """API Gateway's rendering of a date claim (java.util.Date.toString in UTC), locale independent."""
    moment = datetime.fromtimestamp(int(epoch), UTC)
    return (
        f"{_DAYS[moment.weekday()]} {_MONTHS[moment.month - 1]} {moment.day:02d} "
        f"{moment:%H:%M:%S} UTC {moment.year}"
    )


def render_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """The token's claims as `requestContext.authorizer.claims` holds them in a REST (v1) proxy event."""
    rendered = {}
    for name, value in claims.items():
        if name in ("exp", "iat") and isinstance(value, int | float) and not isinstance(value, bool):
            rendered[name] = java_date(value)
        elif isinstance(value, bool):
            rendered[name] = "true" if value else "false"
        elif isinstance(value, list | tuple):
            rendered[name] = ",".join(_scalar(v) for v in value)
        elif isinstance(value, dict):
            rendered[name] = json.dumps(value, separators=(",", ":"))
        else:
            rendered[name] = _scalar(value)
    return rendered


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Verifier:
    """Checks tokens for the API's Cognito authorizers; keys and app clients come from callables."""

    def __init__(
        self,
        fetch_jwks: Callable[[str], dict[str, Any]],
        list_clients: Callable[[str], set[str]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch_jwks = fetch_jwks  # pool id -> {"keys": [...]}
        self._list_clients = list_clients  # pool id -> app client ids
        self._clock = clock
        self._keys: dict[str, KeySet] = {}
        self._clients: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def authorize(
        self, authorizer: CognitoAuthorizer, scopes: Sequence[str], headers: Mapping[str, str]
    ) -> dict[str, str]:
        """Rendered claims for the proxy event, or UnauthorizedError."""
        wanted = authorizer.header.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), "").strip()
        if not value:
            raise UnauthorizedError(reason=f"no {authorizer.header} header")
        if value[:7].lower() == "bearer ":
            value = value[7:].strip()
        expression = authorizer.validation_expression
        if expression and not re.fullmatch(expression, value):
            raise UnauthorizedError(reason="token does not match the IdentityValidationExpression")
        return render_claims(self.verify(value, authorizer, scopes))

    def verify(self, token: str, authorizer: CognitoAuthorizer, scopes: Sequence[str] = ()) -> dict[str, Any]:
        try:
            compact = jws.extract_compact(token.encode())
            unverified = json.loads(compact.payload)
        except (JoseError, ValueError, UnicodeError) as error:
            raise UnauthorizedError(reason=f"not a JWS compact token: {error}") from error
        header = compact.protected
        if header.get("alg") != "RS256":
            raise UnauthorizedError(reason=f"alg {header.get('alg')!r} is not RS256")
        if not isinstance(unverified, dict) or not header.get("kid"):
            raise UnauthorizedError(reason="no kid in the token header, or the payload is not a JSON object")
        pool_id = authorizer.pools.get(str(unverified.get("iss")))
        if pool_id is None:
            raise UnauthorizedError(
                reason=f"iss {unverified.get('iss')!r} is not a pool of {authorizer.name}"
            )
        key = self._key(pool_id, str(header["kid"]))
        try:
            claims = jwt.decode(token, key, algorithms=["RS256"]).claims
        except (JoseError, ValueError) as error:
            raise UnauthorizedError(reason=f"signature not verified: {error!r}") from error
        self._check_times(claims)
        if scopes:
            if claims.get("token_use") != "access":
                raise UnauthorizedError(reason="the method has scopes: an access token is required")
            granted = set(str(claims.get("scope", "")).split())
            if not granted & set(scopes):
                raise UnauthorizedError(reason=f"none of the scopes {list(scopes)} in the token")
            client = claims.get("client_id")
        else:
            if claims.get("token_use") != "id":
                raise UnauthorizedError(
                    reason=f"token_use {claims.get('token_use')!r}: an ID token is required"
                )
            client = claims.get("aud")
        if not isinstance(client, str) or not self._is_client(pool_id, client):
            raise UnauthorizedError(reason=f"{client!r} is not an app client of {pool_id}")
        return claims

    def verify_jwt(
        self, token: str, issuer: str, audiences: Sequence[str], scopes: Sequence[str]
    ) -> dict[str, Any]:
        """An HTTP API JWT authorizer's checks: RS256 by a key of the issuer's JWKS, `iss` the configured
        issuer, `aud` (or `client_id` when there is no `aud`) one of the audiences, exp/nbf/iat, and one of
        the route's scopes in `scope`. Only this runtime's Cognito pools are issuers it can fetch keys of."""
        match = re.fullmatch(r"https://cognito-idp\.[^.]+\.amazonaws\.com/(.+)", issuer)
        if match is None:
            raise UnauthorizedError(
                reason=f"issuer {issuer} is not a local Cognito pool: its keys are unreachable"
            )
        pool_id = match.group(1)
        try:
            compact = jws.extract_compact(token.encode())
            unverified = json.loads(compact.payload)
        except (JoseError, ValueError, UnicodeError) as error:
            raise UnauthorizedError(reason=f"not a JWS compact token: {error}") from error
        if compact.protected.get("alg") != "RS256" or not compact.protected.get("kid"):
            raise UnauthorizedError(reason="not an RS256 token with a kid")
        if not isinstance(unverified, dict) or unverified.get("iss") != issuer:
            raise UnauthorizedError(reason=f"iss is not {issuer}")
        key = self._key(pool_id, str(compact.protected["kid"]))
        try:
            claims = jwt.decode(token, key, algorithms=["RS256"]).claims
        except (JoseError, ValueError) as error:
            raise UnauthorizedError(reason=f"signature not verified: {error!r}") from error
        self._check_times(claims)
        audience = claims.get("aud", claims.get("client_id"))
        if audience not in audiences:
            raise UnauthorizedError(reason=f"audience {audience!r} is not one of {list(audiences)}")
        if scopes and not set(str(claims.get("scope", "")).split()) & set(scopes):
            raise UnauthorizedError(reason=f"none of the scopes {list(scopes)} in the token")
        return claims

    def _check_times(self, claims: dict[str, Any]) -> None:
        now = self._clock()
        numbers = {k: claims.get(k) for k in ("exp", "iat", "nbf")}
        for name, value in numbers.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise UnauthorizedError(reason=f"{name} is not a number")
        exp = numbers["exp"]
        if exp is None:
            raise UnauthorizedError(reason="no exp claim")
        if exp <= now:
            raise UnauthorizedError(EXPIRED, reason=f"expired {now - exp:.0f}s ago")
        for name in ("iat", "nbf"):
            value = numbers[name]
            if value is not None and value > now + CLOCK_SKEW_S:
                raise UnauthorizedError(reason=f"{name} is in the future")

    def _key(self, pool_id: str, kid: str) -> Any:
        for refresh in (False, True):  # a kid we have not seen: the pool may have new keys
            with self._lock:
                if refresh or pool_id not in self._keys:
                    self._keys[pool_id] = KeySet.import_key_set(self._fetch_jwks(pool_id))  # type: ignore[arg-type]
                keys = self._keys[pool_id]
            try:
                return keys.get_by_kid(kid)
            except JoseError:
                continue
        raise UnauthorizedError(reason=f"kid {kid!r} is not in the JWKS of {pool_id}")

    def _is_client(self, pool_id: str, client_id: str) -> bool:
        with self._lock:
            known = self._clients.get(pool_id)
            if known is None or client_id not in known:  # clients may have been added since
                known = self._clients[pool_id] = set(self._list_clients(pool_id))
        return client_id in known
