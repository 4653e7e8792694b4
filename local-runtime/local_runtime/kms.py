"""Customer managed KMS keys (AWS::KMS::Key) encrypting queues, buckets, topics and streams.

KMS itself is not emulated (nothing is encrypted locally), but its authorization is: in AWS a call that
writes to or reads from such a resource also needs the KMS action on its key, and fails without it,
whatever the resource's own policies say. Which calls use the key:

- SQS: SendMessage(Batch) needs kms:GenerateDataKey and kms:Decrypt; ReceiveMessage kms:Decrypt
  (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html);
  an AWS service sending to the queue (EventBridge, SNS, S3) needs both, from the key policy.
- S3 with default SSE-KMS: PutObject needs kms:GenerateDataKey, GetObject kms:Decrypt
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html).
- SNS: Publish(Batch) needs kms:GenerateDataKey and kms:Decrypt
  (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html).
- Kinesis: PutRecord(s) needs kms:GenerateDataKey, GetRecords kms:Decrypt
  (https://docs.aws.amazon.com/streams/latest/dev/permissions-user-key-KMS.html).

The key policy is always consulted: it allows a principal it names, and an identity policy counts only
where the key policy allows the account (its root), and an explicit Deny in either denies
(https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html). Conditions see
kms:ViaService, kms:CallerAccount and the service's encryption context. AWS managed keys (alias/aws/sqs,
SQS_MANAGED, S3_MANAGED...) need no permission and are not checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from local_runtime.iam import Policy, as_list
from local_runtime.resource_policies import Caller, statement_names
from local_runtime.templates import App

# action -> the KMS actions it makes on the resource's key
KEY_ACTIONS = {
    "sqs:SendMessage": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sqs:SendMessageBatch": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sqs:ReceiveMessage": ("kms:Decrypt",),
    "s3:PutObject": ("kms:GenerateDataKey",),
    "s3:GetObject": ("kms:Decrypt",),
    "sns:Publish": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sns:PublishBatch": ("kms:GenerateDataKey", "kms:Decrypt"),
    "kinesis:PutRecord": ("kms:GenerateDataKey",),
    "kinesis:PutRecords": ("kms:GenerateDataKey",),
    "kinesis:GetRecords": ("kms:Decrypt",),
}
# the error each service answers when the key refuses (S3: its 403 AccessDenied)
KMS_ERROR_CODES = {
    "sqs": "KMS.AccessDeniedException",
    "sns": "KMSAccessDenied",
    "kinesis": "KMSAccessDeniedException",
}
# the encryption context each service passes to KMS, as a condition key
_CONTEXT_KEYS = {
    "sqs": "kms:EncryptionContext:aws:sqs:arn",
    "s3": "kms:EncryptionContext:aws:s3:arn",
    "sns": "kms:EncryptionContext:aws:sns:topicArn",
    "kinesis": "kms:EncryptionContext:aws:kinesis:arn",
}


@dataclass(frozen=True)
class KeyUse:
    key_arn: str
    actions: tuple[str, ...]
    context: dict[str, str]  # kms:ViaService, kms:CallerAccount, the encryption context


class EncryptionKeys:
    def __init__(
        self,
        key_policies: dict[str, list[dict[str, Any]]],
        encrypted: dict[str, str],
        region: str,
        account: str,
    ) -> None:
        self.key_policies = key_policies  # key ARN -> key policy statements
        self.encrypted = encrypted  # resource ARN (queue, bucket, topic, stream) -> key ARN
        self.region, self.account = region, account

    @classmethod
    def from_app(cls, app: App) -> EncryptionKeys:
        keys: dict[str, list[dict[str, Any]]] = {}
        by_id: dict[str, str] = {}  # key id, ARN or alias -> key ARN
        for stack, lid, resource in app.all_resources("AWS::KMS::Key"):
            arn = str(app.get_att(stack, lid, "Arn"))
            policy = app.resolve(stack, resource.get("Properties", {}).get("KeyPolicy") or {})
            keys[arn] = as_list(policy.get("Statement"))
            by_id[arn] = by_id[str(app.ref(stack, lid))] = arn
        for stack, _lid, resource in app.all_resources("AWS::KMS::Alias"):
            props = app.resolve(stack, resource.get("Properties", {}))
            if str(props.get("TargetKeyId")) in by_id:
                by_id[str(props["AliasName"])] = by_id[str(props["TargetKeyId"])]
                by_id[app.arn("kms", str(props["AliasName"]))] = by_id[str(props["TargetKeyId"])]
        encrypted: dict[str, str] = {}

        def encrypt(resource_arn: str, key: Any) -> None:
            if key is not None and str(key) in by_id:  # AWS managed keys are not in the template
                encrypted[resource_arn] = by_id[str(key)]

        for stack, lid, resource in app.all_resources("AWS::SQS::Queue", "AWS::SNS::Topic"):
            props = app.resolve(stack, resource.get("Properties", {}))
            is_queue = resource["Type"] == "AWS::SQS::Queue"
            arn = app.get_att(stack, lid, "Arn") if is_queue else app.ref(stack, lid)
            encrypt(str(arn), props.get("KmsMasterKeyId"))
        for stack, lid, resource in app.all_resources("AWS::S3::Bucket"):
            props = app.resolve(stack, resource.get("Properties", {}))
            for rule in props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", []):
                default = rule.get("ServerSideEncryptionByDefault", {})
                if str(default.get("SSEAlgorithm", "")).startswith("aws:kms"):
                    encrypt(str(app.get_att(stack, lid, "Arn")), default.get("KMSMasterKeyID"))
        for stack, lid, resource in app.all_resources("AWS::Kinesis::Stream"):
            encryption = app.resolve(stack, resource.get("Properties", {})).get("StreamEncryption", {})
            if encryption.get("EncryptionType") == "KMS":
                encrypt(str(app.get_att(stack, lid, "Arn")), encryption.get("KeyId"))
        return cls(keys, encrypted, app.names.region, app.names.account)

    def use(self, action: str, resource: str) -> KeyUse | None:
        """The key `action` on `resource` (a bucket's object too) uses, if a customer managed one."""
        if action not in KEY_ACTIONS:
            return None
        service = action.split(":", 1)[0]
        container = resource.split("/", 1)[0] if service == "s3" else resource
        key = self.encrypted.get(container)
        if key is None:
            return None
        context = {
            "kms:ViaService": f"{service}.{self.region}.amazonaws.com",
            "kms:CallerAccount": self.account,
            _CONTEXT_KEYS[service]: resource,
        }
        return KeyUse(key, KEY_ACTIONS[action], context)

    def decide(
        self, caller: Caller, identity: Policy | None, kms_action: str, use: KeyUse, context: dict[str, Any]
    ) -> str:
        """'Allow', 'ExplicitDeny' or 'ImplicitDeny' for `kms_action` on the key (identity: the caller's
        identity policy; None for an AWS service, which has only the key policy)."""
        context = {**context, **use.context}
        statements = self.key_policies.get(use.key_arn, [])
        named = [s for s in statements if statement_names(s, caller, deny=s.get("Effect") == "Deny")]
        by_key = Policy(named).decide(kms_action, use.key_arn, context)
        by_identity = identity.decide(kms_action, use.key_arn, context) if identity is not None else None
        if "ExplicitDeny" in (by_key, by_identity):
            return "ExplicitDeny"
        if by_key == "Allow":
            return "Allow"
        to_account = [s for s in statements if s.get("Effect") != "Deny" and _names_account(s, self.account)]
        delegated = Policy(to_account).decide(kms_action, use.key_arn, context) == "Allow"
        return "Allow" if delegated and by_identity == "Allow" else "ImplicitDeny"

    def service_may(self, service: str, action: str, resource: str, source_arn: str) -> bool:
        """An AWS service's delivery (EventBridge, SNS, S3 to a queue or topic): the key policy alone."""
        use = self.use(action, resource)
        if use is None:
            return True
        caller = Caller(self.account, service=service)
        context = {"aws:SourceArn": source_arn, "aws:SourceAccount": self.account}
        return all(self.decide(caller, None, kms, use, context) == "Allow" for kms in use.actions)

    def summary(self) -> str | None:
        if not self.encrypted:
            return None
        return (
            f"{len(self.encrypted)} resource(s) encrypted with customer managed KMS keys: key policies and "
            "kms:GenerateDataKey/kms:Decrypt checked on their reads and writes (nothing is encrypted)"
        )


def _names_account(statement: dict[str, Any], account: str) -> bool:
    principal = statement.get("Principal")
    names = as_list(principal.get("AWS")) if isinstance(principal, dict) else []
    return any(str(n) in (account, f"arn:aws:iam::{account}:root") for n in names)
