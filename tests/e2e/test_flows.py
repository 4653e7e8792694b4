"""Every flow of the app end to end through the local runtime: API → queue → processor → bus →
projection, poison messages to the DLQ, presigned uploads indexed and removed, the daily report."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

import boto3
import pytest
import requests
from botocore.config import Config

from local_runtime.runtime import Runtime
from tests.e2e.conftest import ApiUser
from tests.events import s3_event, s3_record
from tests.helpers import aws_client, eventually


def env_of(runtime: Runtime, function: str, variable: str) -> str:
    return runtime.find_function(function).environment[variable]


def queue_url(runtime: Runtime, logical_id: str) -> str:
    app = runtime.app
    name = app.physical_name(app.stack("Data"), logical_id)
    return runtime.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def test_an_order_flows_from_the_api_through_queue_processor_bus_and_projection(
    api_url: str, new_user: Callable[..., ApiUser]
) -> None:
    olga = new_user(name="olga")
    auth = olga.headers
    user = requests.post(
        f"{api_url}users", json={"name": "Olga", "email": olga.email}, headers=auth, timeout=30
    )
    user_id = user.json()["userId"]
    order = {"items": [{"sku": "SKU-1", "quantity": 3, "unitPriceCents": 1250}]}

    accepted = requests.post(f"{api_url}orders", json=order, headers=auth, timeout=30)

    assert accepted.status_code == 202, accepted.text
    order_id = accepted.json()["orderId"]
    order_url = urljoin(api_url, accepted.headers["Location"])  # a client follows the link it was given
    assert order_url == f"{api_url}orders/{order_id}"
    stored = eventually(
        lambda: (r := requests.get(order_url, headers=auth, timeout=10)).status_code == 200 and r.json(),
        what="the processed order",
    )
    assert (stored["status"], stored["totalCents"], stored["userId"]) == ("CONFIRMED", 3750, user_id)
    projected = eventually(
        lambda: (
            (u := requests.get(f"{api_url}users/{user_id}", headers=auth, timeout=10).json()).get(
                "orderCount"
            )
            and u
        ),
        what="the projection onto the user",
    )
    assert projected["orderCount"] == 1


def test_an_order_before_the_profile_exists_is_stored_and_its_projection_dead_lettered(
    local_app: Runtime, api_url: str, new_user: Callable[..., ApiUser]
) -> None:
    # A signed-in user may order before POST /users: the order is kept, the projection has no user to
    # update, so it raises (releasing its idempotency record), is retried and lands in the DLQ.
    newcomer = new_user(name="newcomer")
    order = {"items": [{"sku": "SKU-N", "quantity": 1, "unitPriceCents": 100}]}
    accepted = requests.post(f"{api_url}orders", json=order, headers=newcomer.headers, timeout=30)
    assert accepted.status_code == 202, accepted.text
    order_id = accepted.json()["orderId"]
    sqs = local_app.client("sqs")
    dlq = queue_url(local_app, "OrderProjectionDLQED4AF06A")

    def dead_lettered() -> dict | None:
        for message in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", []):
            if order_id in message["Body"]:
                return message
        return None

    message = eventually(dead_lettered, timeout_s=60, what="the OrderCreated event in OrderProjectionDLQ")
    assert json.loads(message["Body"])["detail"]["userId"] == newcomer.sub
    stored = requests.get(f"{api_url}orders/{order_id}", headers=newcomer.headers, timeout=10)
    assert stored.status_code == 200 and stored.json()["status"] == "CONFIRMED"
    assert (
        requests.get(f"{api_url}users/{newcomer.sub}", headers=newcomer.headers, timeout=10).status_code
        == 404
    )


def refused_by_the_table(order: dict[str, Any]) -> dict[str, Any]:
    """A well-formed order that OrdersTable refuses (an empty byOrderDate index key): it fails in processing
    after its idempotency record was written, and that record is deleted (dynamodb:DeleteItem) so that the
    retries run again."""
    return {**order, "createdAt": ""}


NOT_AN_ORDER = '{"orderId": "poison-1", "items": "not a list"}'
REFUSED_ORDER = json.dumps(
    refused_by_the_table(
        {
            "orderId": "poison-2",
            "userId": "poison-user",
            "items": [{"sku": "SKU-1", "quantity": 1, "unitPriceCents": 100}],
            "totalCents": 100,
            "status": "ACCEPTED",
            "createdAt": "2026-01-01T00:00:00+00:00",
        }
    )
)


@pytest.mark.parametrize("poison", [NOT_AN_ORDER, REFUSED_ORDER], ids=["not-an-order", "refused"])
def test_a_poison_order_lands_in_the_dlq_after_three_receives_with_its_body_intact(
    local_app: Runtime, poison: str
) -> None:
    orders_queue, orders_dlq = (
        queue_url(local_app, "OrdersQueue3DFA1D51"),
        queue_url(local_app, "OrdersDLQ8E8CD9EE"),
    )
    sqs = aws_client(local_app, "sqs")
    # The template's 180 s visibility timeout (6 times the processor's) would make this test take minutes;
    # the redrive policy (3 receives) under test is the template's, untouched.
    sqs.set_queue_attributes(QueueUrl=orders_queue, Attributes={"VisibilityTimeout": "1"})
    time.sleep(2.5)  # a long poll already under way (<= 1 s) still uses the old timeout

    sqs.send_message(QueueUrl=orders_queue, MessageBody=poison)

    def dead_letters() -> list[dict]:
        received = sqs.receive_message(
            QueueUrl=orders_dlq, AttributeNames=["All"], MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        return [message for message in received if message["Body"] == poison]

    (dead,) = eventually(dead_letters, timeout_s=60, what="the poison message in OrdersDLQ")
    assert int(dead["Attributes"]["ApproximateReceiveCount"]) >= 3


def test_a_presigned_upload_is_indexed_and_removed_with_its_object(
    local_app: Runtime, api_url: str, new_user: Callable[..., ApiUser]
) -> None:
    files = local_app.client("dynamodb")
    files_table = env_of(local_app, "UploadIndexer", "FILES_TABLE_NAME")
    content = b"id,total\n1,42\n"
    uploader = new_user(name="uploader")
    ticket = requests.post(
        f"{api_url}uploads",
        json={"fileName": "my report.csv", "contentType": "text/csv", "size": len(content)},
        headers=uploader.headers,
        timeout=30,
    )
    assert ticket.status_code == 201, ticket.text
    ticket_body = ticket.json()
    assert ticket_body["key"].startswith(f"uploads/{uploader.sub}/")  # under the caller's own prefix

    put = requests.put(ticket_body["uploadUrl"], data=content, headers=ticket_body["headers"], timeout=30)

    assert put.status_code == 200, put.text
    key = ticket_body["key"]
    indexed = eventually(
        lambda: files.get_item(TableName=files_table, Key={"fileKey": {"S": key}}).get("Item"),
        what="the upload in FilesTable",
    )
    assert (indexed["size"]["N"], indexed["contentType"]["S"]) == (str(len(content)), "text/csv")

    aws_client(local_app, "s3").delete_object(
        Bucket=env_of(local_app, "UploadsApi", "UPLOADS_BUCKET_NAME"), Key=key
    )

    eventually(
        lambda: "Item" not in files.get_item(TableName=files_table, Key={"fileKey": {"S": key}}),
        what="the removal from FilesTable",
    )


def _pages(url: str, user: ApiUser, **query: str) -> tuple[list[dict], int]:
    """Every item of a listing, following nextToken: (items, number of pages)."""
    items: list[dict] = []
    for pages in range(1, 20):
        page = requests.get(url, params=query, headers=user.headers, timeout=30)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        if not page.json()["nextToken"]:
            return items, pages
        query = {**query, "nextToken": page.json()["nextToken"]}
    raise AssertionError("pagination did not end")


def _refused_token(response: requests.Response) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "InvalidNextToken"
    assert [detail["field"] for detail in body["details"]] == ["query.nextToken"]


def test_a_user_lists_their_orders_newest_first_in_signed_pages(
    api_url: str, new_user: Callable[..., ApiUser], admin: ApiUser
) -> None:
    lena, other = new_user(name="lena"), new_user(name="other")
    item = {"sku": "SKU-L", "quantity": 1, "unitPriceCents": 100}
    placed = []
    for _ in range(3):
        accepted = requests.post(f"{api_url}orders", json={"items": [item]}, headers=lena.headers, timeout=30)
        assert accepted.status_code == 202, accepted.text
        placed.append(accepted.json()["orderId"])
    eventually(
        lambda: len(_pages(f"{api_url}orders", lena)[0]) == 3, what="the three orders in the byUser index"
    )

    items, pages = _pages(f"{api_url}orders", lena, limit="2")

    assert [order["orderId"] for order in items] == placed[::-1] and pages == 2
    assert {order["userId"] for order in items} == {lena.sub}
    assert len(_pages(f"{api_url}orders", lena, status="CONFIRMED")[0]) == 3
    assert _pages(f"{api_url}orders", lena, status="ACCEPTED")[0] == []
    assert _pages(f"{api_url}orders", other)[0] == []
    # Admins list anyone's orders; a user only their own.
    by_admin = _pages(f"{api_url}orders", admin, userId=lena.sub)[0]
    assert [order["orderId"] for order in by_admin] == placed[::-1]
    refused = requests.get(f"{api_url}orders", params={"userId": lena.sub}, headers=other.headers, timeout=30)
    assert refused.status_code == 403, refused.text
    # A token is good only for the caller and the filter it was issued for, and cannot be altered.
    token = requests.get(f"{api_url}orders", params={"limit": "1"}, headers=lena.headers, timeout=30).json()[
        "nextToken"
    ]
    for user, query in (
        (other, {"nextToken": token}),
        (lena, {"nextToken": token, "status": "CONFIRMED"}),
        (admin, {"nextToken": token, "userId": lena.sub}),
        (lena, {"nextToken": token[:-3] + ("abc" if not token.endswith("abc") else "xyz")}),
    ):
        _refused_token(requests.get(f"{api_url}orders", params=query, headers=user.headers, timeout=30))


def test_a_users_files_are_listed_downloaded_and_deleted(
    api_url: str, new_user: Callable[..., ApiUser]
) -> None:
    owner, stranger = new_user(name="owner"), new_user(name="stranger")
    uploaded = []
    for n, content in enumerate((b"first,1\n", b"second,2\n")):
        ticket = requests.post(
            f"{api_url}uploads",
            json={"fileName": f"part {n}.csv", "contentType": "text/csv", "size": len(content)},
            headers=owner.headers,
            timeout=30,
        ).json()
        put = requests.put(ticket["uploadUrl"], data=content, headers=ticket["headers"], timeout=30)
        assert put.status_code == 200, put.text
        uploaded.append((ticket["key"].rsplit("/", 1)[-1], content))
    listed = eventually(
        lambda: len(files := _pages(f"{api_url}files", owner, limit="1")[0]) == 2 and files,
        what="both uploads indexed",
    )
    assert {file["fileId"] for file in listed} == {file_id for file_id, _ in uploaded}
    assert _pages(f"{api_url}files", stranger)[0] == []
    file_id, content = uploaded[0]
    file_url = f"{api_url}files/{file_id}"

    got = requests.get(file_url, headers=owner.headers, timeout=30)

    assert got.status_code == 200, got.text
    assert (got.json()["fileName"], got.json()["size"]) == ("part-0.csv", len(content))
    download = requests.get(got.json()["downloadUrl"], timeout=30)  # presigned: no token needed
    assert download.status_code == 200 and download.content == content
    for method in ("GET", "DELETE"):  # someone else's file does not exist for the stranger
        assert requests.request(method, file_url, headers=stranger.headers, timeout=30).status_code == 404

    deleted = requests.delete(file_url, headers=owner.headers, timeout=30)

    assert deleted.status_code == 204, deleted.text
    eventually(
        lambda: requests.get(file_url, headers=owner.headers, timeout=30).status_code == 404,
        what="the ObjectRemoved notification to remove the record",
    )
    assert [file["fileId"] for file in _pages(f"{api_url}files", owner)[0]] == [uploaded[1][0]]
    assert requests.delete(file_url, headers=owner.headers, timeout=30).status_code == 404


def test_a_presigned_upload_url_is_refused_when_its_signed_parts_change(
    local_app: Runtime, api_url: str, new_user: Callable[..., ApiUser], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17: the ticket's signature covers key, Content-Type and Content-Length, for a limited time."""
    uploader = new_user(name="tamperer")
    ticket = requests.post(
        f"{api_url}uploads",
        json={"fileName": "note.txt", "contentType": "text/plain", "size": 11},
        headers=uploader.headers,
        timeout=30,
    ).json()
    url, headers = ticket["uploadUrl"], ticket["headers"]
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    other_user_key = urlunsplit(parts._replace(path=parts.path.replace(uploader.sub, "someone-else")))
    access_key, _, region, _, _ = query["X-Amz-Credential"].split("/")
    forged = boto3.client(
        "s3",
        endpoint_url=f"{parts.scheme}://{parts.netloc}",
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key="guessed-secret",
        aws_session_token=query["X-Amz-Security-Token"],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    ).generate_presigned_url(
        "put_object",
        Params={
            "Bucket": parts.path.split("/")[1],
            "Key": ticket["key"],
            "ContentType": "text/plain",
            "ContentLength": 11,
        },
        ExpiresIn=ticket["expiresIn"],
        HttpMethod="PUT",
    )

    attempts = {
        "40 bytes on an 11-byte ticket": requests.put(url, data=b"x" * 40, headers=headers, timeout=10),
        "another Content-Type": requests.put(
            url, data=b"hello world", headers={"Content-Type": "text/html"}, timeout=10
        ),
        "another key": requests.put(other_user_key, data=b"hello world", headers=headers, timeout=10),
        "another method": requests.delete(url, headers=headers, timeout=10),
        "a wrong secret": requests.put(forged, data=b"hello world", headers=headers, timeout=10),
    }
    for what, answer in attempts.items():
        assert answer.status_code == 403, what
        assert "<Code>SignatureDoesNotMatch</Code>" in answer.text, what
    assert local_app.gateway is not None
    now = local_app.gateway.clock()
    monkeypatch.setattr(local_app.gateway, "clock", lambda: now + ticket["expiresIn"] + 1)
    expired = requests.put(url, data=b"hello world", headers=headers, timeout=10)
    assert expired.status_code == 403 and "<Message>Request has expired</Message>" in expired.text
    monkeypatch.undo()

    assert requests.put(url, data=b"hello world", headers=headers, timeout=10).status_code == 200
    stored = local_app.client("s3").get_object(Bucket=parts.path.split("/")[1], Key=ticket["key"])
    assert stored["Body"].read() == b"hello world" and stored["ContentType"] == "text/plain"


