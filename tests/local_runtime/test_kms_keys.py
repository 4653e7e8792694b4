"""Customer managed KMS keys on a queue, a bucket and a topic: a write or read needs the KMS action on the
key as well, allowed by the key policy directly or, where the key policy allows the account, by the
caller's identity policy (kms.py). Without it the service answers its KMS error, a Lambda SQS poller gets
nothing, and an AWS service's delivery fails unless the key policy names the service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from local_runtime.iam import Policy
from local_runtime.kms import EncryptionKeys
from local_runtime.resource_policies import Caller
from local_runtime.runtime import Runtime
from local_runtime.templates import App, Names, TemplateError
from tests.helpers import (
    eventually,
    policy_role,
    python_function,
    running,
    running_stack,
    write_stack_assembly,
)

ACCOUNT = "123456789012"
CLIENT = """
import os
import boto3
from botocore.exceptions import ClientError

def handler(event, context):
    try:
        if event["op"] == "send":
            boto3.client("sqs").send_message(QueueUrl=os.environ[event["queue"]], MessageBody=event["body"])
        else:
            boto3.client("s3").put_object(Bucket=os.environ["BUCKET"], Key="k.txt", Body=b"x")
    except ClientError as error:
        failure = error.response["Error"]
        return {"ok": False, "code": failure["Code"], "message": failure["Message"]}
    return {"ok": True}
"""
WORKER = """
def handler(event, context):
    print("got", [record["body"] for record in event["Records"]])
