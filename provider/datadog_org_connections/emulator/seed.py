"""Seed files: the accounts, orgs, keys, users and initial connections the emulator starts with.

A seed is JSON::

    {"accounts": [{"name": "acme", "orgs": [{"id": "<uuid>", "name": "hub",
        "api_keys": ["..."],
        "users": [{"id": "<uuid>", "name": "admin@hub", "app_keys": ["..."],
                   "permissions": ["org_management"], "service_account": false}]}]}],
     "connections": [{"source": "hub", "sink": "spoke-eu", "connection_types": ["logs"]}]}

Ids are optional. Missing ids are derived deterministically from the account, org and user
names (org ids look like version-1 UUIDs, user ids like version-4 UUIDs), so they stay the same
from one start to the next and a ``--state`` file keeps matching the seed.
Every problem is reported as a :class:`SeedError` naming the offending field.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .failures import NON_ENTERPRISE_MAX_SINKS

DEFAULT_SEED_PATH: Path = Path(__file__).with_name("default_seed.json")
"""The seed used when none is given: ``acme`` (hub + three spokes), ``globex`` and ``initech``."""

CONNECTION_TYPES: tuple[str, ...] = ("logs", "metrics", "audit")
"""The values a connection's ``connection_types`` may hold."""

ORG_MANAGEMENT = "org_management"
"""The older permission: grants everything the two below grant."""

ORG_CONNECTIONS_READ = "org_connections_read"
"""Needed to list connections (``GET /api/v2/org_connections``)."""

ORG_CONNECTIONS_WRITE = "org_connections_write"
"""Needed to create, update and delete connections, and to list managed orgs (``GET /api/v2/org``)."""

DEFAULT_SITE = "datadoghq.com"
"""The site of an org whose seed entry names none."""

_ID_NAMESPACE = uuid.UUID("5b0c1f8e-3c1e-4e47-9a55-6f1d8d2a0c11")

_ACCOUNT_KEYS = frozenset({"name", "orgs", "description", "parent"})
_ORG_KEYS = frozenset(
    {"id", "name", "public_id", "description", "created", "api_keys", "users", "site", "enterprise"}
)
_USER_KEYS = frozenset({"id", "name", "email", "app_keys", "permissions", "service_account"})
_CONNECTION_KEYS = frozenset({"id", "source", "sink", "connection_types", "created_at", "created_by"})
_TOP_KEYS = frozenset({"accounts", "connections"})


class SeedError(ValueError):
    """A seed file is unreadable or invalid; the message names the file and the field."""


@dataclass(frozen=True)
class User:
    """A user of an org, owning application keys: a person, or a service account."""

    id: str
    name: str
    app_keys: tuple[str, ...]
    permissions: tuple[str, ...]
    service_account: bool = False
    email: str = ""

    @property
    def handle(self) -> str:
        """The user's handle (``current_user``'s ``handle`` and ``email``): the seed's ``email``,
        else the name."""
        return self.email or self.name

    @property
    def can_manage_orgs(self) -> bool:
        """Whether the user holds the ``org_management`` permission."""
        return ORG_MANAGEMENT in self.permissions

    @property
    def can_read_connections(self) -> bool:
        """``org_connections_read`` (or ``org_management``): may list connections."""
        return self.can_manage_orgs or ORG_CONNECTIONS_READ in self.permissions

    @property
    def can_write_connections(self) -> bool:
        """``org_connections_write`` (or ``org_management``): may create, update, delete connections."""
        return self.can_manage_orgs or ORG_CONNECTIONS_WRITE in self.permissions


@dataclass(frozen=True)
class Org:
    """An organization: belongs to one account, owns API keys and users."""

    id: str
    name: str
    account: str
    public_id: str
    description: str
    created: str
    api_keys: tuple[str, ...]
    users: tuple[User, ...]
    site: str = DEFAULT_SITE
    enterprise: bool = True

    def user(self, ref: str) -> User | None:
        """The user of this org whose id or name is ``ref``."""
        for user in self.users:
            if ref in (user.id, user.name):
                return user
        return None

    def default_creator(self) -> User | None:
        """The user credited with connections created out of band: the first who may write them."""
        for user in self.users:
            if user.can_write_connections:
                return user
        return self.users[0] if self.users else None


@dataclass(frozen=True)
class Account:
    """A Datadog account: a parent org and its child orgs, which may connect to one another."""

    name: str
    orgs: tuple[Org, ...]
    parent_id: str | None = None

    @property
    def parent(self) -> Org | None:
        """The account's parent org (the seed's ``parent``, else its first org)."""
        for org in self.orgs:
            if org.id == self.parent_id:
                return org
        return self.orgs[0] if self.orgs else None


