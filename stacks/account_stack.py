"""Account/region settings that every API Gateway REST API in the region shares.

API Gateway writes stage access logs (and execution logs) with one CloudWatch Logs role per account and
region, set by `AWS::ApiGateway::Account`. Without it, creating a stage with access logging fails with
"CloudWatch Logs role ARN must be set in account settings to enable logging". The setting is a
singleton: one stack owns it, whatever the stage or service, so that deploying or destroying one
stage never changes what another relies on
(https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-apigateway-account.html).
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, RemovalPolicy, Stack, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from constructs import Construct

# The same name in every stage and every service built from this template: a second deploy of it in
# the same account and region updates this one stack instead of fighting over the setting.
ACCOUNT_STACK_NAME = "ApiGatewayAccountSettings"


class ApiGatewayAccountStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, stack_name=ACCOUNT_STACK_NAME, **kwargs)
        # The actions of AWS's AmazonAPIGatewayPushToCloudWatchLogs policy, written out (this project
        # attaches no AWS managed policies) and kept to this account and region's log groups.
        self.cloudwatch_role = iam.Role(
            self,
            "CloudWatchRole",
            description="API Gateway pushes REST API access and execution logs to CloudWatch Logs",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            inline_policies={
                "PushToCloudWatchLogs": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            actions=[
                                "logs:CreateLogGroup",
                                "logs:CreateLogStream",
                                "logs:DescribeLogGroups",
                                "logs:DescribeLogStreams",
                                "logs:PutLogEvents",
                                "logs:GetLogEvents",
                                "logs:FilterLogEvents",
                            ],
                            resources=[self.format_arn(service="logs", resource="log-group:*")],
                        )
                    ]
                )
            },
        )
        # Deleting the stack leaves the account setting pointing at this role (API Gateway has no way
        # to unset it): the role stays, so every other API in the region keeps logging.
        self.cloudwatch_role.apply_removal_policy(RemovalPolicy.RETAIN)
        account = apigw.CfnAccount(self, "Account", cloud_watch_role_arn=self.cloudwatch_role.role_arn)
        account.apply_removal_policy(RemovalPolicy.RETAIN)
        Validations.of(self.cloudwatch_role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*]",
                reason="API Gateway writes every REST API's execution and access logs in the region with "
                "this one role (execution log groups are created by API Gateway per API and stage).",
            )
        )
