"""Idempotency per orderId for the functions that act on an order more than once (at-least-once delivery).

Records live in the idempotency table (key `id`, TTL `expiration`); Powertools prefixes each key with the
function's name, so functions sharing the table never see each other's records.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

from service_common.aws import client
from service_common.env import require_env

# Longer than the longest redelivery: EventBridge + Lambda async retries (hours), SQS receives (minutes).
RECORD_LIFETIME_SECONDS = 24 * 60 * 60


def order_idempotency() -> tuple[DynamoDBPersistenceLayer, IdempotencyConfig]:
    """The persistence layer on IDEMPOTENCY_TABLE_NAME and a config keyed by the data's `orderId`."""
    # The container's shared client: by default Powertools builds one in a new boto3 Session, which
    # loads the SDK's endpoint and service data again (tens of ms of init).
    persistence = DynamoDBPersistenceLayer(
        table_name=require_env("IDEMPOTENCY_TABLE_NAME"), boto3_client=client("dynamodb")
    )
    config = IdempotencyConfig(
        event_key_jmespath="orderId",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=RECORD_LIFETIME_SECONDS,
    )
    return persistence, config
