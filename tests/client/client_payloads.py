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
