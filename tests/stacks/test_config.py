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
    ],
)
def test_bad_values_are_named(setting, value, message):
    context = copy.deepcopy(CONTEXT)
    context["stages"]["prod"][setting] = value
    with pytest.raises(ConfigError, match=message):
        load_stage_config(context, "prod")


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
