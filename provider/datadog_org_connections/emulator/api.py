"""The API operations (`/api/v2/org_connections`, `/api/v2/org`, `/api/v2/current_user`, `/api/v1/org`),
apart from HTTP plumbing.

Each operation takes the authenticated caller, the query and the raw body, and returns
``(status, json_body)`` or raises :class:`~.failures.ApiFailure`. Texts and shapes recorded from
the real service are reproduced verbatim (the list's ``included``, the PATCH answer without
names); for the inferred 400 cases the first error string is ``Validation failed for input.`` and
a second one says what is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .failures import (
    MSG_BAD_UUID,
    ApiFailure,
    invalid,
    msg_connection_not_found,
    msg_not_allowed,
    msg_update_not_found,
)
from .resources import current_user_document, list_included, managed_org_resource
from .seed import Org, User, normalize_timestamp
from .store import Store, check_connection_types, parse_uuid

DEFAULT_LIMIT = 1000
DEFAULT_OFFSET = 0

Result = tuple[int, Any]


@dataclass(frozen=True)
class Caller:
    """The org (and user) the request's keys belong to."""

    org: Org
    user: User


def parse_json_body(body: bytes) -> object:
    """Decode a request body; malformed JSON is a 400."""
    if not body.strip():
        raise invalid("request body is empty")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise invalid("request body is not valid JSON") from None


def _member(container: object, name: str, where: str, kind: type = dict) -> Any:
    if not isinstance(container, Mapping):
        raise invalid(f"{where}: expected an object")
    if name not in container or container[name] is None:
        raise invalid(f"{where}.{name}: required field is missing")
    value = container[name]
    if not isinstance(value, kind):
        raise invalid(f"{where}.{name}: expected {'an object' if kind is dict else kind.__name__}")
    return value


def _query_int(query: Mapping[str, list[str]], name: str, default: int, minimum: int) -> int:
    values = query.get(name)
    if not values:
        return default
    text = values[0].strip()
    try:
        value = int(text)
    except ValueError:
        raise invalid(f"{name}: expected an integer, got {values[0]!r}") from None
    if value < minimum:
        raise invalid(f"{name}: must be at least {minimum}, got {value}")
    return value