def test_the_indexer_sees_an_upload_deleted_before_indexing_as_gone(local_app: Runtime) -> None:
    """Its role may list uploads/ (s3:prefix), so HeadObject of the missing key answers 404, not 403."""
    bucket = env_of(local_app, "UploadsApi", "UPLOADS_BUCKET_NAME")
    event = s3_event(s3_record("ObjectCreated:Put", "uploads/u-1/deleted.txt", bucket=bucket, sequencer="0A"))

    result = local_app.invoke(local_app.find_function("UploadIndexer").arn, event)

    assert result.ok, result.error
    assert result.result == {"processed": 1, "outcomes": ["gone"]}


def test_firing_the_daily_report_now_writes_the_report_of_the_seeded_day(local_app: Runtime) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    orders_table = env_of(local_app, "DailyReport", "ORDERS_TABLE_NAME")
    for number, cents in ((1, 1000), (2, 2550)):
        local_app.client("dynamodb").put_item(
            TableName=orders_table,
            Item={
                "orderId": {"S": f"report-{number}"},
                "userId": {"S": "u-1"},
                "items": {
                    "L": [
                        {
                            "M": {
                                "sku": {"S": "SKU-R"},
                                "quantity": {"N": "1"},
                                "unitPriceCents": {"N": str(cents)},
                            }
                        }
                    ]
                },
                "totalCents": {"N": str(cents)},
                "status": {"S": "CONFIRMED"},
                "orderDate": {"S": yesterday},
                "createdAt": {"S": f"{yesterday}T10:0{number}:00.000+00:00"},
            },
        )
    assert local_app.scheduler is not None

    fired = local_app.scheduler.fire(local_app.find_schedule("DailyReport"))

    assert fired == 1
    bucket = env_of(local_app, "DailyReport", "REPORTS_BUCKET_NAME")
    s3 = local_app.client("s3")
    listed = eventually(  # the schedule invokes its target asynchronously, as EventBridge does
        lambda: s3.list_objects_v2(Bucket=bucket, Prefix=f"reports/{yesterday}.json").get("Contents"),
        what="the daily report object",
    )
    report = json.loads(s3.get_object(Bucket=bucket, Key=listed[0]["Key"])["Body"].read())
    assert (report["date"], report["orderCount"], report["revenue"]) == (yesterday, 2, "35.50")


def test_every_method_runs_under_the_stage_s_api_throttle_from_cdk_json(local_app: Runtime) -> None:
    """The dev stage's `apiThrottle` reaches the template as MethodSettings and limits each method locally,
    as in AWS (a burst beyond it answers 429: tests/local_runtime/test_rest_limits.py)."""
    from local_runtime.api_keys import Throttle
    from tests.conftest import PROJECT_ROOT

    limits = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]["stages"]["dev"]["apiThrottle"]
    api = local_app.api_servers[0].api
    throttles = api.throttles[api.stage]
    expected = Throttle(float(limits["rateLimit"]), int(limits["burstLimit"]))
    methods = [(path, verb) for path, by_verb in api.methods.items() for verb in by_verb]
    assert len(methods) > 10
    assert {(path, verb): throttles.for_method(path, verb) for path, verb in methods} == {
        method: expected for method in methods
    }
