"""A small hand-written cloud assembly exercising every resource kind the runtime handles.

Two stacks: `Test-Data` (table with GSI and TTL, queues with redrive, bucket, bus, a Cognito user pool
with an app client and an admins group, exported outputs) and `Test-Service` (functions with roles, an SQS
event source, S3 notifications through CDK's custom resource, an EventBridge pattern rule with retry policy
and DLQ, a schedule, an alarm that is skipped, and a REST API whose methods use a Cognito user pool
authorizer, except GET /public and the CORS preflight, with UNAUTHORIZED and DEFAULT_4XX gateway responses).
The Cognito and API resources have the shapes CDK synthesizes for the orders service.
"""

from __future__ import annotations

import json
import struct
import textwrap
from pathlib import Path
from typing import Any

HANDLERS = {
    "echo": """
        import os, sys, time
        import common

        def handler(event, context):
            if event.get("sleep"):
                time.sleep(event["sleep"])
            if event.get("raise"):
                raise ValueError("boom: " + event["raise"])
            if event.get("crash"):
                os._exit(3)
            if event.get("unserializable"):
                return {"value": object()}
            if event.get("large"):
                return "x" * event["large"]
            return {
                "event": event,
                "pid": os.getpid(),
                "env": {k: v for k, v in os.environ.items() if k != "PATH"},
                "path": sys.path[:4],
                "common": common.VALUE,
                "remaining": context.get_remaining_time_in_millis(),
                "requestId": context.aws_request_id,
                "functionName": context.function_name,
                "memory": context.memory_limit_in_mb,
                "arn": context.invoked_function_arn,
            }
    """,
    "worker": """
        import json, os
        import boto3
        table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])

        def handler(event, context):
            failures = []
            for record in event["Records"]:
                body = json.loads(record["body"])
                if body.get("poison"):
                    raise RuntimeError("poison message " + body["id"])
                if body.get("fail"):
                    failures.append({"itemIdentifier": record["messageId"]})
                    continue
                table.put_item(Item={"pk": "order#" + body["id"], "sk": "v1", "gsi": "orders",
                                     "batch": len(event["Records"])})
            return {"batchItemFailures": failures}
    """,
    "indexer": """
        import os
        from urllib.parse import unquote_plus
        import boto3
        table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])

        def handler(event, context):
            for record in event["Records"]:
                key = unquote_plus(record["s3"]["object"]["key"])
                if key.endswith("fail.txt"):
                    raise RuntimeError("cannot index " + key)
                if record["eventName"].startswith("ObjectCreated"):
                    size = record["s3"]["object"]["size"]
                    table.put_item(Item={"pk": "file#" + key, "sk": "v1", "size": size})
                else:
                    table.delete_item(Key={"pk": "file#" + key, "sk": "v1"})
    """,
    "consumer": """
        import os
        import boto3
        table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])

        def handler(event, context):
            if event["detail"].get("fail"):
                raise RuntimeError("consumer failed")
            table.put_item(Item={"pk": "event#" + event["detail"]["id"], "sk": event["detail-type"],
                                 "source": event["source"]})
    """,
    "report": """
        import json, os
        import boto3

        def handler(event, context):
            key = "reports/" + event["time"][:10] + ".json"
            boto3.client("s3").put_object(Bucket=os.environ["BUCKET"], Key=key,
                                          Body=json.dumps({"source": event["source"]}).encode())
            return key
    """,
    "whoami": """
        import json

        def handler(event, context):
            return {
                "statusCode": 200,
                "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"requestContext": event["requestContext"], "path": event["path"]}),
            }
    """,
    "prober": """
        import os
        import boto3
        from botocore.config import Config
        from botocore.exceptions import ClientError

        def call(fn):
            try:
                fn()
                return "ok"
            except ClientError as error:
                return error.response["Error"]["Code"]

        def handler(event, context):
            ddb = boto3.client("dynamodb")
            table = os.environ["TABLE_NAME"]
            # SigV4: S3 refuses SigV2 (boto3's default for presigned URLs) on buckets made since 2020.
            s3 = boto3.client("s3", config=Config(signature_version="s3v4"))
            bucket = os.environ["BUCKET"]
            events = boto3.client("events")
            sqs = boto3.client("sqs")
            queue_url = os.environ["QUEUE_URL"]
            return {
                "get": call(lambda: ddb.get_item(TableName=table, Key={"pk": {"S": "x"}, "sk": {"S": "y"}})),
                "query_index": call(lambda: ddb.query(TableName=table, IndexName="byGsi",
                    KeyConditionExpression="gsi = :g", ExpressionAttributeValues={":g": {"S": "orders"}})),
                "put_item": call(lambda: ddb.put_item(TableName=table, Item={"pk": {"S": "x"}})),
                "s3_put": call(lambda: s3.put_object(Bucket=bucket, Key="uploads/p", Body=b"x")),
                "s3_get_other": call(lambda: s3.get_object(Bucket=os.environ["BUCKET"], Key="private/p.txt")),
                "put_events": call(lambda: events.put_events(Entries=[{"Source": "probe", "DetailType": "x",
                    "Detail": "{}", "EventBusName": os.environ["BUS_NAME"]}])),
                "send_denied": call(lambda: sqs.send_message(QueueUrl=queue_url, MessageBody="")),
                "presigned": s3.generate_presigned_url("put_object",
                    Params={"Bucket": os.environ["BUCKET"], "Key": "uploads/presigned.txt"}),
            }
    """,
}