@dataclass(frozen=True)
class SeedConnection:
    """A connection present from the start (already resolved to org and user ids)."""

    source_org_id: str
    sink_org_id: str
    connection_types: tuple[str, ...]
    id: str | None = None
    created_at: str | None = None
    created_by_user_id: str | None = None


class Seed:
    """A validated seed with lookup indexes by org id, org name, API key and application key."""

    def __init__(self, accounts: Sequence[Account], connections: Sequence[SeedConnection] = ()) -> None:
        self.accounts: tuple[Account, ...] = tuple(accounts)
        self.connections: tuple[SeedConnection, ...] = tuple(connections)
        self.orgs_by_id: dict[str, Org] = {}
        self.orgs_by_name: dict[str, Org] = {}
        self.org_by_api_key: dict[str, Org] = {}
        self.user_by_app_key: dict[str, tuple[Org, User]] = {}
        for account in self.accounts:
            for org in account.orgs:
                self.orgs_by_id[org.id] = org
                self.orgs_by_name[org.name] = org
                for key in org.api_keys:
                    self.org_by_api_key[key] = org
                for user in org.users:
                    for key in user.app_keys:
                        self.user_by_app_key[key] = (org, user)

    @property
    def orgs(self) -> list[Org]:
        """Every org of every account, in seed order."""
        return [org for account in self.accounts for org in account.orgs]

    def resolve_org(self, ref: str) -> Org | None:
        """The org whose id (case-insensitive) or name is ``ref``."""
        org = self.orgs_by_id.get(ref.lower()) if isinstance(ref, str) else None
        return org if org is not None else self.orgs_by_name.get(ref)

    def account_orgs(self, org: Org) -> list[Org]:
        """The orgs of ``org``'s account, ``org`` first."""
        account = self.account_of(org)
        if account is None:
            return [org]
        return [org, *[o for o in account.orgs if o.id != org.id]]

    def account_of(self, org: Org) -> Account | None:
        """The account ``org`` belongs to."""
        for account in self.accounts:
            if account.name == org.account:
                return account
        return None

    def managed_orgs(self, org: Org) -> list[Org]:
        """The orgs ``org``'s keys manage besides itself: a parent's children; none for a child."""
        account = self.account_of(org)
        if account is None or account.parent is None or account.parent.id != org.id:
            return []
        return [o for o in account.orgs if o.id != org.id]


def derived_id(version: int, *parts: str) -> str:
    """A stable UUID of the given version derived from ``parts`` (used for missing seed ids)."""
    digest = uuid.uuid5(_ID_NAMESPACE, "/".join(parts)).bytes
    return str(uuid.UUID(bytes=digest, version=version))


