#!/usr/bin/env python3
"""Reference app for the synth benchmark: one function built exactly like the service's.

The same constructs (ServiceFunction, DependencyLayer, the shared code layer), the same stage
configuration and feature flags (the project's cdk.json context) and the same cdk-nag checks, but one
stack with one table and one function (users_api). `make bench` synthesizes it side by side with the
full app; the ratio full/reference says what the rest of the app costs at synth.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_ROOT))

from aws_cdk import App, Duration, RemovalPolicy, Stack, Validations  # noqa: E402
from aws_cdk import aws_dynamodb as dynamodb  # noqa: E402
from aws_cdk import aws_lambda as lambda_  # noqa: E402
from cdk_nag import AwsSolutionsChecks, ServerlessChecks  # noqa: E402

from stacks.config import load_stage_config  # noqa: E402
from stacks.constructs.dependency_layer import DependencyLayer  # noqa: E402
from stacks.constructs.service_function import RUNTIME, ServiceFunction  # noqa: E402


def build_reference(app: App) -> App:
    context = {key: app.node.try_get_context(key) for key in ("service", "defaultStage", "stages")}
    config = load_stage_config(context, app.node.try_get_context("stage"))
    stack = Stack(app, "Reference", stack_name=config.stack_name("Reference"))
    table = dynamodb.TableV2(
        stack,
        "UsersTable",
        partition_key=dynamodb.Attribute(name="userId", type=dynamodb.AttributeType.STRING),
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        removal_policy=RemovalPolicy.DESTROY,
    )
    layers = [
        DependencyLayer(stack, "DependencyLayer", runtime=RUNTIME).layer,
        lambda_.LayerVersion(
            stack,
            "SharedLayer",
            code=lambda_.Code.from_asset(str(PROJECT_ROOT / "layers" / "shared"), exclude=["**/__pycache__"]),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[lambda_.Architecture.ARM_64],
        ),
    ]
    function = ServiceFunction(
        stack,
        "UsersApi",
        folder="users_api",
        description="Users CRUD API (reference app)",
        config=config,
        layers=layers,
        environment={"USERS_TABLE_NAME": table.table_name},
        timeout=Duration.seconds(10),
        memory_size=512,
    )
    function.allow(["dynamodb:GetItem", "dynamodb:PutItem"], [table.table_arn])
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    Validations.of(app).add_plugins(ServerlessChecks(app))
    return app


def project_context() -> dict:
    """The project's own context (stage settings and feature flags): built the same way."""
    return json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]


if __name__ == "__main__":
    build_reference(App(context={**project_context(), "stage": "dev"})).synth()