def _fn_arn(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def _function(name: str, asset: str, env: dict[str, Any], timeout: int = 5, **extra: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Handler": "handler.handler",
            "Runtime": "python3.14",
            "Role": {"Fn::GetAtt": [f"{name}Role", "Arn"]},
            "Timeout": timeout,
            "MemorySize": 256,
            "Layers": [{"Ref": "CommonLayer"}, {"Ref": "ArmLayer"}],
            "Environment": {"Variables": env},
            **extra,
        },
        "Metadata": {"aws:cdk:path": f"Test-Service/{name}/Function/Resource", "aws:asset:path": asset},
    }


def _role(name: str, statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        f"{name}Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {"AssumeRolePolicyDocument": {"Statement": []}},
        },
        f"{name}RolePolicy": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": f"{name}RolePolicy",
                "Roles": [{"Ref": f"{name}Role"}],
                "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
            },
        },
    }


def _permission(function: str, principal: str, source_arn: Any, **extra: Any) -> dict[str, Any]:
    """A function's resource policy statement, as CDK writes it for a trigger."""
    return {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": _fn_arn(function),
            "Principal": principal,
            "SourceArn": source_arn,
            **extra,
        },
    }


def _out(name: str) -> dict[str, Any]:
    return {
        "Fn::GetStackOutput": {"StackName": "Test-Data", "Region": {"Ref": "AWS::Region"}, "OutputName": name}
    }


TABLE_ARN = _out("TableArn")
RULES = {"Fn::Sub": "arn:aws:events:${AWS::Region}:${AWS::AccountId}:rule/*"}
BUCKET_ARN = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::", _out("BucketName")]]}


