"""Uploads and daily report infrastructure: bucket protections, notifications, schedule, DLQs, OrdersTable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stacks.config import load_stage_config
from tests.stacks.conftest import flatten

CDK_CONTEXT = json.loads(Path("cdk.json").read_text())["context"]
BUCKETS = {"UploadsBucket": "uploads/", "ReportsBucket": "reports/"}


def config_of(stage_app):
    return load_stage_config(CDK_CONTEXT, stage_app.stage)


def one(resources: dict, prefix: str) -> tuple[str, dict]:
    (match,) = ((i, r) for i, r in resources.items() if i.startswith(prefix))
    return match


def bucket_policy_statements(stage_app, bucket_id: str) -> list[dict]:
    policies = stage_app.resources("Data", "AWS::S3::BucketPolicy").values()
    (policy,) = (p for p in policies if p["Properties"]["Bucket"] == {"Ref": bucket_id})
    return policy["Properties"]["PolicyDocument"]["Statement"]


def denies_insecure_transport(statements: list[dict]) -> bool:
    return any(
        s["Effect"] == "Deny"
        and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        and s["Principal"] == {"AWS": "*"}
        and s["Action"] in ("s3:*", "sqs:*", "sns:Publish")
        for s in statements
    )


@pytest.mark.parametrize("name", ["UploadsBucket", "ReportsBucket", "AccessLogsBucket"])
def test_buckets_are_private_encrypted_ssl_only_and_follow_the_stage_removal_policy(stage_app, name):
    bucket_id, bucket = one(stage_app.resources("Data", "AWS::S3::Bucket"), name)
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert denies_insecure_transport(bucket_policy_statements(stage_app, bucket_id))
    expected_policy = "Retain" if stage_app.stage == "prod" else "Delete"
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == (expected_policy, expected_policy)


@pytest.mark.parametrize(("name", "log_prefix"), BUCKETS.items())
def test_data_buckets_are_versioned_access_logged_and_expire_noncurrent_versions(stage_app, name, log_prefix):
    buckets = stage_app.resources("Data", "AWS::S3::Bucket")
    logs_id, _ = one(buckets, "AccessLogsBucket")
    props = one(buckets, name)[1]["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": logs_id},
        "LogFilePrefix": log_prefix,
    }
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}


def test_access_logs_bucket_accepts_only_s3_log_delivery_of_each_bucket_under_its_prefix(stage_app):
    buckets = stage_app.resources("Data", "AWS::S3::Bucket")
    logs_id, logs = one(buckets, "AccessLogsBucket")
    assert "LoggingConfiguration" not in logs["Properties"]
    deliveries = {
        flatten(s["Condition"]["ArnLike"]["aws:SourceArn"]): flatten(s["Resource"])
        for s in bucket_policy_statements(stage_app, logs_id)
        if s["Effect"] == "Allow"
        and s["Principal"] == {"Service": "logging.s3.amazonaws.com"}
        and s["Action"] == "s3:PutObject"
        and s["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    }
    assert deliveries == {
        f"<{one(buckets, name)[0]}.Arn>": f"<{logs_id}.Arn>/{prefix}*" for name, prefix in BUCKETS.items()
    }
    others = [
        s
        for s in bucket_policy_statements(stage_app, logs_id)
        if s["Effect"] == "Allow" and s["Principal"] != {"Service": "logging.s3.amazonaws.com"}
    ]
    assert others == [s for s in others if is_auto_delete_grant(stage_app, s)]


def is_auto_delete_grant(stage_app, statement: dict) -> bool:
    """The bucket policy statement that lets CDK's auto-delete provider empty the bucket on destroy."""
    role = flatten(statement["Principal"]["AWS"])
    return role.startswith("<CustomS3AutoDeleteObjectsCustomResourceProviderRole") and set(
        statement["Action"]
    ) == {"s3:DeleteObject*", "s3:GetBucket*", "s3:List*", "s3:PutBucketPolicy"}


def test_every_bucket_the_stack_deletes_is_emptied_first_and_retained_ones_are_not(stage_app):
    """CloudFormation cannot delete a bucket with objects or versions (DELETE_FAILED, BucketNotEmpty)."""
    emptied_count = 0
    for stack in stage_app.templates:
        emptied = {
            r["Properties"]["BucketName"]["Ref"]
            for r in stage_app.resources(stack, "Custom::S3AutoDeleteObjects").values()
        }
        for bucket_id, bucket in stage_app.resources(stack, "AWS::S3::Bucket").items():
            if bucket["DeletionPolicy"] == "Delete":
                assert bucket_id in emptied, f"{stack}/{bucket_id} is deleted with the stack, never emptied"
                statements = bucket_policy_statements(stage_app, bucket_id)
                assert any(is_auto_delete_grant(stage_app, s) for s in statements)
            else:
                assert bucket_id not in emptied, f"{stack}/{bucket_id} is retained: it must keep its objects"
        emptied_count += len(emptied)
    assert emptied_count == (3 if stage_app.stage == "dev" else 0)  # uploads, reports, access logs


