"""API Gateway's AWS_IAM authorization of REST methods (`AuthorizationType: AWS_IAM`).

The caller signs the request with SigV4 for the `execute-api` service. Unsigned: 403 "Missing
Authentication Token"; a signature for another service or region, too old, or not matching: 403
(INVALID_SIGNATURE). A caller with credentials the runtime issued (a function's role, an API
integration's) is verified in full and needs `execute-api:Invoke` on the method's ARN from its identity
policy (ACCESS_DENIED otherwise), as IAM decides in AWS. A developer's own credentials are checked as
the IAM gateway checks them: everything but the secret, which the runtime does not know, and IAM does
not restrict them.
https://docs.aws.amazon.com/apigateway/latest/developerguide/permissions.html
"""

from __future__ import annotations

from typing import Any

from local_runtime import sigv4
from local_runtime.gateway import Gateway
from local_runtime.iam import AwsRequest, global_context
from local_runtime.lambda_authorizer import AuthorizerDeniedError

SERVICE = "execute-api"


class IamAuthorizer:
    def __init__(self, gateway: Gateway, region: str, account: str) -> None:
        self._gateway = gateway
        self.region, self.account = region, account

    def authorize(
        self,
        request: AwsRequest,
        method_arn: str,
        action: str = "execute-api:Invoke",
        service: str = SERVICE,
    ) -> dict[str, Any]:
        """The caller's `requestContext.identity` fields; raises AuthorizerDeniedError when refused.
        A function URL with AuthType AWS_IAM is the same check for `lambda:InvokeFunctionUrl` on the
        function, signed for `lambda`."""
        signed = sigv4.parse(request)
        if signed is None:
            raise AuthorizerDeniedError("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")
        if isinstance(signed, sigv4.Refusal):
            raise AuthorizerDeniedError("INVALID_SIGNATURE", signed.message)
        if signed.service != service:
            message = f"Credential should be scoped to correct service: '{service}'. "
            raise AuthorizerDeniedError("INVALID_SIGNATURE", message)
        identity = self._gateway.identities.get(signed.access_key)
        secret = sigv4.Secret(identity.secret_key, identity.session_token) if identity else None
        refusal = sigv4.check(request, signed, secret, self.region, self._gateway.clock())
        if refusal is not None:
            raise AuthorizerDeniedError("INVALID_SIGNATURE", refusal.message)
        if identity is None:  # a developer's own credentials
            return {"accessKey": signed.access_key, "accountId": self.account, "caller": signed.access_key}
        context = global_context(identity.principal_arn, self.account, self.region)
        decision = identity.policy.decide(action, method_arn, context)
        if self._gateway.recorder:
            self._gateway.recorder.record(
                identity.function, action, method_arn, decision == "Allow", via="api-iam-auth"
            )
        if decision != "Allow":
            reason = (
                "with an explicit deny"
                if decision == "ExplicitDeny"
                else "because no identity-based policy allows it"
            )
            message = (
                f"User: {identity.principal_arn} is not authorized to perform: {action} on "
                f"resource: {method_arn} {reason}"
            )
            raise AuthorizerDeniedError("ACCESS_DENIED", message)
        session = identity.principal_arn.rsplit("/", 1)[-1]
        return {
            "accessKey": signed.access_key,
            "accountId": self.account,
            "caller": f"{context['aws:userid'].split(':', 1)[0]}:{session}",
            "userArn": identity.principal_arn,
            "user": context["aws:userid"],
        }