def data_template() -> dict[str, Any]:
    return {
        "Resources": {
            "Table": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "AttributeDefinitions": [
                        {"AttributeName": "pk", "AttributeType": "S"},
                        {"AttributeName": "sk", "AttributeType": "S"},
                        {"AttributeName": "gsi", "AttributeType": "S"},
                    ],
                    "KeySchema": [
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                    ],
                    "BillingMode": "PAY_PER_REQUEST",
                    "GlobalSecondaryIndexes": [
                        {
                            "IndexName": "byGsi",
                            "KeySchema": [{"AttributeName": "gsi", "KeyType": "HASH"}],
                            "Projection": {"ProjectionType": "ALL"},
                        }
                    ],
                    "TimeToLiveSpecification": {"AttributeName": "expiresAt", "Enabled": True},
                },
            },
            "Dlq": {"Type": "AWS::SQS::Queue", "Properties": {"MessageRetentionPeriod": 1209600}},
            "Queue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "VisibilityTimeout": 1,
                    "RedrivePolicy": {
                        "deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]},
                        "maxReceiveCount": 2,
                    },
                },
            },
            "AsyncDlq": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "test-async-dlq"}},
            "RuleDlq": {"Type": "AWS::SQS::Queue"},
            # As CDK writes it for a rule target's DLQ: EventBridge may send to it from this account's rules.
            "RuleDlqPolicy": {
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {
                    "Queues": [{"Ref": "RuleDlq"}],
                    "PolicyDocument": {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Action": "sqs:SendMessage",
                                "Resource": {"Fn::GetAtt": ["RuleDlq", "Arn"]},
                                "Condition": {"ArnLike": {"aws:SourceArn": RULES}},
                            }
                        ]
                    },
                },
            },
            "Bucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "CorsConfiguration": {
                        "CorsRules": [
                            {
                                "AllowedMethods": ["PUT"],
                                "AllowedOrigins": ["*"],
                                "ExposedHeaders": ["ETag"],
                                "MaxAge": 60,
                            }
                        ]
                    }
                },
            },
            "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "test-bus"}},
            "Param": {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": "v1"}},
            **cognito_resources(),
        },
        "Outputs": {
            "TableArn": {"Value": {"Fn::GetAtt": ["Table", "Arn"]}},
            "TableName": {"Value": {"Ref": "Table"}, "Export": {"Name": "Test-TableName"}},
            "BucketName": {"Value": {"Ref": "Bucket"}},
            "QueueArn": {"Value": {"Fn::GetAtt": ["Queue", "Arn"]}},
            "QueueUrl": {"Value": {"Ref": "Queue"}},
            "BusName": {"Value": {"Ref": "Bus"}},
            "BusArn": {"Value": {"Fn::GetAtt": ["Bus", "Arn"]}},
            "AsyncDlqArn": {"Value": {"Fn::GetAtt": ["AsyncDlq", "Arn"]}},
            "RuleDlqArn": {"Value": {"Fn::GetAtt": ["RuleDlq", "Arn"]}},
            "UserPoolArn": {
                "Value": {"Fn::GetAtt": ["UserPool6BA7E5F2", "Arn"]},
                "Export": {"Name": "Test-Data:UserPoolArn"},
            },
        },
    }


PASSWORD_POLICY = {
    "MinimumLength": 12,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": True,
    "RequireUppercase": True,
    "TemporaryPasswordValidityDays": 3,
}


def cognito_resources() -> dict[str, Any]:
    """User pool, public SRP app client and admins group as CDK synthesizes them (no UserPoolName)."""
    pool = {"Ref": "UserPool6BA7E5F2"}
    return {
        "UserPool6BA7E5F2": {
            "Type": "AWS::Cognito::UserPool",
            "Properties": {
                "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]},
                "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": False},
                "AutoVerifiedAttributes": ["email"],
                "DeletionProtection": "ACTIVE",
                "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
                "MfaConfiguration": "OPTIONAL",
                "Policies": {"PasswordPolicy": PASSWORD_POLICY},
                "Schema": [{"Mutable": True, "Name": "email", "Required": True}],
                "UserPoolAddOns": {"AdvancedSecurityMode": "AUDIT"},
                "UserPoolTier": "PLUS",
                "UsernameAttributes": ["email"],
                "UsernameConfiguration": {"CaseSensitive": False},
                "UserPoolTags": {"service": "test"},
            },
            "Metadata": {"aws:cdk:path": "Test-Data/UserPool/Resource"},
        },
        "UserPoolApiClient5E25D46A": {
            "Type": "AWS::Cognito::UserPoolClient",
            "Properties": {
                "AccessTokenValidity": 60,
                "AllowedOAuthFlowsUserPoolClient": False,
                "EnableTokenRevocation": True,
                "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
                "GenerateSecret": False,
                "IdTokenValidity": 60,
                "PreventUserExistenceErrors": "ENABLED",
                "RefreshTokenValidity": 43200,
                "SupportedIdentityProviders": ["COGNITO"],
                "TokenValidityUnits": {
                    "AccessToken": "minutes",
                    "IdToken": "minutes",
                    "RefreshToken": "minutes",
                },
                "UserPoolId": pool,
            },
        },
        "AdminsGroup": {
            "Type": "AWS::Cognito::UserPoolGroup",
            "Properties": {
                "Description": "May list and read every user",
                "GroupName": "admins",
                "Precedence": 0,
                "UserPoolId": pool,
            },
        },
        "EditorsGroup": {
            "Type": "AWS::Cognito::UserPoolGroup",
            "Properties": {"GroupName": "editors", "Precedence": 1, "UserPoolId": pool},
        },
    }


