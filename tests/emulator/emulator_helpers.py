"""Shared helpers for the emulator tests; ids and keys of the default seed come from ``support.seed``."""

from __future__ import annotations

import builtins
import re
from typing import Any

import requests

from support.seed import ACME, GLOBEX, HUB, HUB_VIEWER_APP_KEY, SPOKE_AP, SPOKE_EU, SPOKE_US, Org

__all__ = [
    "ACME",
    "CONNECTIONS",
    "GLOBEX",
    "HUB",
    "HUB_VIEWER_APP_KEY",
    "RATE_LIMIT_HEADERS",
    "SPOKE_AP",
    "SPOKE_EU",
    "SPOKE_US",
    "TIMESTAMP",
    "Api",
    "Org",
    "assert_errors",
    "assert_json",
    "create_body",
    "patch_body",
]


CONNECTIONS = "/api/v2/org_connections"
RATE_LIMIT_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Period",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Name",
)
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
"""A timestamp as the API formats it: RFC 3339, microseconds, ``+00:00``."""


def assert_json(response: requests.Response, status: int) -> object:
    """The decoded JSON of an API answer with ``status``, JSON content type and rate-limit headers."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    for header in RATE_LIMIT_HEADERS:
        assert header in response.headers, header
    return response.json()


def assert_errors(response: requests.Response, status: int, *messages: str) -> None:
    """An error answer ``{"errors": [...]}`` with ``status`` (and exactly ``messages``, if given)."""
    body = assert_json(response, status)
    assert isinstance(body, dict)
    assert set(body) == {"errors"}
    if messages:
        assert body["errors"] == list(messages)
    else:
        assert body["errors"] and all(isinstance(m, str) for m in body["errors"])


def create_body(sink_id: str, types: list[str] | None = None) -> dict[str, Any]:
    """A create request body."""
    return {
        "data": {
            "type": "org_connection",
            "attributes": {"connection_types": types if types is not None else ["logs"]},
            "relationships": {"sink_org": {"data": {"type": "orgs", "id": sink_id}}},
        }
    }


def patch_body(conn_id: str, types: list[str]) -> dict[str, Any]:
    """An update request body."""
    return {"data": {"type": "org_connection", "id": conn_id, "attributes": {"connection_types": types}}}


class Api:
    """Plain ``requests`` calls to the emulator as one org."""

    def __init__(self, base_url: str, org: Org, session: requests.Session | None = None) -> None:
        self.base_url = base_url
        self.org = org
        self.session = session or requests.Session()

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Any request, with this org's keys unless headers are given."""
        kwargs.setdefault("headers", self.org.headers())
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.base_url + path, **kwargs)

    def list(self, **params: Any) -> requests.Response:
        """GET the connections list."""
        return self.request("GET", CONNECTIONS, params=params)

    def create(self, sink: Org | str, types: builtins.list[str] | None = None) -> requests.Response:
        """POST a connection to ``sink``."""
        sink_id = sink.id if isinstance(sink, Org) else sink
        return self.request("POST", CONNECTIONS, json=create_body(sink_id, types))

    def patch(self, conn_id: str, types: builtins.list[str]) -> requests.Response:
        """PATCH a connection's types."""
        return self.request("PATCH", f"{CONNECTIONS}/{conn_id}", json=patch_body(conn_id, types))

    def delete(self, conn_id: str) -> requests.Response:
        """DELETE a connection."""
        return self.request("DELETE", f"{CONNECTIONS}/{conn_id}")
