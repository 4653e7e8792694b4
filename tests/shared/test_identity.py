"""service_common.identity: the caller as API Gateway's Cognito authorizer passes it."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from service_common.api import ApiError
from service_common.identity import Caller, current_caller, parse_groups

from tests.events import api_event, cognito_claims


@pytest.mark.parametrize(
    ("rendered", "groups"),
    [
        ("admins", {"admins"}),
        ("admins,support", {"admins", "support"}),  # REST v1 rendering of the list claim
        ("[admins support]", {"admins", "support"}),  # the bracketed rendering some integrations see
        (["admins", "support"], {"admins", "support"}),
        ("", set()),
        (None, set()),
    ],
)
def test_parse_groups_reads_every_rendering_of_the_list_claim(rendered, groups):
    assert parse_groups(rendered) == frozenset(groups)


def test_only_the_exact_admins_group_makes_an_admin():
    assert Caller("u", frozenset({"admins"})).is_admin
    assert not Caller("u", frozenset({"administrators", "admins-readonly"})).is_admin
    assert not Caller("u").is_admin


def _resolve_caller(claims):
    app = APIGatewayRestResolver()
    seen = {}

    @app.get("/who")
    def who():
        seen["caller"] = current_caller(app)
        return {}

    app.resolve(api_event("GET", "/who", claims=claims), {})
    return seen.get("caller")


def test_current_caller_comes_from_the_authorizer_claims():
    caller = _resolve_caller(cognito_claims("sub-1", groups=("admins", "support")))
    assert caller == Caller("sub-1", frozenset({"admins", "support"}))


@pytest.mark.parametrize("claims", [None, {"email": "x@example.com"}, {"sub": ""}])
def test_no_verified_sub_is_401(claims):
    app = APIGatewayRestResolver()
    app.resolve(api_event("GET", "/who", claims=claims), {})
    with pytest.raises(ApiError) as error:
        current_caller(app)
    assert (error.value.status, error.value.code) == (401, "Unauthorized")
