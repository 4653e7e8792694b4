"""Location links keep the prefix the client used: the stage on the default endpoint, the base path
(or nothing) behind a custom domain mapping, so following one never lands outside the API (403)."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from service_common.links import link, request_prefix

from tests.events import api_event


def _event(**kwargs) -> APIGatewayProxyEvent:
    return APIGatewayProxyEvent(api_event(**kwargs))


@pytest.mark.parametrize(
    ("kwargs", "prefix"),
    [
        ({"method": "POST", "path": "/users"}, "/dev"),  # default endpoint: /<stage>/users
        ({"method": "POST", "path": "/users", "domain": "api.example.com", "sent_path": "/users"}, ""),
        ({"method": "POST", "path": "/users", "domain": "api.example.com", "sent_path": "/v1/users"}, "/v1"),
        (
            {
                "method": "GET",
                "path": "/orders/o-1",
                "resource": "/orders/{orderId}",
                "path_params": {"orderId": "o-1"},
                "domain": "api.example.com",
                "sent_path": "/shop/v2/orders/o-1",
            },
            "/shop/v2",
        ),
        (
            {
                "method": "GET",
                "path": "/users/a b",
                "resource": "/users/{userId}",
                "path_params": {"userId": "a b"},
                "sent_path": "/dev/users/a%20b",
            },
            "/dev",
        ),
    ],
)
def test_the_prefix_is_what_the_client_sent_before_the_resource(kwargs, prefix):
    assert request_prefix(_event(**kwargs)) == prefix


def test_a_link_is_the_path_under_that_prefix():
    assert link(_event(method="POST", path="/orders"), "/orders/o-9") == "/dev/orders/o-9"
    custom = _event(method="POST", path="/orders", domain="api.example.com", sent_path="/orders")
    assert link(custom, "/orders/o-9") == "/orders/o-9"


def test_an_unexpected_path_falls_back_to_the_stage_only_on_the_default_endpoint():
    assert request_prefix(_event(method="POST", path="/users", sent_path="/elsewhere")) == "/dev"
    other = _event(method="POST", path="/users", domain="api.example.com", sent_path="/elsewhere")
    assert request_prefix(other) == ""
