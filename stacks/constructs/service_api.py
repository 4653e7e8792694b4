"""ServiceApi: the REST API with the service's stage settings and a `route()` per operation."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Acknowledgment, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import StageConfig

_PATH_PARAM = re.compile(r"{(\w+)}")


class ServiceApi(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=config.log_retention, removal_policy=config.removal_policy
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
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-APIG4",
                reason="Authorization (Cognito authorizer) is tracked in its own issue; the API is "
                "not yet authenticated.",
            ),
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-COG4",
                reason="Authorization (Cognito user pool authorizer) is tracked in its own issue.",
            ),
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
        )
