"""Checkov skips written next to the construct they concern, as CloudFormation resource metadata.

Checkov reads `Metadata: {checkov: {skip: [{id, comment}]}}` on a resource
(https://www.checkov.io/2.Basics/Suppressing%20and%20Skipping%20Policies.html); tests/stacks/test_checkov.py
pins which checks each resource skips, like the cdk-nag acknowledgements.
"""

from __future__ import annotations

import re

from aws_cdk import CfnResource
from constructs import IConstruct

_CHECK_ID = re.compile(r"CKV2?_AWS_\d+")
MIN_REASON = 40  # as for cdk-nag acknowledgements: a reason that says why for this resource


def skip_checks(construct: IConstruct, skips: dict[str, str]) -> None:
    """Skip each checkov check id with its reason on `construct`'s CloudFormation resource."""
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to carry checkov skips")
    for check_id, reason in skips.items():
        if not _CHECK_ID.fullmatch(check_id):
            raise ValueError(f"{check_id!r} is not a checkov AWS check id")
        if len(reason) < MIN_REASON:
            raise ValueError(f"{check_id} on {construct.node.path} needs a specific reason, got {reason!r}")
    metadata = resource.get_metadata("checkov") or {"skip": []}
    known = {skip["id"] for skip in metadata["skip"]}
    metadata["skip"] += [
        {"id": check_id, "comment": reason} for check_id, reason in skips.items() if check_id not in known
    ]
    resource.add_metadata("checkov", metadata)


def cdk_provider_function_skips(what: str) -> dict[str, str]:
    """Skips for a Lambda function CDK itself defines to serve `what` (a custom resource at deploy time)."""
    reason = f"CDK's own handler for {what}, run by CloudFormation only while deploying"
    return {
        "CKV_AWS_115": f"{reason}: one invocation per deploy, no traffic to reserve concurrency for.",
        "CKV_AWS_116": f"{reason}: invoked synchronously by CloudFormation, which reports its failure.",
        "CKV_AWS_117": f"{reason}: it calls only AWS APIs; CDK offers no VPC setting for it.",
    }
