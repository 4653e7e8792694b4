"""Cognito user pools from the templates, created in moto, and the users and tokens for calling the API.

moto picks its own random pool and client ids. They are bound in the `App` (`App.bound_ids`), so every
`Ref`/`Fn::GetAtt` resolved afterwards (the authorizer's ProviderARNs, function environments, IAM
resources) names the pool moto really has; `UserPools` keeps the template → moto mapping for the rest.

Tokens are minted by moto through the pool's first app client with ADMIN_USER_PASSWORD_AUTH. moto does
not enforce a client's ExplicitAuthFlows (5.2.5: neither admin_initiate_auth nor initiate_auth checks
them), so the template's client is created as it is, with no extra flow. In AWS that client (SRP only)
refuses ADMIN_USER_PASSWORD_AUTH: there, sign in with SRP (Amplify, pycognito) or the hosted UI.
"""

from __future__ import annotations

import secrets
import string
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, ParamValidationError

from local_runtime.templates import App, Stack, TemplateError, construct_names

# CloudFormation properties whose name differs from the CreateUserPool API (the rest match by name).
_RENAMED = {"UserPoolName": "PoolName"}
# Cognito's password symbols, minus those awkward in a shell or a URL.
_SYMBOLS = "!#%*+-.=?@^_~"


@dataclass
class UserPool:
    stack: str
    logical_id: str
    names: list[str]  # construct name(s) and logical id, to choose a pool by
    pool_name: str
    pool_id: str  # moto's
    arn: str
    clients: dict[str, str] = field(default_factory=dict)  # logical id -> moto client id
    groups: list[str] = field(default_factory=list)  # from the template
    password_policy: dict[str, Any] = field(default_factory=dict)

    @property
    def display(self) -> str:
        return self.names[0]

    def summary(self) -> dict[str, Any]:
        return {"id": self.pool_id, "arn": self.arn, "clients": self.clients, "groups": self.groups}


class UserError(ValueError):
    """A user cannot be created as asked (unknown pool or group, password refused); the text says why."""


def create_user_pools(app: App, idp: Any) -> tuple[list[UserPool], list[str]]:
    """Create every user pool (then its groups and app clients) in moto; (pools, one line per resource).

    A pool, group or client that already exists by name (a hot reload's new assembly) is reused, so its
    users and their tokens stay valid."""
    pools: list[UserPool] = []
    created: list[str] = []
    accepted = set(idp.meta.service_model.operation_model("CreateUserPool").input_shape.members)
    existing = {p["Name"]: p["Id"] for p in idp.list_user_pools(MaxResults=60)["UserPools"]}
    for stack, logical_id, resource in app.all_resources("AWS::Cognito::UserPool"):
        props = app.resolve(stack, resource.get("Properties", {}))
        request = {_RENAMED.get(k, k): v for k, v in props.items() if _RENAMED.get(k, k) in accepted}
        request["PoolName"] = app.physical_name(stack, logical_id)
        ignored = sorted(k for k in props if _RENAMED.get(k, k) not in accepted and k != "EnabledMfas")
        reused = request["PoolName"] in existing
        if reused:
            pool_id = existing[request["PoolName"]]
        else:
            pool_id = _call(f"{stack.name}/{logical_id}", idp.create_user_pool, request)["UserPool"]["Id"]
        mfa = props.get("MfaConfiguration", "OFF")
        if mfa != "OFF" and not reused:
            enabled = props.get("EnabledMfas", [])
            idp.set_user_pool_mfa_config(
                UserPoolId=pool_id,
                MfaConfiguration=mfa,
                SoftwareTokenMfaConfiguration={"Enabled": "SOFTWARE_TOKEN_MFA" in enabled},
            )
        app.bound_ids[(stack.name, logical_id)] = pool_id
        pool = UserPool(
            stack=stack.name,
            logical_id=logical_id,
            names=[*construct_names(resource)[:1], logical_id],
            pool_name=request["PoolName"],
            pool_id=pool_id,
            arn=str(app.get_att(stack, logical_id, "Arn")),
            password_policy=props.get("Policies", {}).get("PasswordPolicy", {}),
        )
        pools.append(pool)
        note = f" (not applied locally: {', '.join(ignored)})" if ignored else ""
        if not reused:
            created.append(f"user pool {pool.pool_name} {pool_id} MFA {mfa}{note}")
    for pool in pools:
        _groups(app, idp, pool, created)
        _clients(app, idp, pool, created)
    return pools, created


