"""Prod keeps its data: every stateful resource is retained, protected and recoverable."""

from __future__ import annotations

import pytest

from tests.stacks.test_stateful_ids import STATEFUL_TYPES


def stateful_resources(app):
    for stack, template in app.templates.items():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] in STATEFUL_TYPES:
                yield f"{stack}/{logical_id}", resource


@pytest.fixture
def prod(synthesized):
    return synthesized["prod"]


def test_prod_retains_every_stateful_resource(prod):
    resources = list(stateful_resources(prod))
    assert resources
    for name, resource in resources:
        assert resource.get("DeletionPolicy") == "Retain", name
        assert resource.get("UpdateReplacePolicy") == "Retain", name


def test_prod_tables_have_deletion_protection_and_point_in_time_recovery(prod):
    for name, resource in stateful_resources(prod):
        if resource["Type"] == "AWS::DynamoDB::Table":
            props = resource["Properties"]
            assert props.get("DeletionProtectionEnabled") is True, name
            assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name


def test_prod_buckets_are_versioned(prod):
    for name, resource in stateful_resources(prod):
        if resource["Type"] == "AWS::S3::Bucket":
            assert resource["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}, name


def test_dev_can_be_torn_down(synthesized):
    for name, resource in stateful_resources(synthesized["dev"]):
        if resource["Type"] == "AWS::DynamoDB::Table":
            assert resource.get("DeletionPolicy") == "Delete", name
