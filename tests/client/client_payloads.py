"""JSON bodies shaped like the org connections API's, for the client tests (not a test module)."""

from __future__ import annotations

import uuid
from typing import Any

API_KEY = "0123456789abcdef0123456789abcdef"
APP_KEY = "fedcba9876543210fedcba9876543210fedcba98"

SOURCE = "83999dcd-7f97-11f0-8de1-1ecf66f1aa85"
SINK = "9a5c0e2e-7f97-11f0-8de1-1ecf66f1aa85"
OTHER = "a1b2c3d4-7f97-11f0-8de1-1ecf66f1aa85"
USER = "5f0c1e2d-0000-4000-8000-000000000001"


def conn_id(n: int) -> str:
    """A stable UUID for connection number ``n``."""
    return str(uuid.UUID(int=n + (1 << 120)))


def resource(
    cid: str,
    *,
    source: str = SOURCE,
    sink: str = SINK,
    types: list[str] | None = None,
) -> dict[str, Any]:
    """One connection as a JSON:API resource object."""
    return {
        "type": "org_connection",
        "id": cid,
        "attributes": {
            "created_at": "2025-08-25T18:13:19.375125+00:00",
            "connection_types": types if types is not None else ["logs"],
        },
        "relationships": {
            "source_org": {"data": {"type": "orgs", "id": source, "name": "Source Org"}},
            "sink_org": {"data": {"type": "orgs", "id": sink, "name": "Sink Org"}},
            "created_by": {"data": {"type": "users", "id": USER, "name": "Ada Admin"}},
        },
    }


def document(cid: str, **kw: Any) -> dict[str, Any]:
    """A single-connection answer (create, update)."""
    return {"data": resource(cid, **kw)}


def page(
    items: list[dict[str, Any]], total: int | None = None, filtered: int | None = None
) -> dict[str, Any]:
    """A list answer."""
    n = len(items)
    return {
        "data": items,
        "meta": {
            "page": {
                "total_count": n if total is None else total,
                "total_filtered_count": n if filtered is None else filtered,
            }
        },
    }


ROLE = "a7e2c9f0-0000-4000-8000-000000000001"
WRITE_PERM = "b8f3d0a1-0000-4000-8000-000000000001"
READ_PERM = "b8f3d0a1-0000-4000-8000-000000000002"


def included_org(org_id: str, name: str) -> dict[str, Any]:
    """An org of a list answer's ``included``, as recorded (null description, url, modified_at)."""
    return {
        "type": "orgs",
        "id": org_id,
        "attributes": {
            "public_id": org_id,
            "name": name,
            "description": None,
            "sharing": "all_private",
            "url": None,
            "disabled": False,
            "created_at": "2025-08-25T18:13:19.375125+00:00",
            "modified_at": None,
        },
    }


def included_user(user_id: str, name: str, service_account: object) -> dict[str, Any]:
    """A creator of a list answer's ``included`` (``service_account`` left out when ``...``)."""
    attrs: dict[str, Any] = {
        "name": name,
        "handle": f"{name.lower().replace(' ', '.')}@example.com",
        "created_at": "2025-08-25T18:13:19.375125+00:00",
        "modified_at": "2025-08-25T18:13:19.375125+00:00",
        "email": f"{name.lower().replace(' ', '.')}@example.com",
        "icon": "https://secure.gravatar.com/avatar/x",
        "title": None,
        "verified": True,
        "disabled": False,
        "allowed_login_methods": [],
        "status": "Active",
    }
    if service_account is not ...:
        attrs["service_account"] = service_account
    return {"type": "users", "id": user_id, "attributes": attrs}


def current_user(
    *,
    service_account: object = False,
    permissions: tuple[str, ...] = ("org_connections_read", "org_connections_write"),
    with_included: bool = True,
) -> dict[str, Any]:
    """A ``UserResponse`` of ``GET /api/v2/current_user``: user USER of org SOURCE, one role."""
    perm_ids = {"org_connections_write": WRITE_PERM, "org_connections_read": READ_PERM}
    attrs: dict[str, Any] = {
        "name": "Ada Admin",
        "handle": "ada@example.com",
        "email": "ada@example.com",
        "status": "Active",
        "disabled": False,
        "verified": True,
        "created_at": "2025-08-25T18:13:19.375125+00:00",
    }
    if service_account is not ...:
        attrs["service_account"] = service_account
    body: dict[str, Any] = {
        "data": {
            "type": "users",
            "id": USER,
            "attributes": attrs,
            "relationships": {
                "org": {"data": {"id": SOURCE, "type": "orgs"}},
                "roles": {"data": [{"id": ROLE, "type": "roles"}]},
            },
        }
    }
    if with_included:
        ids = [perm_ids.get(p, str(uuid.uuid5(uuid.NAMESPACE_URL, p))) for p in permissions]
        body["included"] = [
            included_org(SOURCE, "Source Org"),
            {
                "type": "roles",
                "id": ROLE,
                "attributes": {"name": "Connections Admin"},
                "relationships": {"permissions": {"data": [{"id": i, "type": "permissions"} for i in ids]}},
            },
            *(
                {"type": "permissions", "id": i, "attributes": {"name": p}}
                for i, p in zip(ids, permissions, strict=True)
            ),
        ]
    return body
