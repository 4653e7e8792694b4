"""This app with one of its functions' permissions (AWS::Lambda::Permission) removed: the trigger fails
locally as it would in AWS, and the rest of the app keeps working."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import requests

from local_runtime.templates import TemplateError
from tests.e2e.conftest import LOCAL_ONLY, REMOTE, sign_up, start_runtime
from tests.helpers import eventually

pytestmark = pytest.mark.skipif(bool(REMOTE), reason=LOCAL_ONLY)


def _without_permissions(dev_assembly: Path, tmp_path: Path, prefixes: tuple[str, ...]) -> Path:
    """A copy of the dev assembly whose Service stack lacks the permissions with these logical id prefixes."""
    copy = tmp_path / "cdk.out"
    shutil.copytree(dev_assembly, copy)
    template_file = next(copy.glob("*Service*.template.json"))
    template = json.loads(template_file.read_text())
    removed = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Permission" and logical_id.startswith(prefixes)
    ]
    assert len(removed) == len(prefixes), removed
    for logical_id in removed:
        del template["Resources"][logical_id]
    template_file.write_text(json.dumps(template))
    return copy


def test_an_api_method_and_a_rule_without_permission_fail_as_in_aws(
    dev_assembly: Path, tmp_path: Path
) -> None:
    assembly = _without_permissions(
        dev_assembly, tmp_path, ("ApiRestApiusersuserIdGETApiPermission", "OrderCreatedRuleAllowEventRule")
    )
    runtime = start_runtime(assembly, tmp_path / "state")
    try:
        user = sign_up(runtime, name="perm")
        headers = {"Authorization": user.id_token}
        base = runtime.api_servers[0].base_url
        # API Gateway: 500 "Internal server error" (the function is not invoked), rendered by the app's
        # DEFAULT_5XX gateway response with the response type API Gateway reports.
        denied = requests.get(f"{base}users/{user.sub}", headers=headers, timeout=10)
        assert denied.status_code == 500 and denied.json()["message"] == "Internal server error"
        assert denied.json()["error"] == "API_CONFIGURATION_ERROR"
        # Other methods of the same function keep their own permissions.
        created = requests.post(
            f"{base}users", json={"name": "Pia", "email": user.email}, headers=headers, timeout=10
        )
        assert created.status_code == 201, created.text

        # EventBridge: the order's event is not delivered to the projection; no retry, straight to the
        # target's DLQ with ERROR_CODE NO_PERMISSIONS.
        order = requests.post(
            f"{base}orders",
            json={"items": [{"sku": "SKU-P", "quantity": 1, "unitPriceCents": 100}]},
            headers=headers,
            timeout=10,
        )
        assert order.status_code == 202, order.text
        dlq = next(q for q in runtime.summary["queues"] if q.startswith("Orders-Dev-Data-OrderProjectionDLQ"))
        sqs = runtime.client("sqs")
        url = sqs.get_queue_url(QueueName=dlq)["QueueUrl"]
        messages = eventually(
            lambda: sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"]).get("Messages"),
            30,
            "the undelivered event in the rule target's DLQ",
        )
        attributes = messages[0]["MessageAttributes"]
        assert attributes["ERROR_CODE"]["StringValue"] == "NO_PERMISSIONS"
        assert json.loads(messages[0]["Body"])["detail"]["orderId"] == order.json()["orderId"]
        assert not [e for e in runtime.console.invocations.after(0) if e["function"] == "OrderProjection"]
    finally:
        runtime.stop()


def test_a_bucket_notification_without_permission_fails_the_start_as_the_deploy_would(
    dev_assembly: Path, tmp_path: Path
) -> None:
    assembly = _without_permissions(dev_assembly, tmp_path, ("UploadsBucketRefAllowBucketNotifications",))
    with pytest.raises(TemplateError, match="Unable to validate the following destination configurations"):
        start_runtime(assembly, tmp_path / "state")