def test_uploads_bucket_allows_browser_puts_from_the_stage_origins_only(stage_app):
    props = one(stage_app.resources("Data", "AWS::S3::Bucket"), "UploadsBucket")[1]["Properties"]
    (rule,) = props["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedMethods"] == ["PUT"]
    assert rule["AllowedOrigins"] == config_of(stage_app).cors_allow_origins
    assert rule["AllowedHeaders"] == ["Content-Type", "Content-Length"]
    assert (
        "CorsConfiguration"
        not in one(stage_app.resources("Data", "AWS::S3::Bucket"), "ReportsBucket")[1]["Properties"]
    )


def test_uploads_notifications_invoke_the_indexer_on_create_and_remove_under_uploads(stage_app):
    (notifications,) = stage_app.resources("Service", "Custom::S3BucketNotifications").values()
    props = notifications["Properties"]
    indexer_id, _ = one(stage_app.service_functions(), "UploadIndexerFunction")
    assert flatten(props["BucketName"]) == "<Data:UploadsBucket5E5E9B64>"
    assert props["Managed"] is False  # merges with, never replaces, other notifications on the bucket
    configurations = props["NotificationConfiguration"]
    assert set(configurations) == {"LambdaFunctionConfigurations"}
    lambdas = configurations["LambdaFunctionConfigurations"]
    assert sorted((c["Events"], c["Filter"], c["LambdaFunctionArn"]) for c in lambdas) == [
        (["s3:ObjectCreated:*"], {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}},
         {"Fn::GetAtt": [indexer_id, "Arn"]}),
        (["s3:ObjectRemoved:*"], {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}},
         {"Fn::GetAtt": [indexer_id, "Arn"]}),
    ]  # fmt: skip
    permissions = [
        p["Properties"]
        for p in stage_app.resources("Service", "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "s3.amazonaws.com"
    ]
    assert permissions == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [indexer_id, "Arn"]},
            "Principal": "s3.amazonaws.com",
            "SourceAccount": {"Ref": "AWS::AccountId"},
            "SourceArn": permissions[0]["SourceArn"],
        }
    ]
    assert flatten(permissions[0]["SourceArn"]) == "<Data:UploadsBucket5E5E9B64.Arn>"


def test_uploads_api_is_configured_from_the_stage(stage_app):
    config = config_of(stage_app)
    env = function_env(stage_app, "UploadsApi")
    assert flatten(env["UPLOADS_BUCKET_NAME"]) == "<Data:UploadsBucket5E5E9B64>"
    assert env["UPLOAD_MAX_BYTES"] == str(config.upload_max_bytes)
    assert env["PRESIGN_EXPIRY_SECONDS"] == str(config.presign_expiry_seconds)
    routes = [
        m["Properties"]
        for m in stage_app.resources("Service", "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "POST"
        and flatten(m["Properties"]["Integration"]["Uri"]).count("UploadsApiFunction")
    ]
    assert len(routes) == 1


def function_env(stage_app, name: str) -> dict:
    return one(stage_app.service_functions(), f"{name}Function")[1]["Properties"]["Environment"]["Variables"]


@pytest.mark.parametrize(
    ("name", "dlq"), [("UploadIndexer", "UploadIndexerDlq"), ("DailyReport", "DailyReportDlq")]
)
def test_async_functions_send_failed_events_to_their_own_encrypted_ssl_only_dlq(stage_app, name, dlq):
    function = one(stage_app.service_functions(), f"{name}Function")[1]["Properties"]
    assert (
        flatten(function["DeadLetterConfig"]["TargetArn"])
        == f"<Data:{one(stage_app.resources('Data', 'AWS::SQS::Queue'), dlq)[0]}.Arn>"
    )
    queue_id, queue = one(stage_app.resources("Data", "AWS::SQS::Queue"), dlq)
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    (policy,) = (
        p
        for p in stage_app.resources("Data", "AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": queue_id}]
    )
    assert denies_insecure_transport(policy["Properties"]["PolicyDocument"]["Statement"])


def test_synchronous_functions_have_no_dlq(stage_app):
    for name in ("UsersApi", "OrdersApi", "UploadsApi", "FilesApi"):
        assert (
            "DeadLetterConfig" not in one(stage_app.service_functions(), f"{name}Function")[1]["Properties"]
        )