"""
# CDK's default key policy: the account may use the key, through IAM policies.
ACCOUNT_KEY_POLICY = {
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {
                "AWS": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":iam::{ACCOUNT}:root"]]}
            },
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
}


def _mapping(function: str, queue: str) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::EventSourceMapping",
        "Properties": {"FunctionName": {"Ref": function}, "EventSourceArn": {"Fn::GetAtt": [queue, "Arn"]}},
    }


SEND = {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}
PUT = {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}
RECEIVE = {
    "Effect": "Allow",
    "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
    "Resource": "*",
}
ON_APP_KEY = {"Fn::GetAtt": ["AppKey", "Arn"]}
LOGS = {"Effect": "Allow", "Action": "logs:*", "Resource": "*"}
ENV = {
    "JOBS": {"Ref": "Jobs"},
    "AUDIT": {"Ref": "Audit"},
    "PLAIN": {"Ref": "Plain"},
    "BUCKET": {"Ref": "Files"},
}
TEMPLATE = {
    "Resources": {
        "AppKey": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": ACCOUNT_KEY_POLICY}},
        "AuditKey": {  # names the producer's role only: IAM policies of other roles do not count
            "Type": "AWS::KMS::Key",
            "Properties": {
                "KeyPolicy": {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": {"Fn::GetAtt": ["ProducerRole", "Arn"]}},
                            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                            "Resource": "*",
                        }
                    ]
                }
            },
        },
        "Jobs": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": "jobs", "KmsMasterKeyId": ON_APP_KEY},
        },
        "Audit": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": "audit", "KmsMasterKeyId": {"Ref": "AuditKey"}},
        },
        "Plain": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": "plain", "KmsMasterKeyId": "alias/aws/sqs"},
        },
        "Files": {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "BucketName": "kms-files",
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {
                            "ServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": ON_APP_KEY,
                            }
                        }
                    ]
                },
            },
        },
        "ProducerRole": policy_role(
            LOGS,
            SEND,
            PUT,
            {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": ON_APP_KEY},
        ),
        # May send and put, and use AuditKey by its IAM policy, which AuditKey's policy does not honour.
        "CarelessRole": policy_role(
            LOGS,
            SEND,
            PUT,
            {"Effect": "Allow", "Action": "kms:*", "Resource": {"Fn::GetAtt": ["AuditKey", "Arn"]}},
        ),
        "WorkerRole": policy_role(
            LOGS, RECEIVE, {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": ON_APP_KEY}
        ),
        "BlindRole": policy_role(LOGS, RECEIVE),  # may receive from the audit queue, but not decrypt
        "Producer": python_function(
            "asset.client", "ProducerRole", Timeout=10, Environment={"Variables": ENV}
        ),
        "Careless": python_function(
            "asset.client", "CarelessRole", Timeout=10, Environment={"Variables": ENV}
        ),
        "Worker": python_function("asset.worker", "WorkerRole", Timeout=10),
        "Blind": python_function("asset.worker", "BlindRole", Timeout=10),
        "WorkerOnJobs": _mapping("Worker", "Jobs"),
        "BlindOnAudit": _mapping("Blind", "Audit"),
    }
}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with running_stack(
        tmp_path_factory, "Kms", TEMPLATE, {"asset.client": CLIENT, "asset.worker": WORKER}
    ) as started:
        yield started


def _call(runtime: Runtime, function: str, **event: Any) -> dict[str, Any]:
    spec = next(s for s in runtime.specs if s.logical_id == function)
    invocation = runtime.invoke(spec.arn, event)
    assert invocation.ok, invocation.error
    return invocation.result


def test_a_role_with_the_key_in_its_policy_writes_and_its_consumer_reads(runtime: Runtime) -> None:
    assert _call(runtime, "Producer", op="send", queue="JOBS", body="job-1") == {"ok": True}
    assert _call(runtime, "Producer", op="put") == {"ok": True}
    log = runtime.options.state_dir / "logs" / "Worker.log"
    eventually(
        lambda: log.exists() and "job-1" in log.read_text(), timeout_s=20, what="the worker to get job-1"
    )


def test_without_the_kms_action_writes_fail_with_each_services_error(runtime: Runtime) -> None:
    sent = _call(runtime, "Careless", op="send", queue="JOBS", body="x")
    assert sent["code"] == "KMS.AccessDeniedException"
    assert "kms:GenerateDataKey" in sent["message"] and "key/" in sent["message"]
    put = _call(runtime, "Careless", op="put")
    assert put["code"] == "AccessDenied" and "kms:GenerateDataKey" in put["message"]
    # An AWS managed key (alias/aws/sqs) needs no permission.
    assert _call(runtime, "Careless", op="send", queue="PLAIN", body="x") == {"ok": True}


def test_a_key_policy_that_does_not_allow_the_account_ignores_iam_policies(runtime: Runtime) -> None:
    assert (
        _call(runtime, "Careless", op="send", queue="AUDIT", body="x")["code"] == "KMS.AccessDeniedException"
    )
    assert _call(runtime, "Producer", op="send", queue="AUDIT", body="audit-1") == {"ok": True}


def test_a_poller_whose_role_may_not_decrypt_leaves_the_messages_in_the_queue(runtime: Runtime) -> None:
    _call(runtime, "Producer", op="send", queue="AUDIT", body="audit-2")
    sqs = runtime.client("sqs")
    url = sqs.get_queue_url(QueueName="audit")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert int(attributes["Attributes"]["ApproximateNumberOfMessages"]) >= 1
    assert not (runtime.options.state_dir / "logs" / "Blind.log").exists()


# ------------------------------------------------------------------------------- key policy evaluation


def _keys(*statements: dict[str, Any]) -> tuple[EncryptionKeys, str]:
    template = {
        "Resources": {
            "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Statement": list(statements)}}},
            "Queue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {"QueueName": "q", "KmsMasterKeyId": {"Ref": "Key"}},
            },
        }
    }
    return EncryptionKeys.from_app(
        App.from_templates({"S": template}, names=Names())
    ), f"arn:aws:sqs:us-east-1:{ACCOUNT}:q"


ROLE = Caller(
    ACCOUNT, role_arn=f"arn:aws:iam::{ACCOUNT}:role/r", session_arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/r/f"
)
USE_KEY = Policy([{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}])


def test_identity_policies_count_only_where_the_key_policy_allows_the_account() -> None:
    keys, queue = _keys(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    use = keys.use("sqs:SendMessage", queue)
    assert use is not None and use.actions == ("kms:GenerateDataKey", "kms:Decrypt")
    assert keys.decide(ROLE, USE_KEY, "kms:GenerateDataKey", use, {}) == "Allow"
    assert keys.decide(ROLE, Policy(), "kms:GenerateDataKey", use, {}) == "ImplicitDeny"
    assert keys.use("sqs:DeleteMessage", queue) is None  # does not touch the message body


def test_a_deny_in_the_key_policy_and_conditions_on_the_services_context() -> None:
    via_sqs = {"StringEquals": {"kms:ViaService": "sqs.us-east-1.amazonaws.com"}}
    keys, queue = _keys(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ACCOUNT},
            "Action": "kms:*",
            "Resource": "*",
            "Condition": via_sqs,
        },
        {"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"},
    )
    use = keys.use("sqs:SendMessage", queue)
    assert use is not None
    assert keys.decide(ROLE, USE_KEY, "kms:GenerateDataKey", use, {}) == "Allow"
    assert keys.decide(ROLE, USE_KEY, "kms:Decrypt", use, {}) == "ExplicitDeny"


def test_services_need_the_key_policy_to_name_them() -> None:
    source = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/r"
    keys, queue = _keys(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    assert not keys.service_may("events.amazonaws.com", "sqs:SendMessage", queue, source)
    keys, queue = _keys(
        {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": "*",
            "Condition": {"ArnEquals": {"aws:SourceArn": source}},
        }
    )
    assert keys.service_may("events.amazonaws.com", "sqs:SendMessage", queue, source)
    assert not keys.service_may(
        "events.amazonaws.com", "sqs:SendMessage", queue, source.replace("/r", "/other")
    )


def test_an_s3_notification_to_a_queue_whose_key_does_not_name_s3_fails_the_start(tmp_path: Any) -> None:
    template = {
        "Resources": {
            "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": ACCOUNT_KEY_POLICY}},
            "Events": {
                "Type": "AWS::SQS::Queue",
                "Properties": {"QueueName": "events", "KmsMasterKeyId": {"Ref": "Key"}},
            },
            "EventsPolicy": {
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {
                    "Queues": [{"Ref": "Events"}],
                    "PolicyDocument": {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "s3.amazonaws.com"},
                                "Action": "sqs:SendMessage",
                                "Resource": "*",
                            }
                        ]
                    },
                },
            },
            "Files": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "NotificationConfiguration": {
                        "QueueConfigurations": [
                            {"Event": "s3:ObjectCreated:*", "Queue": {"Fn::GetAtt": ["Events", "Arn"]}}
                        ]
                    }
                },
            },
        }
    }
    out = write_stack_assembly(tmp_path / "cdk.out", "Notify", template)
    with pytest.raises(TemplateError, match="KMS key's policy"), running(out, tmp_path / "state"):
        pass