def gateway_error_template(code: str) -> str:
    """The orders service's error contract as a gateway response template (stacks/constructs/service_api)."""
    return (
        f'{{"error":"{code}","message":$context.error.messageString,"details":[],'
        '"requestId":"$context.requestId"}'
    )


def api_resources() -> dict[str, Any]:
    """REST API: GET /me and POST /me need a Cognito ID token, GET /public does not, OPTIONS /me is MOCK."""
    api = {"Ref": "ApiRestApiE35FEAFE"}
    authorized = {"AuthorizationType": "COGNITO_USER_POOLS", "AuthorizerId": {"Ref": "ApiAuthorizer787544C1"}}

    def proxy_method(http_method: str, resource: str, **auth: Any) -> dict[str, Any]:
        uri = {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    ":apigateway:",
                    {"Ref": "AWS::Region"},
                    ":lambda:path/2015-03-31/functions/",
                    _fn_arn("Whoami"),
                    "/invocations",
                ],
            ]
        }
        return {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "HttpMethod": http_method,
                "ResourceId": {"Ref": resource},
                "RestApiId": api,
                "AuthorizationType": "NONE",
                **auth,
                "Integration": {"IntegrationHttpMethod": "POST", "Type": "AWS_PROXY", "Uri": uri},
            },
        }

    def gateway_response(response_type: str, code: str) -> dict[str, Any]:
        return {
            "Type": "AWS::ApiGateway::GatewayResponse",
            "Properties": {
                "ResponseParameters": {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"},
                "ResponseTemplates": {"application/json": gateway_error_template(code)},
                "ResponseType": response_type,
                "RestApiId": api,
            },
        }

    return {
        "ApiRestApiE35FEAFE": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "test-api"}},
        "ApiDeployment": {"Type": "AWS::ApiGateway::Deployment", "Properties": {"RestApiId": api}},
        "ApiStage": {
            "Type": "AWS::ApiGateway::Stage",
            "Properties": {"RestApiId": api, "StageName": "test", "DeploymentId": {"Ref": "ApiDeployment"}},
        },
        "ApiMe": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "ParentId": {"Fn::GetAtt": ["ApiRestApiE35FEAFE", "RootResourceId"]},
                "PathPart": "me",
                "RestApiId": api,
            },
        },
        "ApiPublic": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "ParentId": {"Fn::GetAtt": ["ApiRestApiE35FEAFE", "RootResourceId"]},
                "PathPart": "public",
                "RestApiId": api,
            },
        },
        "ApiMeGET": proxy_method("GET", "ApiMe", **authorized),
        "ApiMePOST": proxy_method("POST", "ApiMe", **authorized),
        "ApiPublicGET": proxy_method("GET", "ApiPublic"),
        "ApiMeOPTIONS": {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "HttpMethod": "OPTIONS",
                "ResourceId": {"Ref": "ApiMe"},
                "RestApiId": api,
                "AuthorizationType": "NONE",
                "Integration": {
                    "Type": "MOCK",
                    "RequestTemplates": {"application/json": "{ statusCode: 200 }"},
                    "IntegrationResponses": [
                        {
                            "StatusCode": "204",
                            "ResponseParameters": {
                                "method.response.header.Access-Control-Allow-Origin": "'*'",
                                "method.response.header.Access-Control-Allow-Headers": "'Authorization'",
                            },
                        }
                    ],
                },
            },
        },
        "ApiAuthorizer787544C1": {
            "Type": "AWS::ApiGateway::Authorizer",
            "Properties": {
                "AuthorizerResultTtlInSeconds": 300,
                "IdentitySource": "method.request.header.Authorization",
                "Name": "Test-UserPool",
                "ProviderARNs": [{"Fn::ImportValue": "Test-Data:UserPoolArn"}],
                "RestApiId": api,
                "Type": "COGNITO_USER_POOLS",
            },
        },
        "ApiRestApiUnauthorized7916079D": gateway_response("UNAUTHORIZED", "Unauthorized"),
        "ApiRestApiDefault4xxF2DDE8E9": gateway_response("DEFAULT_4XX", "$context.error.responseType"),
    }