def test_daily_report_runs_on_the_stage_schedule_with_retries_and_a_dead_letter_queue(stage_app):
    config = config_of(stage_app)
    (rule,) = (
        r
        for r in stage_app.resources("Service", "AWS::Events::Rule").values()
        if "ScheduleExpression" in r["Properties"]
    )
    props = rule["Properties"]
    report_id, _ = one(stage_app.service_functions(), "DailyReportFunction")
    assert props["ScheduleExpression"] == config.report_schedule == "cron(0 2 * * ? *)"
    assert props["State"] == "ENABLED"
    assert props["Name"] == f"Orders-{stage_app.stage.capitalize()}-DailyReport"
    (target,) = props["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [report_id, "Arn"]}
    assert "Input" not in target  # the handler reads the scheduled event's time
    assert flatten(target["DeadLetterConfig"]["Arn"]) == "<Data:DailyReportDlqE17BC784.Arn>"
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 7200}


def test_the_daily_report_dlq_accepts_messages_only_from_that_rule(stage_app):
    queue_id, _ = one(stage_app.resources("Data", "AWS::SQS::Queue"), "DailyReportDlq")
    (policy,) = (
        p
        for p in stage_app.resources("Data", "AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": queue_id}]
    )
    (allow,) = (s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow")
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    rule_arn = flatten(allow["Condition"]["ArnEquals"]["aws:SourceArn"])
    assert rule_arn == (
        "arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:rule/"
        f"Orders-{stage_app.stage.capitalize()}-DailyReport"
    )


def test_daily_report_reads_the_orders_index_and_writes_the_reports_bucket(stage_app):
    env = function_env(stage_app, "DailyReport")
    assert flatten(env["ORDERS_TABLE_NAME"]) == "<Data:OrdersTable315BB997>"
    assert env["ORDERS_BY_DATE_INDEX"] == "byOrderDate"
    assert flatten(env["REPORTS_BUCKET_NAME"]) == "<Data:ReportsBucket4E7C5994>"
    assert (
        flatten(function_env(stage_app, "UploadIndexer")["FILES_TABLE_NAME"]) == "<Data:FilesTable1399FAA4>"
    )


def _index(name: str, partition: str, sort: str) -> dict:
    return {
        "IndexName": name,
        "KeySchema": [
            {"AttributeName": partition, "KeyType": "HASH"},
            {"AttributeName": sort, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }


def test_orders_table_is_keyed_by_order_id_with_by_order_date_and_by_user_indexes(stage_app):
    props = one(stage_app.resources("Data", "AWS::DynamoDB::Table"), "OrdersTable")[1]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "orderId", "KeyType": "HASH"}]
    assert sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == [
        {"AttributeName": "createdAt", "AttributeType": "S"},
        {"AttributeName": "orderDate", "AttributeType": "S"},
        {"AttributeName": "orderId", "AttributeType": "S"},
        {"AttributeName": "userId", "AttributeType": "S"},
    ]
    # byOrderDate first, as deployed: a new index is appended (CloudFormation adds one GSI per update).
    assert props["GlobalSecondaryIndexes"] == [
        _index("byOrderDate", "orderDate", "createdAt"),
        _index("byUser", "userId", "createdAt"),
    ]


def test_files_table_is_keyed_by_the_object_key_with_a_by_user_index(stage_app):
    props = one(stage_app.resources("Data", "AWS::DynamoDB::Table"), "FilesTable")[1]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "fileKey", "KeyType": "HASH"}]
    assert props["GlobalSecondaryIndexes"] == [_index("byUser", "userId", "uploadedAt")]


def test_files_api_is_configured_and_routed(stage_app):
    config = config_of(stage_app)
    env = function_env(stage_app, "FilesApi")
    assert flatten(env["FILES_TABLE_NAME"]) == "<Data:FilesTable1399FAA4>"
    assert env["FILES_BY_USER_INDEX"] == "byUser"
    assert flatten(env["UPLOADS_BUCKET_NAME"]) == "<Data:UploadsBucket5E5E9B64>"
    assert env["DOWNLOAD_EXPIRY_SECONDS"] == str(config.presign_expiry_seconds)
    assert flatten(env["PAGE_TOKEN_SECRET_ARN"]) == "<PageTokenKey1B0334FC>"
    routes = sorted(
        m["Properties"]["HttpMethod"]
        for m in stage_app.resources("Service", "AWS::ApiGateway::Method").values()
        if "Integration" in m["Properties"]
        and flatten(m["Properties"]["Integration"].get("Uri", "")).count("FilesApiFunction")
    )
    assert routes == ["DELETE", "GET", "GET"]


def test_the_page_token_key_is_generated_and_read_only_by_the_paginating_functions(stage_app):
    (key,) = stage_app.resources("Service", "AWS::SecretsManager::Secret").values()
    assert key["Properties"]["GenerateSecretString"] == {"ExcludePunctuation": True, "PasswordLength": 64}
    assert "SecretString" not in key["Properties"]
    readers = {
        name
        for name in ("UsersApi", "OrdersApi", "FilesApi", "UploadsApi", "UploadIndexer", "DailyReport")
        if function_env(stage_app, name).get("PAGE_TOKEN_SECRET_ARN")
    }
    assert readers == {"UsersApi", "OrdersApi", "FilesApi"}
