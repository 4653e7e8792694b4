#!/usr/bin/env python3
"""CDK app: `cdk synth -c stage=dev|prod` builds the stacks of one stage, checked by cdk-nag."""

from __future__ import annotations

import sys

from aws_cdk import App, Tags, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from stacks.account_stack import ApiGatewayAccountStack
from stacks.config import ConfigError, StageConfig, load_stage_config
from stacks.data_stack import DataStack
from stacks.monitoring_stack import MonitoredResources, MonitoringStack
from stacks.service_stack import DataResources, ServiceStack


def build_app(app: App) -> App:
    stage_name = app.node.try_get_context("stage")
    context = {key: app.node.try_get_context(key) for key in ("service", "defaultStage", "stages")}
    config = load_stage_config(context, stage_name)
    add_stacks(app, config)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    Validations.of(app).add_plugins(ServerlessChecks(app))
    return app


def add_stacks(app: App, config: StageConfig) -> None:
    data = DataStack(
        app,
        "Data",
        stack_name=config.stack_name("Data"),
        description=f"{config.service} ({config.stage}): stateful resources",
        config=config,
        termination_protection=config.deletion_protection,
    )
    service = ServiceStack(
        app,
        "Service",
        stack_name=config.stack_name("Service"),
        description=f"{config.service} ({config.stage}): API, functions and event sources",
        config=config,
        data=DataResources(
            user_pool=data.user_pool,
            users_table=data.users_table,
            orders_table=data.orders_table,
            idempotency_table=data.idempotency_table,
            orders_queue=data.orders_queue,
            orders_bus=data.orders_bus,
            projection_dlq=data.projection_dlq,
            order_created_rule_name=data.order_created_rule_name,
            uploads_bucket=data.uploads_bucket,
            files_table=data.files_table,
            upload_indexer_dlq=data.upload_indexer_dlq,
            reports_bucket=data.reports_bucket,
            daily_report_dlq=data.daily_report_dlq,
            daily_report_rule_name=data.daily_report_rule_name,
        ),
    )
    if config.api_gateway_cloudwatch_role == "create":
        # The stage's API logs with the account/region's API Gateway CloudWatch role: set it first.
        account = ApiGatewayAccountStack(
            app,
            "ApiGatewayAccount",
            description="API Gateway account settings (CloudWatch Logs role), shared by every stage",
        )
        service.add_stack_dependency(account, "stage access logging needs the account's CloudWatch role")
    monitoring = MonitoringStack(
        app,
        "Monitoring",
        stack_name=config.stack_name("Monitoring"),
        description=f"{config.service} ({config.stage}): alarms, alarm topic and dashboard",
        config=config,
        monitored=MonitoredResources(
            api=service.api.rest_api,
            functions={name: fn.function for name, fn in service.functions.items()},
            queues=[data.orders_queue],
            dead_letter_queues=[
                data.orders_dlq,
                data.projection_dlq,
                data.upload_indexer_dlq,
                data.daily_report_dlq,
            ],
        ),
    )
    # Not on the account stack: it is the same stack for every stage and must not flip between them.
    for stack in (data, service, monitoring):
        Tags.of(stack).add("service", config.service)
        Tags.of(stack).add("stage", config.stage)


if __name__ == "__main__":
    try:
        build_app(App()).synth()
    except ConfigError as error:
        sys.exit(f"Configuration error: {error}")