def normalize_timestamp(value: str) -> str:
    """Parse an ISO 8601 timestamp and format it like the API: microseconds and ``+00:00``."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).isoformat(timespec="microseconds")


def load_seed(path: str | Path | None = None) -> Seed:
    """Read and validate a seed file (``None``: :data:`DEFAULT_SEED_PATH`)."""
    seed_path = Path(path) if path is not None else DEFAULT_SEED_PATH
    try:
        text = seed_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SeedError(f"{seed_path}: cannot read seed file: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SeedError(f"{seed_path}: not valid JSON: {exc}") from exc
    return parse_seed(data, source=str(seed_path))


def parse_seed(data: object, source: str = "<seed>") -> Seed:
    """Validate seed data already decoded from JSON and build a :class:`Seed`."""
    return _SeedParser(source).parse(data)


class _SeedParser:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> SeedError:
        return SeedError(f"{self.source}: {where}: {message}")

    def mapping(self, value: object, where: str, allowed: frozenset[str]) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object, got {type(value).__name__}")
        for key in value:
            if key not in allowed and not str(key).startswith("_"):
                raise self.fail(f"{where}.{key}", f"unknown field (allowed: {', '.join(sorted(allowed))})")
        return value

    def listing(self, value: object, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list, got {type(value).__name__}")
        return value

    def text(self, value: object, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"expected a non-empty string, got {value!r}")
        return value

    def strings(self, value: object, where: str) -> tuple[str, ...]:
        return tuple(self.text(item, f"{where}[{i}]") for i, item in enumerate(self.listing(value, where)))

    def uuid_text(self, value: object, where: str) -> str:
        text = self.text(value, where)
        try:
            return str(uuid.UUID(text))
        except ValueError:
            raise self.fail(where, f"expected a UUID, got {text!r}") from None

    def parse(self, data: object) -> Seed:
        top = self.mapping(data, "(top level)", _TOP_KEYS)
        if "accounts" not in top:
            raise self.fail("accounts", "required field is missing")
        accounts_raw = self.listing(top["accounts"], "accounts")
        if not accounts_raw:
            raise self.fail("accounts", "at least one account is required")
        accounts = [self.account(raw, f"accounts[{i}]") for i, raw in enumerate(accounts_raw)]
        self.check_unique(accounts)
        accounts = [self.resolve_parent(a, f"accounts[{i}]") for i, a in enumerate(accounts)]
        partial = Seed(accounts)
        connections_raw = self.listing(top.get("connections", []), "connections")
        connections: list[SeedConnection] = []
        pairs: set[tuple[str, str]] = set()
        ids: set[str] = set()
        for i, raw in enumerate(connections_raw):
            conn = self.connection(raw, f"connections[{i}]", partial)
            if (conn.source_org_id, conn.sink_org_id) in pairs:
                raise self.fail(f"connections[{i}]", "a connection between these orgs is already seeded")
            pairs.add((conn.source_org_id, conn.sink_org_id))
            if conn.id is not None:
                if conn.id in ids:
                    raise self.fail(f"connections[{i}].id", f"duplicate connection id {conn.id}")
                ids.add(conn.id)
            connections.append(conn)
        self.check_sink_limit(connections, partial)
        return Seed(accounts, connections)

    def check_sink_limit(self, connections: Sequence[SeedConnection], seed: Seed) -> None:
        """A non-Enterprise org may be the source of at most :data:`NON_ENTERPRISE_MAX_SINKS`."""
        counts: dict[str, int] = {}
        for i, conn in enumerate(connections):
            source = seed.orgs_by_id[conn.source_org_id]
            counts[source.id] = counts.get(source.id, 0) + 1
            if not source.enterprise and counts[source.id] > NON_ENTERPRISE_MAX_SINKS:
                raise self.fail(
                    f"connections[{i}]",
                    f"org {source.name!r} is not on an Enterprise plan: "
                    f"it may share with at most {NON_ENTERPRISE_MAX_SINKS} orgs",
                )

    def account(self, raw: object, where: str) -> Account:
        data = self.mapping(raw, where, _ACCOUNT_KEYS)
        if "name" not in data:
            raise self.fail(f"{where}.name", "required field is missing")
        name = self.text(data["name"], f"{where}.name")
        orgs_raw = self.listing(data.get("orgs", []), f"{where}.orgs")
        orgs = tuple(self.org(item, f"{where}.orgs[{i}]", name) for i, item in enumerate(orgs_raw))
        parent = self.text(data["parent"], f"{where}.parent") if "parent" in data else None
        return Account(name=name, orgs=orgs, parent_id=parent)

    def resolve_parent(self, account: Account, where: str) -> Account:
        """The account with its ``parent`` reference (an org name or id) resolved to the org id."""
        ref = account.parent_id
        if ref is None:
            return account
        match = [o for o in account.orgs if ref in (o.name, o.id) or ref.lower() == o.id]
        if not match:
            raise self.fail(f"{where}.parent", f"no org with id or name {ref!r} in account {account.name!r}")
        return replace(account, parent_id=match[0].id)

    def org(self, raw: object, where: str, account: str) -> Org:
        data = self.mapping(raw, where, _ORG_KEYS)
        if "name" not in data:
            raise self.fail(f"{where}.name", "required field is missing")
        name = self.text(data["name"], f"{where}.name")
        org_id = (
            self.uuid_text(data["id"], f"{where}.id") if "id" in data else derived_id(1, "org", account, name)
        )
        public_id = (
            self.text(data["public_id"], f"{where}.public_id")
            if "public_id" in data
            else hashlib.sha256(org_id.encode()).hexdigest()[:12]
        )
        description = str(data.get("description", ""))
        created = (
            self.text(data["created"], f"{where}.created") if "created" in data else "2025-01-01 00:00:00"
        )
        api_keys = self.strings(data.get("api_keys", []), f"{where}.api_keys")
        users_raw = self.listing(data.get("users", []), f"{where}.users")
        users = tuple(self.user(item, f"{where}.users[{i}]", org_id) for i, item in enumerate(users_raw))
        site = self.text(data["site"], f"{where}.site").strip().lower() if "site" in data else DEFAULT_SITE
        enterprise = data.get("enterprise", True)
        if not isinstance(enterprise, bool):
            raise self.fail(f"{where}.enterprise", f"expected true or false, got {enterprise!r}")
        return Org(
            id=org_id,
            name=name,
            account=account,
            public_id=public_id,
            description=description,
            created=created,
            api_keys=api_keys,
            users=users,
            site=site,
            enterprise=enterprise,
        )

    def user(self, raw: object, where: str, org_id: str) -> User:
        data = self.mapping(raw, where, _USER_KEYS)
        if "name" not in data:
            raise self.fail(f"{where}.name", "required field is missing")
        name = self.text(data["name"], f"{where}.name")
        user_id = (
            self.uuid_text(data["id"], f"{where}.id") if "id" in data else derived_id(4, "user", org_id, name)
        )
        service_account = data.get("service_account", False)
        if not isinstance(service_account, bool):
            raise self.fail(f"{where}.service_account", f"expected true or false, got {service_account!r}")
        return User(
            id=user_id,
            name=name,
            app_keys=self.strings(data.get("app_keys", []), f"{where}.app_keys"),
            permissions=self.strings(data.get("permissions", []), f"{where}.permissions"),
            service_account=service_account,
            email=self.text(data["email"], f"{where}.email") if "email" in data else "",
        )

    def check_unique(self, accounts: Iterable[Account]) -> None:
        seen: dict[str, dict[str, str]] = {
            "account name": {},
            "org id": {},
            "org name": {},
            "API key": {},
            "user id": {},
            "application key": {},
        }

        def claim(kind: str, value: str, where: str) -> None:
            previous = seen[kind].get(value)
            if previous is not None:
                raise self.fail(where, f"duplicate {kind} {value!r} (already used at {previous})")
            seen[kind][value] = where

        for a, account in enumerate(accounts):
            claim("account name", account.name, f"accounts[{a}].name")
            for o, org in enumerate(account.orgs):
                where = f"accounts[{a}].orgs[{o}]"
                claim("org id", org.id, f"{where}.id")
                claim("org name", org.name, f"{where}.name")
                for k, key in enumerate(org.api_keys):
                    claim("API key", key, f"{where}.api_keys[{k}]")
                for u, user in enumerate(org.users):
                    claim("user id", user.id, f"{where}.users[{u}].id")
                    for k, key in enumerate(user.app_keys):
                        claim("application key", key, f"{where}.users[{u}].app_keys[{k}]")

    def connection(self, raw: object, where: str, seed: Seed) -> SeedConnection:
        data = self.mapping(raw, where, _CONNECTION_KEYS)
        for field in ("source", "sink", "connection_types"):
            if field not in data:
                raise self.fail(f"{where}.{field}", "required field is missing")
        source = seed.resolve_org(self.text(data["source"], f"{where}.source"))
        if source is None:
            raise self.fail(f"{where}.source", f"no org with id or name {data['source']!r}")
        sink = seed.resolve_org(self.text(data["sink"], f"{where}.sink"))
        if sink is None:
            raise self.fail(f"{where}.sink", f"no org with id or name {data['sink']!r}")
        if source.id == sink.id:
            raise self.fail(f"{where}.sink", "an org cannot connect to itself")
        if source.account != sink.account:
            raise self.fail(
                f"{where}.sink", f"org {sink.name!r} is in account {sink.account!r}, not {source.account!r}"
            )
        if source.site != sink.site:
            raise self.fail(
                f"{where}.sink", f"org {sink.name!r} is on site {sink.site!r}, not {source.site!r}"
            )
        types = self.strings(data["connection_types"], f"{where}.connection_types")
        if not types:
            raise self.fail(f"{where}.connection_types", "at least one connection type is required")
        for i, kind in enumerate(types):
            if kind not in CONNECTION_TYPES:
                raise self.fail(
                    f"{where}.connection_types[{i}]",
                    f"unknown type {kind!r} (expected one of {', '.join(CONNECTION_TYPES)})",
                )
        if len(set(types)) != len(types):
            raise self.fail(f"{where}.connection_types", "values must be distinct")
        conn_id = self.uuid_text(data["id"], f"{where}.id") if "id" in data else None
        created_at: str | None = None
        if "created_at" in data:
            text = self.text(data["created_at"], f"{where}.created_at")
            try:
                created_at = normalize_timestamp(text)
            except ValueError:
                raise self.fail(
                    f"{where}.created_at", f"expected an ISO 8601 timestamp, got {text!r}"
                ) from None
        created_by: str | None = None
        if "created_by" in data:
            ref = self.text(data["created_by"], f"{where}.created_by")
            user = source.user(ref)
            if user is None:
                raise self.fail(f"{where}.created_by", f"no user {ref!r} in source org {source.name!r}")
            created_by = user.id
        return SeedConnection(
            source_org_id=source.id,
            sink_org_id=sink.id,
            connection_types=types,
            id=conn_id,
            created_at=created_at,
            created_by_user_id=created_by,
        )
