"""Stage configuration: unknown stages and bad values fail synth with a message naming them."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from stacks.config import ConfigError, load_stage_config

CONTEXT = json.loads(Path("cdk.json").read_text())["context"]


def test_default_stage_is_dev():
    assert load_stage_config(CONTEXT, None).stage == "dev"


def test_unknown_stage_names_the_stage_and_the_known_ones():
    with pytest.raises(ConfigError, match=r"Unknown stage 'staging'.*dev, prod"):
        load_stage_config(CONTEXT, "staging")


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("logRetentionDays", 13, r"stages\.prod\.logRetentionDays: .*retention"),
        ("removalPolicy", "snapshot", r"stages\.prod\.removalPolicy"),
        ("apiThrottle", {"rateLimit": -1, "burstLimit": 10}, r"stages\.prod\.apiThrottle\.rateLimit"),
        ("alarmEmail", "not-an-email", r"stages\.prod\.alarmEmail"),
        ("deletionProtecton", True, r"stages\.prod\.deletionProtecton: Extra inputs"),
        (
            "ordersQueue",
            {"batchSize": 0, "maxBatchingWindowSeconds": 0},
            r"stages\.prod\.ordersQueue\.batchSize",
        ),
        (
            "ordersQueue",
            {"batchSize": 10, "maxBatchingWindowSeconds": 301},
            r"stages\.prod\.ordersQueue\.maxBatchingWindowSeconds",
        ),
        (
            "ordersQueue",
            {"batchSize": 100, "maxBatchingWindowSeconds": 0},
            r"stages\.prod\.ordersQueue: .*batchSize above 10 needs maxBatchingWindowSeconds",
        ),
        (
            "ordersQueue",
            {"batchSize": 10},
            r"stages\.prod\.ordersQueue\.maxBatchingWindowSeconds: Field required",
        ),
        ("reportSchedule", "cron(0 2 * * *)", r"stages\.prod\.reportSchedule: .*six fields"),
        ("reportSchedule", "cron(0 2 * * MON *)", r"stages\.prod\.reportSchedule: .*cron"),
        ("reportSchedule", "0 2 * * ? *", r"stages\.prod\.reportSchedule"),
        ("uploadMaxBytes", 0, r"stages\.prod\.uploadMaxBytes"),
        ("uploadMaxBytes", 6 * 1024**3, r"stages\.prod\.uploadMaxBytes: .*less than or equal"),
        ("presignExpirySeconds", 30, r"stages\.prod\.presignExpirySeconds: .*greater than or equal to 60"),
        ("presignExpirySeconds", 7200, r"stages\.prod\.presignExpirySeconds"),
        ("apiP90LatencyMs", 0, r"stages\.prod\.apiP90LatencyMs"),
        ("userPool", {"mfa": "OFF", "threatProtection": "AUDIT_ONLY"}, r"stages\.prod\.userPool\.mfa"),
        (
            "userPool",
            {"mfa": "REQUIRED", "threatProtection": "NO_ENFORCEMENT"},
            r"stages\.prod\.userPool\.threatProtection",
        ),
    ],
)
def test_bad_values_are_named(setting, value, message):
    context = copy.deepcopy(CONTEXT)
    context["stages"]["prod"][setting] = value
    with pytest.raises(ConfigError, match=message):
        load_stage_config(context, "prod")


@pytest.mark.parametrize(
    "setting", ["reportSchedule", "uploadMaxBytes", "presignExpirySeconds", "apiP90LatencyMs", "userPool"]
)
def test_new_settings_are_required(setting):
    context = copy.deepcopy(CONTEXT)
    del context["stages"]["dev"][setting]
    with pytest.raises(ConfigError, match=rf"stages\.dev\.{setting}: Field required"):
        load_stage_config(context, "dev")


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_stage_settings_for_uploads_report_and_monitoring(stage):
    config = load_stage_config(CONTEXT, stage)
    assert config.report_schedule == "cron(0 2 * * ? *)"
    assert config.upload_max_bytes == 10 * 1024 * 1024
    assert config.presign_expiry_seconds == 300
    assert config.api_p90_latency_ms == {"dev": 2000, "prod": 1000}[stage]


def test_prod_retains_and_protects_data():
    prod = load_stage_config(CONTEXT, "prod")
    assert prod.removal_policy_name == "retain" and prod.deletion_protection


def test_orders_queue_visibility_timeout_follows_the_batching_window():
    dev, prod = load_stage_config(CONTEXT, "dev"), load_stage_config(CONTEXT, "prod")
    assert dev.orders_queue.visibility_timeout_seconds == 180 + dev.orders_queue.max_batching_window_seconds
    assert prod.orders_queue.visibility_timeout_seconds == 180 + prod.orders_queue.max_batching_window_seconds
    context = copy.deepcopy(CONTEXT)
    context["stages"]["prod"]["ordersQueue"] = {"batchSize": 100, "maxBatchingWindowSeconds": 20}
    assert load_stage_config(context, "prod").orders_queue.visibility_timeout_seconds == 200
