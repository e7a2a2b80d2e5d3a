"""``GET /api/v2/org`` through ``datadog-api-client``'s ``OrganizationsApi.list_orgs()``, per kind of key."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from datadog_api_client.exceptions import ApiException
from datadog_api_client.model_utils import ModelNormal
from datadog_api_client.v2.model.managed_orgs_response import ManagedOrgsResponse
from datadog_api_client.v2.model.org_attributes import OrgAttributes
from dd_peer import RecordingApiClient, assert_fully_parsed, peer

from support.emulator_control import EmulatorControl
from support.seed import (
    HUB,
    HUB_READER_APP_KEY,
    HUB_VIEWER_APP_KEY,
    HUB_WRITER_APP_KEY,
    INITECH,
    INITECH_EU,
    SPOKE_AP,
    SPOKE_EU,
    SPOKE_EU_READER_APP_KEY,
    SPOKE_US,
    Org,
)


def list_orgs(url: str, org: Org, app_key: str | None = None, **kwargs: str) -> ManagedOrgsResponse:
    with peer(url, org, app_key) as dd:
        answer = dd.orgs.list_orgs(**kwargs)
        assert isinstance(answer, ManagedOrgsResponse)
        assert_fully_parsed(answer, dd.last_body)
    return answer


def names(answer: ManagedOrgsResponse) -> tuple[str, list[str], list[str]]:
    """(current org id, managed org ids, names in ``included``)."""
    managed = [str(o.id) for o in answer.data.relationships.managed_orgs.data]
    return str(answer.data.id), managed, [o.attributes.name for o in answer.included]


@pytest.mark.parametrize(
    "app_key", [None, HUB_WRITER_APP_KEY], ids=["org_management", "org_connections_write"]
)
def test_parent_keys_list_the_parent_and_its_children(emulator: EmulatorControl, app_key: str | None) -> None:
    answer = list_orgs(emulator.url, HUB, app_key)
    assert names(answer) == (
        HUB.id,
        [SPOKE_EU.id, SPOKE_US.id, SPOKE_AP.id],
        ["hub", "spoke-eu", "spoke-us", "spoke-ap"],
    )
    assert str(answer.data.relationships.current_org.data.id) == HUB.id
    for org in answer.included:  # every one of the 8 attributes OrgAttributes requires, typed
        attributes = org.attributes
        assert isinstance(attributes, OrgAttributes)
        assert isinstance(attributes.created_at, datetime) and isinstance(attributes.modified_at, datetime)
        assert attributes.public_id and attributes.url == "https://app.datadoghq.com"
        assert attributes.disabled is False and isinstance(attributes.sharing, str)
        assert isinstance(attributes.description, str)


def test_child_keys_list_only_the_child(emulator: EmulatorControl) -> None:
    assert names(list_orgs(emulator.url, SPOKE_EU)) == (SPOKE_EU.id, [], ["spoke-eu"])


def test_an_org_on_another_site_is_listed_with_its_site(emulator: EmulatorControl) -> None:
    answer = list_orgs(emulator.url, INITECH)
    by_name = {o.attributes.name: o.attributes for o in answer.included}
    assert by_name["initech-eu"].url == "https://app.datadoghq.eu"
    assert by_name["initech"].url == "https://app.datadoghq.com"
    assert INITECH_EU.id in names(answer)[1]


@pytest.mark.parametrize(
    ("text", "managed"),
    [("spoke", ["spoke-eu", "spoke-us", "spoke-ap"]), ("-EU", ["spoke-eu"]), ("nothing", [])],
)
def test_filter_name_keeps_matching_managed_orgs(
    emulator: EmulatorControl, text: str, managed: list[str]
) -> None:
    answer = list_orgs(emulator.url, HUB, filter_name=text)
    current, _, included = names(answer)
    assert current == HUB.id and included == ["hub", *managed]  # the current org is always there


@pytest.mark.parametrize(
    ("org", "app_key"),
    [(HUB, HUB_READER_APP_KEY), (SPOKE_EU, SPOKE_EU_READER_APP_KEY), (HUB, HUB_VIEWER_APP_KEY)],
    ids=["parent-read-only", "child-read-only", "no-permission"],
)
def test_read_only_and_permissionless_keys_get_403(emulator: EmulatorControl, org: Org, app_key: str) -> None:
    with peer(emulator.url, org, app_key) as dd, pytest.raises(ApiException) as caught:
        dd.orgs.list_orgs()
    assert caught.value.status == 403


def test_the_field_check_catches_a_field_the_client_does_not_know(emulator: EmulatorControl) -> None:
    """``assert_fully_parsed`` can fail: an extra attribute is kept by the client, untyped."""
    with peer(emulator.url, HUB) as dd:
        dd.orgs.list_orgs()
        raw = dd.last_body
        raw["included"][0]["attributes"]["plan"] = "enterprise"
        client: RecordingApiClient = dd.client
        model = client.deserialize(json.dumps(raw), (ManagedOrgsResponse,), True)
    assert isinstance(model, ModelNormal)
    with pytest.raises(AssertionError, match=r"attributes\.plan: not a field of OrgAttributes"):
        assert_fully_parsed(model, raw)
