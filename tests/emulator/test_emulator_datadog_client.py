"""Datadog's own published client (``datadog-api-client``) works against the emulator."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from emulator_helpers import GLOBEX, HUB, SPOKE_EU, SPOKE_US, OrgKeys

from datadog_org_connections.emulator import Emulator

pytest.importorskip("datadog_api_client")

from datadog_api_client import ApiClient, Configuration
from datadog_api_client.exceptions import ApiException
from datadog_api_client.v2.api.org_connections_api import OrgConnectionsApi
from datadog_api_client.v2.api.organizations_api import OrganizationsApi
from datadog_api_client.v2.model.org_connection_create import OrgConnectionCreate
from datadog_api_client.v2.model.org_connection_create_attributes import (
    OrgConnectionCreateAttributes,
)
from datadog_api_client.v2.model.org_connection_create_relationships import (
    OrgConnectionCreateRelationships,
)
from datadog_api_client.v2.model.org_connection_create_request import OrgConnectionCreateRequest
from datadog_api_client.v2.model.org_connection_list_response import OrgConnectionListResponse
from datadog_api_client.v2.model.org_connection_org_relationship import (
    OrgConnectionOrgRelationship,
)
from datadog_api_client.v2.model.org_connection_org_relationship_data import (
    OrgConnectionOrgRelationshipData,
)
from datadog_api_client.v2.model.org_connection_org_relationship_data_type import (
    OrgConnectionOrgRelationshipDataType,
)
from datadog_api_client.v2.model.org_connection_response import OrgConnectionResponse
from datadog_api_client.v2.model.org_connection_type import OrgConnectionType
from datadog_api_client.v2.model.org_connection_type_enum import OrgConnectionTypeEnum
from datadog_api_client.v2.model.org_connection_update import OrgConnectionUpdate
from datadog_api_client.v2.model.org_connection_update_attributes import (
    OrgConnectionUpdateAttributes,
)
from datadog_api_client.v2.model.org_connection_update_request import OrgConnectionUpdateRequest


def client_for(emu: Emulator, org: OrgKeys) -> ApiClient:
    configuration = Configuration(  # type: ignore[no-untyped-call]
        host=emu.url, api_key={"apiKeyAuth": org.api_key, "appKeyAuth": org.app_key}
    )
    return ApiClient(configuration)


@pytest.fixture
def dd(emu: Emulator) -> Iterator[OrgConnectionsApi]:
    with client_for(emu, HUB) as api_client:
        yield OrgConnectionsApi(api_client)  # type: ignore[no-untyped-call]


def create_request(sink_id: str, types: list[OrgConnectionTypeEnum]) -> OrgConnectionCreateRequest:
    return OrgConnectionCreateRequest(
        data=OrgConnectionCreate(
            type=OrgConnectionType.ORG_CONNECTION,
            attributes=OrgConnectionCreateAttributes(connection_types=types),
            relationships=OrgConnectionCreateRelationships(
                sink_org=OrgConnectionOrgRelationship(
                    data=OrgConnectionOrgRelationshipData(
                        id=sink_id, type=OrgConnectionOrgRelationshipDataType.ORGS
                    )
                )
            ),
        )
    )


def update_request(
    conn_id: uuid.UUID | str, types: list[OrgConnectionTypeEnum]
) -> OrgConnectionUpdateRequest:
    return OrgConnectionUpdateRequest(
        data=OrgConnectionUpdate(
            id=conn_id if isinstance(conn_id, uuid.UUID) else uuid.UUID(conn_id),
            type=OrgConnectionType.ORG_CONNECTION,
            attributes=OrgConnectionUpdateAttributes(connection_types=types),
        )
    )


def test_create_list_update_delete_round_trip(dd: OrgConnectionsApi) -> None:
    created = dd.create_org_connections(
        body=create_request(SPOKE_EU.id, [OrgConnectionTypeEnum.LOGS, OrgConnectionTypeEnum.METRICS])
    )
    assert isinstance(created, OrgConnectionResponse)
    data = created.data
    assert isinstance(data.id, uuid.UUID)
    assert data.attributes.connection_types == [OrgConnectionTypeEnum.LOGS, OrgConnectionTypeEnum.METRICS]
    created_at = data.attributes.created_at
    assert isinstance(created_at, datetime) and created_at.tzinfo is not None
    assert created_at.utcoffset() == timezone.utc.utcoffset(None)
    assert abs((datetime.now(timezone.utc) - created_at).total_seconds()) < 60
    rel = data.relationships
    assert (rel.source_org.data.id, rel.source_org.data.name) == (HUB.id, "hub")
    assert (rel.sink_org.data.id, rel.sink_org.data.name) == (SPOKE_EU.id, "spoke-eu")
    assert (rel.created_by.data.id, rel.created_by.data.name) == (HUB.user_id, HUB.user_name)

    listed = dd.list_org_connections(sink_org_id=SPOKE_EU.id, source_org_id=HUB.id, limit=10, offset=0)
    assert isinstance(listed, OrgConnectionListResponse)
    assert [c.id for c in listed.data] == [data.id]
    assert listed.meta.page.total_count == 1
    assert listed.meta.page.total_filtered_count == 1

    updated = dd.update_org_connections(
        connection_id=data.id, body=update_request(data.id, [OrgConnectionTypeEnum.AUDIT])
    )
    assert updated.data.attributes.connection_types == [OrgConnectionTypeEnum.AUDIT]
    assert updated.data.attributes.created_at == created_at

    dd.delete_org_connections(connection_id=data.id)
    assert dd.list_org_connections().data == []


def test_errors_raise_api_exception_with_the_status(dd: OrgConnectionsApi) -> None:
    created = dd.create_org_connections(body=create_request(SPOKE_US.id, [OrgConnectionTypeEnum.LOGS]))

    with pytest.raises(ApiException) as conflict:
        dd.create_org_connections(body=create_request(SPOKE_US.id, [OrgConnectionTypeEnum.METRICS]))
    assert conflict.value.status == 409
    assert "already exists" in str(conflict.value.body)

    with pytest.raises(ApiException) as not_found:
        dd.create_org_connections(body=create_request(GLOBEX.id, [OrgConnectionTypeEnum.LOGS]))
    assert not_found.value.status == 404

    with pytest.raises(ApiException) as repeated:
        dd.create_org_connections(
            body=create_request(SPOKE_EU.id, [OrgConnectionTypeEnum.LOGS, OrgConnectionTypeEnum.LOGS])
        )
    assert repeated.value.status == 400

    with pytest.raises(ApiException) as bad_patch:
        dd.update_org_connections(
            connection_id=created.data.id,
            body=update_request(created.data.id, [OrgConnectionTypeEnum.LOGS, OrgConnectionTypeEnum.LOGS]),
        )
    assert bad_patch.value.status == 400

    missing = uuid.uuid4()
    with pytest.raises(ApiException) as gone:
        dd.delete_org_connections(connection_id=missing)
    assert gone.value.status == 404
    assert f"org connection with id:{missing} not found not found" in str(gone.value.body)

    with pytest.raises(ApiException) as gone_patch:
        dd.update_org_connections(
            connection_id=missing, body=update_request(missing, [OrgConnectionTypeEnum.LOGS])
        )
    assert gone_patch.value.status == 404


def test_forbidden_with_a_viewer_key(emu: Emulator) -> None:
    viewer = OrgKeys("hub", HUB.id, HUB.api_key, "c8a967c37920ac3506d7feb31777015f7ef0cb5c", "", "")
    with client_for(emu, viewer) as api_client, pytest.raises(ApiException) as forbidden:
        OrgConnectionsApi(api_client).list_org_connections()  # type: ignore[no-untyped-call]
    assert forbidden.value.status == 403


def test_list_orgs_parses(emu: Emulator) -> None:
    with client_for(emu, HUB) as api_client:
        orgs = OrganizationsApi(api_client).list_orgs()  # type: ignore[no-untyped-call]
    assert str(orgs.data.id) == HUB.id
    assert [o.attributes.name for o in orgs.included] == ["hub", "spoke-eu", "spoke-us", "spoke-ap"]
    assert all(o.attributes.public_id for o in orgs.included)
