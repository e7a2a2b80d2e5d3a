"""Org connections through ``datadog-api-client``: create, list (filters, paging), update, delete."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from datadog_api_client.v2.model.org_connection_list_response import OrgConnectionListResponse
from datadog_api_client.v2.model.org_connection_response import OrgConnectionResponse
from dd_peer import (
    AUDIT,
    LOGS,
    METRICS,
    Peer,
    assert_fully_parsed,
    assert_list_parsed,
    create_request,
    peer,
    update_request,
)

from support.emulator_control import EmulatorControl
from support.seed import HUB, HUB_WRITER_APP_KEY, SPOKE_AP, SPOKE_EU, SPOKE_US, USERS


def _create(dd: Peer, sink: str, types: list[object]) -> OrgConnectionResponse:
    created = dd.connections.create_org_connections(body=create_request(sink, types))  # type: ignore[arg-type]
    assert isinstance(created, OrgConnectionResponse)
    assert_fully_parsed(created, dd.last_body)
    return created


def test_create_list_update_delete_round_trip(emulator: EmulatorControl) -> None:
    with peer(emulator.url, HUB) as dd:
        created = _create(dd, SPOKE_EU.id, [LOGS, METRICS])
        data = created.data
        assert isinstance(data.id, uuid.UUID)
        assert data.attributes.connection_types == [LOGS, METRICS]
        created_at = data.attributes.created_at
        assert isinstance(created_at, datetime) and created_at.utcoffset() == timezone.utc.utcoffset(None)
        rel = data.relationships
        assert (rel.source_org.data.id, rel.source_org.data.name) == (HUB.id, "hub")
        assert (rel.sink_org.data.id, rel.sink_org.data.name) == (SPOKE_EU.id, "spoke-eu")
        assert (rel.created_by.data.id, rel.created_by.data.name) == (HUB.user_id, HUB.user_name)

        listed = dd.connections.list_org_connections(
            sink_org_id=SPOKE_EU.id, source_org_id=HUB.id, limit=10, offset=0
        )
        assert isinstance(listed, OrgConnectionListResponse)
        assert_list_parsed(listed, dd.last_body)
        assert [c.id for c in listed.data] == [data.id]
        assert (listed.meta.page.total_count, listed.meta.page.total_filtered_count) == (1, 1)

        updated = dd.connections.update_org_connections(
            connection_id=data.id, body=update_request(data.id, [AUDIT])
        )
        assert_fully_parsed(updated, dd.last_body)
        assert updated.data.attributes.connection_types == [AUDIT]
        assert updated.data.attributes.created_at == created_at
        assert updated.data.relationships.created_by.data.id == HUB.user_id
        # As recorded, the update answer's relationships carry ids only: the names are unset.
        for rel in (updated.data.relationships.source_org, updated.data.relationships.sink_org):
            assert rel.data.id in (HUB.id, SPOKE_EU.id) and "name" not in rel.data
        assert "name" not in updated.data.relationships.created_by.data

        assert dd.connections.delete_org_connections(connection_id=data.id) is None
        empty = dd.connections.list_org_connections()
        assert_list_parsed(empty, dd.last_body)
        assert empty.data == [] and empty.meta.page.total_count == 0


def test_list_filters_by_sink_and_by_source_from_either_side(emulator: EmulatorControl) -> None:
    with peer(emulator.url, HUB) as hub, peer(emulator.url, SPOKE_EU) as eu:
        to_eu = _create(hub, SPOKE_EU.id, [LOGS]).data.id
        to_us = _create(hub, SPOKE_US.id, [METRICS]).data.id
        from_eu = _create(eu, HUB.id, [AUDIT]).data.id

        def ids(dd: Peer, **filters: str) -> tuple[list[uuid.UUID], int, int]:
            listed = dd.connections.list_org_connections(**filters)
            assert_list_parsed(listed, dd.last_body)
            page = listed.meta.page
            return [c.id for c in listed.data], page.total_count, page.total_filtered_count

        assert ids(hub) == ([to_eu, to_us, from_eu], 3, 3)
        assert ids(hub, sink_org_id=SPOKE_EU.id) == ([to_eu], 3, 1)
        assert ids(hub, source_org_id=HUB.id) == ([to_eu, to_us], 3, 2)
        assert ids(hub, sink_org_id=HUB.id) == ([from_eu], 3, 1)
        assert ids(hub, source_org_id=SPOKE_EU.id) == ([from_eu], 3, 1)
        assert ids(hub, source_org_id=SPOKE_EU.id, sink_org_id=HUB.id) == ([from_eu], 3, 1)
        assert ids(hub, source_org_id=SPOKE_AP.id) == ([], 3, 0)
        # The sink sees the connection too, as incoming; a bystander sees nothing of it.
        assert ids(eu, source_org_id=HUB.id) == ([to_eu], 2, 1)
        with peer(emulator.url, SPOKE_AP) as ap:
            assert ids(ap) == ([], 0, 0)


def test_list_pages_with_limit_and_offset(emulator: EmulatorControl) -> None:
    with peer(emulator.url, HUB) as hub, peer(emulator.url, SPOKE_EU) as eu:
        made = [_create(hub, org.id, [LOGS]).data.id for org in (SPOKE_EU, SPOKE_US, SPOKE_AP)]
        made.append(_create(eu, HUB.id, [LOGS]).data.id)
        seen: list[uuid.UUID] = []
        for offset in (0, 2, 4):
            page = hub.connections.list_org_connections(limit=2, offset=offset)
            assert_list_parsed(page, hub.last_body)
            assert (page.meta.page.total_count, page.meta.page.total_filtered_count) == (4, 4)
            assert len(page.data) == (2 if offset < 4 else 0)
            seen += [c.id for c in page.data]
        assert seen == made  # creation order, no repeat, no gap
        assert [c.id for c in hub.connections.list_org_connections(limit=1000).data] == made


def test_a_writer_without_org_management_creates_as_itself(emulator: EmulatorControl) -> None:
    bot = USERS["connections-bot@hub.acme.test"]
    with peer(emulator.url, HUB, HUB_WRITER_APP_KEY) as dd:
        created = _create(dd, SPOKE_US.id, [LOGS])
        assert (
            created.data.relationships.created_by.data.id,
            created.data.relationships.created_by.data.name,
        ) == (
            bot.id,
            bot.name,
        )