def service_template() -> dict[str, Any]:
    table_env = {"TABLE_NAME": {"Fn::ImportValue": "Test-TableName"}}
    resources: dict[str, Any] = {
        "CommonLayer": {
            "Type": "AWS::Lambda::LayerVersion",
            "Properties": {"Content": {"S3Bucket": "x", "S3Key": "y"}},
            "Metadata": {"aws:asset:path": "asset.common"},
        },
        "ArmLayer": {
            "Type": "AWS::Lambda::LayerVersion",
            "Properties": {"Content": {"S3Bucket": "x", "S3Key": "z"}},
            "Metadata": {"aws:asset:path": "asset.arm"},
        },
        "Echo": _function("Echo", "asset.echo", {"GREETING": {"Fn::Sub": "hello-${AWS::Region}"}}, timeout=2),
        "Worker": _function("Worker", "asset.worker", table_env),
        "Indexer": _function(
            "Indexer",
            "asset.indexer",
            table_env,
            DeadLetterConfig={"TargetArn": _out("AsyncDlqArn")},
        ),
        "IndexerInvokeConfig": {
            "Type": "AWS::Lambda::EventInvokeConfig",
            "Properties": {
                "FunctionName": {"Ref": "Indexer"},
                "Qualifier": "$LATEST",
                "MaximumRetryAttempts": 1,
            },
        },
        "Consumer": _function("Consumer", "asset.consumer", table_env),
        "Report": _function("Report", "asset.report", {"BUCKET": _out("BucketName")}),
        "Prober": _function(
            "Prober",
            "asset.prober",
            {
                **table_env,
                "BUCKET": _out("BucketName"),
                "BUS_NAME": _out("BusName"),
                "QUEUE_URL": _out("QueueUrl"),
            },
        ),
        "WorkerMapping": {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "FunctionName": {"Ref": "Worker"},
                "EventSourceArn": _out("QueueArn"),
                "BatchSize": 5,
                "MaximumBatchingWindowInSeconds": 1,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
            },
        },
        "BucketNotificationsHandler050a0587b7544547bf325f094a3db834": {
            "Type": "AWS::Lambda::Function",
            "Properties": {"Handler": "index.handler", "Runtime": "python3.13", "Code": {"ZipFile": "..."}},
        },
        "BucketNotifications": {
            "Type": "Custom::S3BucketNotifications",
            "Properties": {
                "ServiceToken": {
                    "Fn::GetAtt": ["BucketNotificationsHandler050a0587b7544547bf325f094a3db834", "Arn"]
                },
                "BucketName": _out("BucketName"),
                "NotificationConfiguration": {
                    "LambdaFunctionConfigurations": [
                        {
                            "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}},
                            "LambdaFunctionArn": _fn_arn("Indexer"),
                        }
                    ]
                },
                "Managed": True,
            },
        },
        "OrderRule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "EventBusName": _out("BusName"),
                "EventPattern": {"source": ["orders"], "detail-type": ["OrderCreated"]},
                "State": "ENABLED",
                "Targets": [
                    {
                        "Id": "Target0",
                        "Arn": _fn_arn("Consumer"),
                        "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600},
                        "DeadLetterConfig": {"Arn": _out("RuleDlqArn")},
                    },
                    {
                        "Id": "Missing",
                        "Arn": {
                            "Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:"
                            "${AWS::AccountId}:function:gone"
                        },
                        "RetryPolicy": {"MaximumRetryAttempts": 1},
                        "DeadLetterConfig": {"Arn": _out("RuleDlqArn")},
                    },
                ],
            },
            "Metadata": {"aws:cdk:path": "Test-Service/OrderCreatedRule/Resource"},
        },
        "DailyRule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "ScheduleExpression": "cron(0 2 * * ? *)",
                "State": "ENABLED",
                "Targets": [{"Id": "Target0", "Arn": _fn_arn("Report")}],
            },
            "Metadata": {"aws:cdk:path": "Test-Service/DailyReport/Resource"},
        },
        "Whoami": _function("Whoami", "asset.whoami", {}),
        **api_resources(),
        "ErrorsAlarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Threshold": 1}},
        "EchoPermission": {"Type": "AWS::Lambda::Permission", "Properties": {}},
        # Every trigger's permission, as CDK adds them: without one, the trigger fails as in AWS.
        "WhoamiApiPermission": _permission(
            "Whoami",
            "apigateway.amazonaws.com",
            {
                "Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"
                "${ApiRestApiE35FEAFE}/*/*/*"
            },
        ),
        "IndexerBucketPermission": _permission(
            "Indexer", "s3.amazonaws.com", BUCKET_ARN, SourceAccount={"Ref": "AWS::AccountId"}
        ),
        "ConsumerRulePermission": _permission(
            "Consumer", "events.amazonaws.com", {"Fn::GetAtt": ["OrderRule", "Arn"]}
        ),
        "ReportRulePermission": _permission(
            "Report", "events.amazonaws.com", {"Fn::GetAtt": ["DailyRule", "Arn"]}
        ),
    }
    resources |= _role("Echo", [])
    resources |= _role("Whoami", [])
    resources |= _role(
        "Worker",
        [
            {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": TABLE_ARN},
            {
                "Effect": "Allow",
                "Action": [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ChangeMessageVisibility",
                ],
                "Resource": _out("QueueArn"),
            },
        ],
    )
    resources |= _role(
        "Indexer",
        [
            {"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:DeleteItem"], "Resource": TABLE_ARN},
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": _out("AsyncDlqArn")},
        ],
    )
    resources |= _role("Consumer", [{"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": TABLE_ARN}])
    resources |= _role(
        "Report",
        [
            {
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": {"Fn::Join": ["", [BUCKET_ARN, "/reports/*"]]},
            }
        ],
    )
    resources |= _role(
        "Prober",
        [
            {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"], "Resource": TABLE_ARN},
            {"Effect": "Allow", "Action": "dynamodb:*", "Resource": TABLE_ARN},
            {"Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": {"Fn::Join": ["", [BUCKET_ARN, "/uploads/*"]]},
            },
            {"Effect": "Allow", "Action": "events:PutEvents", "Resource": _out("BusArn")},
            {"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": _out("QueueArn")},
        ],
    )
    return {"Resources": resources}


def write_assembly(outdir: Path, service: dict[str, Any] | None = None) -> Path:
    """cdk.out-like directory: manifest, two templates, code assets, a layer and an arm64-only layer."""
    outdir.mkdir(parents=True, exist_ok=True)
    for name, code in HANDLERS.items():
        asset = outdir / f"asset.{name}"
        asset.mkdir(exist_ok=True)
        (asset / "handler.py").write_text(textwrap.dedent(code))
    common = outdir / "asset.common" / "python"
    common.mkdir(parents=True, exist_ok=True)
    (common / "common.py").write_text("VALUE = 'from-layer'\n")
    arm = outdir / "asset.arm" / "python" / "native"
    arm.mkdir(parents=True, exist_ok=True)
    elf = b"\x7fELF\x02\x01\x01" + b"\x00" * 11 + struct.pack("<H", 0xB7) + b"\x00" * 16
    (arm / "_speedups.abi3.so").write_bytes(elf)
    (arm / "__init__.py").write_text("")
    templates = {"Test-Data": data_template(), "Test-Service": service or service_template()}
    artifacts = {}
    for stack_name, template in templates.items():
        (outdir / f"{stack_name}.template.json").write_text(json.dumps(template, indent=1))
        artifacts[stack_name] = {
            "type": "aws:cloudformation:stack",
            "properties": {"templateFile": f"{stack_name}.template.json", "stackName": stack_name},
        }
    (outdir / "manifest.json").write_text(json.dumps({"version": "55.0.0", "artifacts": artifacts}))
    return outdir
