"""ServiceApi: the REST API with the service's stage settings and a `route()` per operation.

Every route requires a Cognito ID token from the user pool (API Gateway verifies it); errors that
API Gateway itself returns (401, throttling, missing route...) use the functions' JSON error contract.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import StageConfig
from stacks.constructs.checkov_skips import skip_checks
from stacks.constructs.log_encryption import logs_key

_PATH_PARAM = re.compile(r"{(\w+)}")


def gateway_error_template(code: str) -> str:
    """The functions' error body ({error, message, details, requestId}) as a gateway response template."""
    return (
        f'{{"error":"{code}","message":$context.error.messageString,"details":[],'
        '"requestId":"$context.requestId"}'
    )


class ServiceApi(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, user_pool: cognito.IUserPool
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=config.log_retention,
            removal_policy=config.removal_policy,
            encryption_key=logs_key(self, config.removal_policy),
        )
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=config.stack_name("Api"),
            description=f"{config.service} service API ({config.stage})",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,
            deploy_options=apigw.StageOptions(
                stage_name=config.stage,
                throttling_rate_limit=config.api_throttle.rate_limit,
                throttling_burst_limit=config.api_throttle.burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                tracing_enabled=True,
                metrics_enabled=True,
            ),
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=config.cors_allow_origins,
                allow_methods=apigw.Cors.ALL_METHODS,
                allow_headers=["Content-Type", "Authorization", "X-Amz-Date", "X-Api-Key"],
            ),
        )
        # No OAuth scopes on the methods: API Gateway accepts the pool's ID tokens, whose claims
        # (sub, cognito:groups) reach the functions in requestContext.authorizer.claims.
        self.authorizer = apigw.CognitoUserPoolsAuthorizer(
            self,
            "Authorizer",
            cognito_user_pools=[user_pool],
            authorizer_name=config.stack_name("UserPool"),
            results_cache_ttl=Duration.minutes(5),
        )
        self._gateway_errors(config)
        self.validator = self.rest_api.add_request_validator(
            "RequestValidator", validate_request_body=True, validate_request_parameters=True
        )
        Validations.of(self.rest_api).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-APIG6",
                reason="Execution logging needs the account-wide API Gateway CloudWatch role, which a "
                "service template must not own; JSON access logs and X-Ray cover each request.",
            ),
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-APIG3",
                reason="WAF web ACLs are attached by the organisation's Firewall Manager policy, "
                "not per service.",
            ),
        )
        skip_checks(
            self.rest_api.deployment_stage,
            {
                "CKV_AWS_120": "No stage cache: every route is per caller (Cognito token) and most "
                "write or read just-written data; a cache would serve stale or another caller's data "
                "and costs per hour.",
            },
        )

    def _gateway_errors(self, config: StageConfig) -> None:
        # A browser can only read an error that carries CORS headers (else a 401 looks like a network
        # failure). A gateway response's headers are static or copied from the request, with no
        # condition, so with several origins no allow-list can be checked here; these bodies hold only
        # an error code and a request id, so '*' lets every allowed origin read them and exposes nothing.
        # https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-gateway-responses.responseParameters.html
        origins = config.cors_allow_origins
        allow_origin = origins[0] if len(origins) == 1 else "*"
        headers = {"Access-Control-Allow-Origin": f"'{allow_origin}'"}
        for construct_id, response_type, code in (
            ("Unauthorized", apigw.ResponseType.UNAUTHORIZED, "Unauthorized"),
            ("AccessDenied", apigw.ResponseType.ACCESS_DENIED, "Forbidden"),
            ("Default4xx", apigw.ResponseType.DEFAULT_4_XX, "$context.error.responseType"),
            ("Default5xx", apigw.ResponseType.DEFAULT_5_XX, "$context.error.responseType"),
        ):
            self.rest_api.add_gateway_response(
                construct_id,
                type=response_type,
                response_headers=headers,
                templates={"application/json": gateway_error_template(code)},
            )

    def route(
        self,
        method: str,
        path: str,
        function: lambda_.IFunction,
        *,
        query_params: Sequence[str] = (),
    ) -> apigw.Method:
        """Proxy `method path` to `function`; path parameters are required, query params optional."""
        resource = self.rest_api.root.resource_for_path(path)
        parameters = {f"method.request.path.{name}": True for name in _PATH_PARAM.findall(path)}
        parameters |= {f"method.request.querystring.{name}": False for name in query_params}
        return resource.add_method(
            method,
            apigw.LambdaIntegration(function, allow_test_invoke=False),
            request_validator=self.validator,
            request_parameters=parameters or None,
            authorizer=self.authorizer,
            authorization_type=apigw.AuthorizationType.COGNITO,
        )
