"""Every error status the project can meet, as ``datadog-api-client`` raises it (``ApiException``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from datadog_api_client.exceptions import ApiException
from dd_peer import AUDIT, LOGS, METRICS, create_request, peer, update_request

from support.emulator_control import EmulatorControl
from support.seed import (
    GLOBEX,
    HUB,
    HUB_READER_APP_KEY,
    HUB_VIEWER_APP_KEY,
    INITECH,
    INITECH_EU,
    INITECH_SINKS,
    SPOKE_EU,
    SPOKE_EU_ENGINEER,
    SPOKE_US,
)


def _body(exc: ApiException) -> Any:
    """The error body: this client version hands it over already decoded from JSON."""
    return json.loads(exc.body) if isinstance(exc.body, str | bytes) else exc.body


def refused(call: Callable[[], Any], status: int) -> list[str]:
    """Run ``call``, expect an ``ApiException`` with ``status`` and a JSON error body; its texts."""
    with pytest.raises(ApiException) as caught:
        call()
    assert caught.value.status == status, caught.value.body
    assert caught.value.headers["Content-Type"] == "application/json"
    body = _body(caught.value)
    assert set(body) == {"errors"} and all(isinstance(m, str) for m in body["errors"])
    return body["errors"]  # type: ignore[no-any-return]


def test_400_repeated_types_on_create_and_on_update(emulator: EmulatorControl) -> None:
    with peer(emulator.url, HUB) as dd:
        create = dd.connections.create_org_connections
        assert refused(lambda: create(body=create_request(SPOKE_EU.id, [LOGS, LOGS])), 400) == [
            f"connection between orgs {HUB.id} and {SPOKE_EU.id} is not allowed"
        ]
        conn = create(body=create_request(SPOKE_EU.id, [LOGS])).data.id
        update = dd.connections.update_org_connections
        body = update_request(conn, [METRICS, METRICS])
        assert refused(lambda: update(connection_id=conn, body=body), 400) == ["Validation failed for input."]


def test_400_to_itself(emulator: EmulatorControl) -> None:
    with peer(emulator.url, HUB) as dd:
        call = lambda: dd.connections.create_org_connections(body=create_request(HUB.id, [LOGS]))  # noqa: E731
        assert refused(call, 400) == [f"connection between orgs {HUB.id} and {HUB.id} is not allowed"]


def test_400_malformed_connection_id(emulator: EmulatorControl) -> None:
    # The client refuses to send a non-UUID id, so input checking is off here (answers stay checked).
    with peer(emulator.url, HUB, check_input_type=False) as dd:
        delete = lambda: dd.connections.delete_org_connections(connection_id="nope")  # noqa: E731
        assert refused(delete, 400) == ["connection id must be a valid uuid"]
        body = update_request(uuid.uuid4(), [LOGS])
        update = lambda: dd.connections.update_org_connections(connection_id="nope", body=body)  # noqa: E731
        assert refused(update, 400) == ["connection id must be a valid uuid"]


@pytest.mark.parametrize(
    ("app_key", "allowed"),
    [
        (HUB_VIEWER_APP_KEY, set()),  # a user without any of the permissions
        (HUB_READER_APP_KEY, {"list"}),  # org_connections_read only
        ("0" * 40, set()),  # an unknown key
        (SPOKE_EU.app_key, set()),  # the key of a user of another org
    ],
    ids=["no-permission", "read-only", "unknown-key", "other-org-key"],
)
def test_403_without_the_permission(emulator: EmulatorControl, app_key: str, allowed: set[str]) -> None:
    made = uuid.UUID(emulator.create(HUB.name, SPOKE_EU.id, ["logs"])["id"])
    with peer(emulator.url, HUB, app_key) as dd:
        api = dd.connections
        calls: dict[str, Callable[[], Any]] = {
            "list": lambda: api.list_org_connections(),
            "create": lambda: api.create_org_connections(body=create_request(SPOKE_US.id, [LOGS])),
            "update": lambda: api.update_org_connections(
                connection_id=made, body=update_request(made, [AUDIT])
            ),
            "delete": lambda: api.delete_org_connections(connection_id=made),
            "list_orgs": lambda: dd.orgs.list_orgs(),
        }
        for name, call in calls.items():
            if name in allowed:
                call()
            else:
                assert refused(call, 403) == ["Forbidden"], name
    assert emulator.pairs() == [(HUB.id, SPOKE_EU.id, ("logs",))]  # nothing changed


def test_403_once_the_user_is_deactivated(emulator: EmulatorControl) -> None:
    with peer(emulator.url, SPOKE_EU, SPOKE_EU_ENGINEER.app_key) as dd:
        dd.connections.list_org_connections()
        emulator.deactivate(SPOKE_EU_ENGINEER.name)
        assert refused(lambda: dd.connections.list_org_connections(), 403) == ["Forbidden"]


@pytest.mark.parametrize(
    ("source", "sink"),
    [(HUB, GLOBEX.id), (HUB, str(uuid.uuid1())), (HUB, "not-a-uuid"), (INITECH, INITECH_EU.id)],
    ids=["other-account", "unknown-org", "not-a-uuid", "other-site"],
)
def test_404_for_a_sink_outside_the_account_or_the_site(
    emulator: EmulatorControl, source: Any, sink: str
) -> None:
    with peer(emulator.url, source) as dd:
        call = lambda: dd.connections.create_org_connections(body=create_request(sink, [LOGS]))  # noqa: E731
        assert refused(call, 404) == ["Not found"]
    assert emulator.connections() == []


def test_404_for_an_unknown_connection(emulator: EmulatorControl) -> None:
    missing = uuid.uuid4()
    with peer(emulator.url, HUB) as dd:
        delete = lambda: dd.connections.delete_org_connections(connection_id=missing)  # noqa: E731
        assert refused(delete, 404) == [f"org connection with id:{missing} not found not found"]
        body = update_request(missing, [LOGS])
        update = lambda: dd.connections.update_org_connections(connection_id=missing, body=body)  # noqa: E731
        assert refused(update, 404) == [
            f"Org connection with id:{missing} not found not found"
        ]  # sic, capital O


def test_409_for_a_pair_already_connected(emulator: EmulatorControl) -> None:
    with peer(emulator.url, HUB) as dd:
        dd.connections.create_org_connections(body=create_request(SPOKE_US.id, [LOGS]))
        call = lambda: dd.connections.create_org_connections(body=create_request(SPOKE_US.id, [METRICS]))  # noqa: E731
        assert refused(call, 409) == [f"connection between orgs {HUB.id} and {SPOKE_US.id} already exists"]


def test_429_with_the_rate_limit_headers(emulator: EmulatorControl) -> None:
    emulator.rate_limit(1, 60)
    with peer(emulator.url, HUB) as dd:
        dd.connections.list_org_connections()
        with pytest.raises(ApiException) as caught:
            dd.connections.list_org_connections()
    assert caught.value.status == 429
    assert _body(caught.value) == {"errors": ["Too many requests"]}
    headers = caught.value.headers
    assert headers["X-RateLimit-Remaining"] == "0" and headers["X-RateLimit-Name"] == "org_connections_list"
    assert int(headers["X-RateLimit-Reset"]) >= 1 and headers["X-RateLimit-Limit"] == "1"


def test_400_past_the_non_enterprise_limit(emulator: EmulatorControl) -> None:
    *allowed, sixth = INITECH_SINKS
    with peer(emulator.url, INITECH) as dd:
        for sink in allowed:
            dd.connections.create_org_connections(body=create_request(sink.id, [LOGS]))
        call = lambda: dd.connections.create_org_connections(body=create_request(sixth.id, [LOGS]))  # noqa: E731
        assert refused(call, 400) == [
            "Validation failed for input.",
            f"source org {INITECH.id} is not on an Enterprise plan and already shares with 5 orgs, "
            "the most allowed without Enterprise",
        ]
    assert len(emulator.connections()) == 5
