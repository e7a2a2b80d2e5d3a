"""Datadog's own published client (``datadog-api-client``), pointed at the emulator.

Strict type checking stays on (the client's default ``check_return_type=True``), and
:class:`RecordingApiClient` keeps the raw body of the last answer so :func:`assert_fully_parsed`
can prove that every field the emulator sent has a place in the client's models.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

from datadog_api_client import ApiClient, Configuration
from datadog_api_client.model_utils import ModelComposed, ModelNormal, ModelSimple, OpenApiModel
from datadog_api_client.v2.api.org_connections_api import OrgConnectionsApi
from datadog_api_client.v2.api.organizations_api import OrganizationsApi
from datadog_api_client.v2.api.users_api import UsersApi
from datadog_api_client.v2.model.org_connection_create import OrgConnectionCreate
from datadog_api_client.v2.model.org_connection_create_attributes import OrgConnectionCreateAttributes
from datadog_api_client.v2.model.org_connection_create_relationships import (
    OrgConnectionCreateRelationships,
)
from datadog_api_client.v2.model.org_connection_create_request import OrgConnectionCreateRequest
from datadog_api_client.v2.model.org_connection_org_relationship import OrgConnectionOrgRelationship
from datadog_api_client.v2.model.org_connection_org_relationship_data import (
    OrgConnectionOrgRelationshipData,
)
from datadog_api_client.v2.model.org_connection_org_relationship_data_type import (
    OrgConnectionOrgRelationshipDataType,
)
from datadog_api_client.v2.model.org_connection_type import OrgConnectionType
from datadog_api_client.v2.model.org_connection_type_enum import OrgConnectionTypeEnum
from datadog_api_client.v2.model.org_connection_update import OrgConnectionUpdate
from datadog_api_client.v2.model.org_connection_update_attributes import OrgConnectionUpdateAttributes
from datadog_api_client.v2.model.org_connection_update_request import OrgConnectionUpdateRequest

from support.seed import Org

LOGS, METRICS, AUDIT = OrgConnectionTypeEnum.LOGS, OrgConnectionTypeEnum.METRICS, OrgConnectionTypeEnum.AUDIT

LIST_UNDOCUMENTED = ("included",)
"""Top-level members of the list answer recorded from the real service that the client's
``OrgConnectionListResponse`` does not declare: it keeps them, untyped, and checks nothing in them."""


class RecordingApiClient(ApiClient):  # type: ignore[misc]
    """An ``ApiClient`` that keeps the raw body of the last answer it deserialized."""

    last_body: Any = None

    def deserialize(self, response_data: str, response_type: Any, check_type: bool | None) -> Any:
        """Record the raw JSON, then deserialize as the client always does (strictly)."""
        self.last_body = json.loads(response_data) if response_data else None
        return super().deserialize(response_data, response_type, check_type)


class Peer:
    """The three APIs of ``datadog-api-client`` the project calls, as one org's user."""

    def __init__(self, client: RecordingApiClient) -> None:
        self.client = client
        self.connections = OrgConnectionsApi(client)
        self.orgs = OrganizationsApi(client)
        self.users = UsersApi(client)

    @property
    def last_body(self) -> Any:
        """The raw JSON of the last answer deserialized."""
        return self.client.last_body


@contextmanager
def peer(url: str, org: Org, app_key: str | None = None, *, check_input_type: bool = True) -> Iterator[Peer]:
    """A :class:`Peer` with ``org``'s API key and its admin's (or ``app_key``'s) application key.

    ``check_input_type=False`` only lets a test *send* what the client would refuse to (a
    malformed connection id); answers are always type-checked.
    """
    configuration = Configuration(
        host=url,
        api_key={"apiKeyAuth": org.api_key, "appKeyAuth": app_key or org.app_key},
        check_input_type=check_input_type,
    )
    assert configuration.check_return_type is True
    with RecordingApiClient(configuration) as client:
        yield Peer(client)


def create_request(sink_id: str, types: list[OrgConnectionTypeEnum]) -> OrgConnectionCreateRequest:
    """A create body built from the client's own models."""
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
    """An update body built from the client's own models."""
    return OrgConnectionUpdateRequest(
        data=OrgConnectionUpdate(
            id=conn_id if isinstance(conn_id, uuid.UUID) else uuid.UUID(conn_id),
            type=OrgConnectionType.ORG_CONNECTION,
            attributes=OrgConnectionUpdateAttributes(connection_types=types),
        )
    )


def assert_fully_parsed(
    model: Any, raw: Any, where: str = "body", *, undocumented: Collection[str] = ()
) -> None:
    """Every field of ``raw`` (the JSON the emulator sent) landed in a typed field of ``model``.

    Fails on a field the client's model does not declare (it would be kept untyped), on a value
    the client could not parse (``_unparsed``), and on a shape mismatch. ``undocumented`` names
    top-level members the model does not declare on purpose (recorded, not in the spec): each
    must be kept verbatim, and still undeclared (if the client learns one, this fails: type it).
    """
    if undocumented:
        assert isinstance(model, ModelNormal) and isinstance(raw, dict)
        for key in set(undocumented) & set(raw):
            assert key not in model.attribute_map, f"{where}.{key}: now declared by the client"
            assert model.get(key) == raw[key], f"{where}.{key}: not kept verbatim"
        raw = {k: v for k, v in raw.items() if k not in undocumented}
    if isinstance(model, OpenApiModel):
        assert not model._unparsed, f"{where}: the client could not parse {raw!r}"
    if isinstance(model, ModelSimple):  # an enum: its value is the raw string
        assert model.value == raw, f"{where}: {model.value!r} != {raw!r}"
    elif isinstance(model, ModelComposed):  # a oneOf: exactly one of its schemas matched
        matched = [type(m).__name__ for m in model._composed_instances]
        assert len(matched) == 1, f"{where}: matched {matched} of {type(model).__name__}"
        assert_fully_parsed(model.get_oneof_instance(), raw, where)
    elif isinstance(model, ModelNormal):
        assert isinstance(raw, dict), f"{where}: expected an object, got {raw!r}"
        by_json = {json_name: attr for attr, json_name in model.attribute_map.items()}
        for key, value in raw.items():
            assert key in by_json, f"{where}.{key}: not a field of {type(model).__name__}"
            assert_fully_parsed(getattr(model, by_json[key]), value, f"{where}.{key}")
    elif isinstance(model, list):
        assert isinstance(raw, list) and len(raw) == len(model), f"{where}: list mismatch"
        for i, (item, raw_item) in enumerate(zip(model, raw, strict=True)):
            assert_fully_parsed(item, raw_item, f"{where}[{i}]")
    elif isinstance(raw, dict | list):
        raise AssertionError(f"{where}: {raw!r} became an untyped {type(model).__name__}")


def assert_list_parsed(model: Any, raw: Any) -> None:
    """A list answer: fully parsed but for the recorded ``included``, there exactly when
    ``data`` is not empty."""
    assert isinstance(raw, dict)
    assert ("included" in raw) == bool(raw["data"]), "included: present exactly when data is not empty"
    assert_fully_parsed(model, raw, undocumented=LIST_UNDOCUMENTED)
