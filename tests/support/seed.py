"""The orgs, users and keys of the emulator's default seed, read from the seed file itself.

The one place tests (and benchmarks) read the default seed from: nothing else copies its ids or keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from datadog_org_connections.emulator import DEFAULT_SEED_PATH


@dataclass(frozen=True)
class User:
    """A user of the default seed."""

    name: str
    id: str
    app_key: str
    org: str
    permissions: tuple[str, ...]


@dataclass(frozen=True)
class Org:
    """One org of the default seed, with its admin's keys (the first user of the org)."""

    name: str
    id: str
    api_key: str
    app_key: str
    account: str
    user_id: str = ""
    user_name: str = ""
    site: str = "datadoghq.com"
    enterprise: bool = True

    def headers(self, app_key: str | None = None) -> dict[str, str]:
        """Auth headers of this org's admin (or of the user owning ``app_key``)."""
        return {"DD-API-KEY": self.api_key, "DD-APPLICATION-KEY": app_key or self.app_key}

    def config(self, url: str) -> dict[str, str]:
        """Stack config the provider would receive for this org."""
        return {"datadog:apiKey": self.api_key, "datadog:appKey": self.app_key, "datadog:apiUrl": url}

    def as_user(self, user: User) -> Org:
        """The same org with ``user``'s application key."""
        return Org(
            self.name,
            self.id,
            self.api_key,
            user.app_key,
            self.account,
            user.id,
            user.name,
            self.site,
            self.enterprise,
        )


def _load() -> tuple[dict[str, Org], dict[str, User]]:
    with open(DEFAULT_SEED_PATH) as f:
        seed = json.load(f)
    orgs: dict[str, Org] = {}
    users: dict[str, User] = {}
    for account in seed["accounts"]:
        for org in account["orgs"]:
            admin = org["users"][0]
            orgs[org["name"]] = Org(
                org["name"],
                org["id"],
                org["api_keys"][0],
                admin["app_keys"][0],
                account["name"],
                admin["id"],
                admin["name"],
                org.get("site", "datadoghq.com"),
                org.get("enterprise", True),
            )
            for user in org["users"]:
                users[user["name"]] = User(
                    user["name"], user["id"], user["app_keys"][0], org["name"], tuple(user["permissions"])
                )
    return orgs, users


ORGS, USERS = _load()
APP_KEYS = {name: user.app_key for name, user in USERS.items()}
"""User name -> its application key."""
HUB_VIEWER_APP_KEY = APP_KEYS["viewer@hub.acme.test"]
"""A hub user without any org connections permission."""
HUB_READER_APP_KEY = APP_KEYS["ci-reader@hub.acme.test"]
"""A hub user with org_connections_read only (what a pull-request preview in CI holds)."""
HUB_WRITER_APP_KEY = APP_KEYS["connections-bot@hub.acme.test"]
"""A hub user with org_connections_read and org_connections_write (no org_management)."""
SPOKE_EU_READER_APP_KEY = APP_KEYS["ci-reader@spoke-eu.acme.test"]
"""A spoke-eu user with org_connections_read only."""
SPOKE_EU_ENGINEER = USERS["engineer@spoke-eu.acme.test"]
"""A person in spoke-eu with org_connections_read and _write: not the org's only writer (the admin
is another), so deactivating them leaves a key that can recreate what they made."""
HUB, SPOKE_EU, SPOKE_US, SPOKE_AP, GLOBEX = (
    ORGS[n] for n in ("hub", "spoke-eu", "spoke-us", "spoke-ap", "globex-main")
)
INITECH = ORGS["initech"]
"""The parent org of account initech: not on an Enterprise plan (may share with at most 5 orgs)."""
INITECH_SINKS = tuple(ORGS[f"initech-{i}"] for i in range(1, 7))
"""Six orgs of account initech on INITECH's site: the sixth connection from INITECH is refused."""
INITECH_EU = ORGS["initech-eu"]
"""An org of account initech on another Datadog site (datadoghq.eu): refused as a sink (404)."""
ACME = (HUB, SPOKE_EU, SPOKE_US, SPOKE_AP)
ALL_KEYS = [o.api_key for o in ORGS.values()] + list(APP_KEYS.values())