def _belongs_to(app: App, stack: Stack, props: dict[str, Any], pool: UserPool) -> bool:
    return str(app.resolve(stack, props.get("UserPoolId"))) == pool.pool_id


def _groups(app: App, idp: Any, pool: UserPool, created: list[str]) -> None:
    existing = {g["GroupName"] for g in idp.list_groups(UserPoolId=pool.pool_id)["Groups"]}
    for stack, logical_id, resource in app.all_resources("AWS::Cognito::UserPoolGroup"):
        props = resource.get("Properties", {})
        if not _belongs_to(app, stack, props, pool):
            continue
        props = app.resolve(stack, props)
        name = app.physical_name(stack, logical_id)
        request = {"UserPoolId": pool.pool_id, "GroupName": name}
        request |= {k: props[k] for k in ("Description", "Precedence", "RoleArn") if k in props}
        pool.groups.append(name)
        if name in existing:
            continue
        _call(f"{stack.name}/{logical_id}", idp.create_group, request)
        created.append(f"group  {name} in {pool.pool_name}")


def _clients(app: App, idp: Any, pool: UserPool, created: list[str]) -> None:
    accepted = set(idp.meta.service_model.operation_model("CreateUserPoolClient").input_shape.members)
    pages = idp.get_paginator("list_user_pool_clients").paginate(UserPoolId=pool.pool_id)
    existing = {c["ClientName"]: c["ClientId"] for page in pages for c in page["UserPoolClients"]}
    for stack, logical_id, resource in app.all_resources("AWS::Cognito::UserPoolClient"):
        props = resource.get("Properties", {})
        if not _belongs_to(app, stack, props, pool):
            continue
        props = app.resolve(stack, props)
        request = {k: v for k, v in props.items() if k in accepted}
        request |= {"UserPoolId": pool.pool_id, "ClientName": app.physical_name(stack, logical_id)}
        if request["ClientName"] in existing:
            client_id = existing[request["ClientName"]]
            app.bound_ids[(stack.name, logical_id)] = client_id
            pool.clients[logical_id] = client_id
            continue
        client = _call(f"{stack.name}/{logical_id}", idp.create_user_pool_client, request)
        client_id = client["UserPoolClient"]["ClientId"]
        app.bound_ids[(stack.name, logical_id)] = client_id
        pool.clients[logical_id] = client_id
        flows = ", ".join(props.get("ExplicitAuthFlows", [])) or "default flows"
        created.append(f"client {request['ClientName']} {client_id} ({flows})")


def _call(what: str, operation: Callable[..., Any], request: dict[str, Any]) -> Any:
    try:
        return operation(**request)
    except (ClientError, ParamValidationError) as error:
        raise TemplateError(f"{what}: moto refused the resource: {error}") from error


def generate_password(policy: dict[str, Any]) -> str:
    """A random password meeting the pool's policy (length and every character class Cognito may ask)."""
    length = max(int(policy.get("MinimumLength", 8)), 20)
    classes = [string.ascii_lowercase, string.ascii_uppercase, string.digits, _SYMBOLS]
    chars = [secrets.choice(c) for c in classes]
    alphabet = "".join(classes)
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


