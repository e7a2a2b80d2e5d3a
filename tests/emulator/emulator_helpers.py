"""Shared constants and helpers for the emulator tests (ids and keys of the default seed)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

import requests


@dataclass(frozen=True)
class OrgKeys:
    """An org of the default seed with the keys of its admin user."""

    name: str
    id: str
    api_key: str
    app_key: str
    user_id: str
    user_name: str

    def headers(self) -> dict[str, str]:
        """Auth headers for this org's admin."""
        return {"DD-API-KEY": self.api_key, "DD-APPLICATION-KEY": self.app_key}


HUB = OrgKeys(
    "hub",
    "a1b10001-7f97-11f0-8de1-1ecf66f1aa85",
    "8604b8a0fe78fb6a370a782f1070587b",
    "bce6c4d733d3863fa5babf879f3b9b9ff2203182",
    "a1b10001-0000-4000-8000-00000000c0de",
    "admin@hub.acme.test",
)
SPOKE_EU = OrgKeys(
    "spoke-eu",
    "a1b10002-7f97-11f0-8de1-1ecf66f1aa85",
    "71271a41741de6abbff00818b15e98c5",
    "5a80e05288203eb86bcd5828c369d04c6566a8a7",
    "a1b10002-0000-4000-8000-00000000c0de",
    "admin@spoke-eu.acme.test",
)
SPOKE_US = OrgKeys(
    "spoke-us",
    "a1b10003-7f97-11f0-8de1-1ecf66f1aa85",
    "84d3042d914ead37116087ee09a96d1b",
    "3aaa45f416a68bed93116cfc8dd27125ae76d1fe",
    "a1b10003-0000-4000-8000-00000000c0de",
    "admin@spoke-us.acme.test",
)
SPOKE_AP = OrgKeys(
    "spoke-ap",
    "a1b10004-7f97-11f0-8de1-1ecf66f1aa85",
    "f17b9c7d24e3145d106a99a4869175df",
    "e6ca51557ed5dcdba5ed9084cfc212230448b007",
    "a1b10004-0000-4000-8000-00000000c0de",
    "admin@spoke-ap.acme.test",
)
GLOBEX = OrgKeys(
    "globex-main",
    "b2c20001-7f97-11f0-8de1-1ecf66f1aa85",
    "8822661f35ac8162b30bbe9338b63b46",
    "f05f0cd3b5323e69cd0c2739d60f3581d2496dc1",
    "b2c20001-0000-4000-8000-00000000c0de",
    "admin@globex.test",
)
HUB_VIEWER_APP_KEY = "c8a967c37920ac3506d7feb31777015f7ef0cb5c"
ACME = (HUB, SPOKE_EU, SPOKE_US, SPOKE_AP)

CONNECTIONS = "/api/v2/org_connections"
RATE_LIMIT_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Period",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Name",
)


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

    def __init__(self, base_url: str, org: OrgKeys, session: requests.Session | None = None) -> None:
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

    def create(self, sink: OrgKeys | str, types: builtins.list[str] | None = None) -> requests.Response:
        """POST a connection to ``sink``."""
        sink_id = sink.id if isinstance(sink, OrgKeys) else sink
        return self.request("POST", CONNECTIONS, json=create_body(sink_id, types))

    def patch(self, conn_id: str, types: builtins.list[str]) -> requests.Response:
        """PATCH a connection's types."""
        return self.request("PATCH", f"{CONNECTIONS}/{conn_id}", json=patch_body(conn_id, types))

    def delete(self, conn_id: str) -> requests.Response:
        """DELETE a connection."""
        return self.request("DELETE", f"{CONNECTIONS}/{conn_id}")
