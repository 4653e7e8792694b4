"""cdk-nag finding ids for resources that reference another stack.

cdk-nag names an IAM5 finding after the policy resource as it appears in the template. A weak cross-stack
reference (this app's default) renders as Fn::GetStackOutput, whose output name CDK derives from the
producer's logical id; acknowledging such a finding needs that exact text. If CDK ever renders it
differently, synth fails on the (then unacknowledged) finding: nothing is silently suppressed.
"""

from __future__ import annotations

import hashlib
import json
import re

from aws_cdk import CfnResource, Stack
from constructs import IConstruct

_COMPACT = (",", ":")  # JSON.stringify spacing


def weak_reference(resource: IConstruct, attribute: str) -> str:
    """How cdk-nag flattens a consumer's weak reference to `resource`'s `attribute` (e.g. "Arn")."""
    cfn = resource.node.default_child
    assert isinstance(cfn, CfnResource), f"{resource.node.path} has no CloudFormation resource"
    producer = Stack.of(resource)
    output = "Output" + json.dumps(
        {"Fn::GetAtt": [producer.get_logical_id(cfn), attribute]}, separators=_COMPACT
    )
    digest = hashlib.md5(f"Publish/{output}".encode(), usedforsecurity=False).hexdigest()[:8].upper()
    output_name = "Publish" + re.sub(r"[^A-Za-z0-9]", "", output) + digest
    reference = {
        "Fn::GetStackOutput": {
            "StackName": producer.stack_name,
            "Region": {"Ref": "AWS::Region"},
            "OutputName": output_name,
        }
    }
    return json.dumps(reference, separators=_COMPACT)