class Users:
    """Confirmed users with permanent passwords in the app's pools, and their tokens minted by moto."""

    def __init__(self, pools: list[UserPool], idp: Callable[[], Any]) -> None:
        self.pools = pools
        self._idp = idp
        self._passwords: dict[tuple[str, str], str] = {}  # (pool id, username) -> the one we set
        self._lock = threading.Lock()

    def find_pool(self, name: str | None) -> UserPool:
        known = ", ".join(f"{p.display} ({p.pool_name}, {p.pool_id})" for p in self.pools) or "none"
        if name is None:
            if len(self.pools) == 1:
                return self.pools[0]
            if not self.pools:
                raise UserError("the app has no Cognito user pool")
            raise UserError(f"the app has several user pools, choose one with pool=: {known}")
        wanted = name.lower()
        for pool in self.pools:
            if wanted in {n.lower() for n in [*pool.names, pool.pool_name, pool.pool_id]}:
                return pool
        raise UserError(f"no user pool called {name!r} (pools: {known})")

    def create_user(
        self,
        username: str,
        *,
        groups: Sequence[str] = (),
        password: str | None = None,
        pool: str | None = None,
    ) -> dict[str, Any]:
        chosen = self.find_pool(pool)
        unknown = [g for g in groups if g not in chosen.groups]
        if unknown:
            raise UserError(
                f"no group {', '.join(map(repr, unknown))} in user pool {chosen.display} "
                f"(groups in the template: {', '.join(chosen.groups) or 'none'})"
            )
        if not chosen.clients:
            raise UserError(f"user pool {chosen.display} has no app client to sign in with")
        idp = self._idp()
        with self._lock:  # one user at a time: create-or-reuse and the password must not interleave
            key = (chosen.pool_id, username)
            try:
                idp.admin_get_user(UserPoolId=chosen.pool_id, Username=username)
                exists = True
            except idp.exceptions.UserNotFoundException:
                exists = False
            if not exists:
                attributes = [{"Name": "email_verified", "Value": "true"}] if "@" in username else []
                self._user_call(
                    lambda: idp.admin_create_user(
                        UserPoolId=chosen.pool_id,
                        Username=username,
                        MessageAction="SUPPRESS",
                        UserAttributes=attributes,
                    )
                )
            # A reused user keeps the password this runtime gave it, unless a new one is asked for.
            password = password or self._passwords.get(key) or generate_password(chosen.password_policy)
            self._user_call(
                lambda: idp.admin_set_user_password(
                    UserPoolId=chosen.pool_id, Username=username, Password=password, Permanent=True
                )
            )
            self._passwords[key] = password
            for group in groups:
                idp.admin_add_user_to_group(UserPoolId=chosen.pool_id, Username=username, GroupName=group)
            user = idp.admin_get_user(UserPoolId=chosen.pool_id, Username=username)
            member_of = idp.admin_list_groups_for_user(UserPoolId=chosen.pool_id, Username=username)
            result = idp.admin_initiate_auth(
                UserPoolId=chosen.pool_id,
                ClientId=next(iter(chosen.clients.values())),
                AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": username, "PASSWORD": password},
            )
        tokens = result.get("AuthenticationResult")
        if not tokens:
            raise UserError(
                f"moto answered with the challenge {result.get('ChallengeName')} instead of tokens"
            )
        user_attributes = {a["Name"]: a["Value"] for a in user.get("UserAttributes", [])}
        return {
            "username": username,
            "sub": user_attributes.get("sub", user["Username"]),
            "password": password,
            "groups": sorted(g["GroupName"] for g in member_of["Groups"]),
            "idToken": tokens["IdToken"],
            "accessToken": tokens["AccessToken"],
            "expiresIn": tokens["ExpiresIn"],
            "pool": chosen.display,
            "poolId": chosen.pool_id,
        }

    @staticmethod
    def _user_call(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except ClientError as error:
            raise UserError(
                f"{error.response['Error']['Code']}: {error.response['Error']['Message']}"
            ) from error
