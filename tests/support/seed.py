"""The orgs and keys of the emulator's default seed, read from the seed file itself."""

from __future__ import annotations

import json
from dataclasses import dataclass

from datadog_org_connections.emulator import DEFAULT_SEED_PATH


@dataclass(frozen=True)
class Org:
    """One org of the default seed, with its admin's keys."""

    name: str
    id: str
    api_key: str
    app_key: str
    account: str

    def headers(self) -> dict[str, str]:
        """Auth headers of this org's admin."""
        return {"DD-API-KEY": self.api_key, "DD-APPLICATION-KEY": self.app_key}

    def config(self, url: str) -> dict[str, str]:
        """Stack config the provider would receive for this org."""
        return {"datadog:apiKey": self.api_key, "datadog:appKey": self.app_key, "datadog:apiUrl": url}


def _load() -> tuple[dict[str, Org], dict[str, str]]:
    with open(DEFAULT_SEED_PATH) as f:
        seed = json.load(f)
    orgs: dict[str, Org] = {}
    app_keys: dict[str, str] = {}  # user name -> its application key
    for account in seed["accounts"]:
        for org in account["orgs"]:
            admin = org["users"][0]
            orgs[org["name"]] = Org(
                org["name"], org["id"], org["api_keys"][0], admin["app_keys"][0], account["name"]
            )
            for user in org["users"]:
                app_keys[user["name"]] = user["app_keys"][0]
    return orgs, app_keys


ORGS, APP_KEYS = _load()
HUB_VIEWER_APP_KEY = APP_KEYS["viewer@hub.acme.test"]
"""A hub user without any org connections permission."""
HUB_READER_APP_KEY = APP_KEYS["ci-reader@hub.acme.test"]
"""A hub user with org_connections_read only (what a pull-request preview in CI holds)."""
HUB_WRITER_APP_KEY = APP_KEYS["connections-bot@hub.acme.test"]
"""A hub user with org_connections_read and org_connections_write (no org_management)."""
SPOKE_EU_READER_APP_KEY = APP_KEYS["ci-reader@spoke-eu.acme.test"]
"""A spoke-eu user with org_connections_read only."""
HUB, SPOKE_EU, SPOKE_US, SPOKE_AP, GLOBEX = (
    ORGS[n] for n in ("hub", "spoke-eu", "spoke-us", "spoke-ap", "globex-main")
)
ALL_KEYS = [o.api_key for o in ORGS.values()] + list(APP_KEYS.values())
