"""AWS managed policies that serverless apps attach to their roles, as the runtime evaluates them: each
one's statements on the services the runtime emulates (the full policies also grant console and
control-plane actions of other services, which no local call can make). Source: the AWS managed policy
reference, https://docs.aws.amazon.com/aws-managed-policy/latest/reference/ (one page per policy).
A managed policy not listed here is ignored, with a start-up note.
"""

from __future__ import annotations

from typing import Any

_LOGS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]


def _allow(*actions: str) -> list[dict[str, Any]]:
    return [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]


MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    # Lambda's execution roles
    "AWSLambdaBasicExecutionRole": _allow(*_LOGS),
    "AWSLambdaSQSQueueExecutionRole": _allow(
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", *_LOGS
    ),
    "AWSLambdaDynamoDBExecutionRole": _allow(
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
        *_LOGS,
    ),
    "AWSLambdaKinesisExecutionRole": _allow(
        "kinesis:DescribeStream",
        "kinesis:DescribeStreamSummary",
        "kinesis:GetRecords",
        "kinesis:GetShardIterator",
        "kinesis:ListShards",
        "kinesis:ListStreams",
        "kinesis:SubscribeToShard",
        *_LOGS,
    ),
    "AWSLambdaVPCAccessExecutionRole": _allow(
        *_LOGS,
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    ),
    "AWSXRayDaemonWriteAccess": _allow(
        "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules"
    ),
    "AmazonAPIGatewayPushToCloudWatchLogs": _allow(
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:DescribeLogGroups",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
        "logs:GetLogEvents",
        "logs:FilterLogEvents",
    ),
    # Service-wide access
    "AmazonSQSFullAccess": _allow("sqs:*"),
    "AmazonSQSReadOnlyAccess": _allow(
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "sqs:ListDeadLetterSourceQueues",
        "sqs:ListQueues",
        "sqs:ListMessageMoveTasks",
        "sqs:ListQueueTags",
    ),
    "AmazonS3FullAccess": _allow("s3:*", "s3-object-lambda:*"),
    "AmazonS3ReadOnlyAccess": _allow(
        "s3:Get*", "s3:List*", "s3:Describe*", "s3-object-lambda:Get*", "s3-object-lambda:List*"
    ),
    "AmazonDynamoDBFullAccess": _allow("dynamodb:*"),
    "AmazonDynamoDBReadOnlyAccess": _allow(
        "dynamodb:BatchGetItem",
        "dynamodb:Describe*",
        "dynamodb:List*",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:PartiQLSelect",
    ),
    "AmazonSNSFullAccess": _allow("sns:*"),
    "AmazonKinesisFullAccess": _allow("kinesis:*"),
    "AmazonKinesisFirehoseFullAccess": _allow("firehose:*"),
    "AmazonEventBridgeFullAccess": _allow("events:*", "schemas:*", "scheduler:*", "pipes:*"),
    "AmazonSSMReadOnlyAccess": _allow("ssm:Describe*", "ssm:Get*", "ssm:List*"),
    "SecretsManagerReadWrite": _allow("secretsmanager:*"),
}