def _query_str(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if not values or values[0] == "":
        return None
    return parse_uuid(values[0]) or values[0]


class OrgConnectionsApi:
    """The org connections endpoints over a :class:`~.store.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def list(self, caller: Caller, query: Mapping[str, list[str]]) -> Result:
        """``GET /api/v2/org_connections``; with the recorded top-level ``included`` when not empty."""
        limit = _query_int(query, "limit", DEFAULT_LIMIT, 1)
        offset = _query_int(query, "offset", DEFAULT_OFFSET, 0)
        page = self.store.list_for(
            caller.org.id,
            source_org_id=_query_str(query, "source_org_id"),
            sink_org_id=_query_str(query, "sink_org_id"),
            limit=limit,
            offset=offset,
        )
        counts = {"total_count": page.total_count, "total_filtered_count": page.total_filtered_count}
        body: dict[str, Any] = {"data": self.store.render_many(page.connections), "meta": {"page": counts}}
        if page.connections:
            body["included"] = list_included(self.store.seed, page.connections)
        return 200, body

    def create(self, caller: Caller, body: bytes) -> Result:
        """``POST /api/v2/org_connections`` (200 with the new connection)."""
        document = parse_json_body(body)
        data = _member(document, "data", "body")
        if data.get("type") != "org_connection":
            raise invalid(f"data.type: expected 'org_connection', got {data.get('type')!r}")
        attributes = _member(data, "attributes", "data")
        raw_types = _member(attributes, "connection_types", "data.attributes", list)
        relationships = _member(data, "relationships", "data")
        sink_rel = _member(relationships, "sink_org", "data.relationships")
        sink_data = _member(sink_rel, "data", "data.relationships.sink_org")
        if sink_data.get("type") != "orgs":
            raise invalid(
                f"data.relationships.sink_org.data.type: expected 'orgs', got {sink_data.get('type')!r}"
            )
        sink_raw = _member(sink_data, "id", "data.relationships.sink_org.data", str)
        sink_id = parse_uuid(sink_raw) or sink_raw
        try:
            types = check_connection_types(raw_types)
        except ValueError as exc:
            raise invalid(f"data.attributes.{exc}") from None
        if len(set(types)) != len(types):
            raise ApiFailure(400, msg_not_allowed(caller.org.id, sink_id))
        conn = self.store.create(caller.org.id, sink_id, types, caller.user.id)
        return 200, {"data": self.store.render(conn)}

    def update(self, caller: Caller, raw_id: str, body: bytes) -> Result:
        """``PATCH /api/v2/org_connections/{id}``: only the source org may update.

        As recorded, the answer's relationships carry no ``name``, and an unknown id answers
        ``Org connection with id:<id> not found not found`` (capital O, unlike DELETE's).
        """
        conn_id = parse_uuid(raw_id)
        if conn_id is None:
            raise ApiFailure(400, MSG_BAD_UUID)
        document = parse_json_body(body)
        data = _member(document, "data", "body")
        if data.get("type") != "org_connection":
            raise invalid(f"data.type: expected 'org_connection', got {data.get('type')!r}")
        body_id = _member(data, "id", "data", str)
        if parse_uuid(body_id) != conn_id:
            raise invalid(f"data.id: {body_id!r} does not match the connection id in the path {raw_id!r}")
        attributes = _member(data, "attributes", "data")
        raw_types = _member(attributes, "connection_types", "data.attributes", list)
        try:
            types = check_connection_types(raw_types)
        except ValueError as exc:
            raise invalid(f"data.attributes.{exc}") from None
        try:
            conn = self.store.update(conn_id, types, as_org=caller.org.id)
        except ApiFailure as exc:
            if exc.status == 404:  # name the id as the caller spelled it
                raise ApiFailure(404, msg_update_not_found(raw_id)) from None
            raise
        return 200, {"data": self.store.render(conn, names=False)}

    def delete(self, caller: Caller, raw_id: str) -> Result:
        """``DELETE /api/v2/org_connections/{id}``: from the source or the sink org; 200 ``{}``."""
        conn_id = parse_uuid(raw_id)
        if conn_id is None:
            raise ApiFailure(400, MSG_BAD_UUID)
        try:
            self.store.delete(conn_id, as_org=caller.org.id)
        except ApiFailure as exc:
            if exc.status == 404:  # name the id as the caller spelled it
                raise ApiFailure(404, msg_connection_not_found(raw_id)) from None
            raise
        return 200, {}

    def list_orgs(self, org: Org, query: Mapping[str, Sequence[str]]) -> Result:
        """``GET /api/v2/org`` (``ManagedOrgsResponse``): the current org and the orgs it manages.

        A parent org's keys manage its children; a child's keys manage nothing else (the API
        promises no more). ``filter[name]`` keeps the managed orgs whose name contains the text,
        case-insensitively (inferred: the reference only says "filter by name"); the current org is
        always there. ``included`` holds the current org, then the managed ones.
        """
        wanted = (query.get("filter[name]") or [""])[0].strip().lower()
        managed = [o for o in self.store.seed.managed_orgs(org) if wanted in o.name.lower()]
        return 200, {
            "data": {
                "id": org.id,
                "type": "managed_orgs",
                "relationships": {
                    "current_org": {"data": {"id": org.id, "type": "orgs"}},
                    "managed_orgs": {"data": [{"id": o.id, "type": "orgs"} for o in managed]},
                },
            },
            "included": [managed_org_resource(o) for o in [org, *managed]],
        }

    def current_user(self, caller: Caller) -> Result:
        """``GET /api/v2/current_user`` (``UserResponse``): the user of the application key.

        No permission is needed beyond valid keys (a deactivated user's keys are refused before).
        """
        return 200, current_user_document(caller.org, caller.user)

    def list_orgs_v1(self, org: Org) -> Result:
        """``GET /api/v1/org`` in its published v1 shape: no UUID (do not use it for org ids)."""
        return 200, {
            "orgs": [{"name": org.name, "public_id": org.public_id, "created": _v1_time(org.created)}]
        }


def _v1_time(created: str) -> str:
    """``2019-09-26T17:28:28Z``, the v1 example's form."""
    return normalize_timestamp(created)[:19] + "Z"
