"""Who the keys are: ``GET /api/v2/current_user`` (``UserResponse``) as a :class:`CurrentUser`.

Datadog's API reference: "the user associated with the current authentication context", with the
user's org, roles and the permissions the roles grant; no permission is needed beyond valid keys.
The parser is strict only about what a caller relies on to tell users apart (``data.id``); every
other field is display or advice, read leniently: absent or odd values become ``""`` / ``None``
("unknown"), never an error. In particular :attr:`CurrentUser.permissions` is ``None`` (unknown,
not empty) unless the answer's ``included`` resolves every role of the user to its permissions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .jsonshape import fail, field, flag, obj, string, text

__all__ = [
    "ORG_CONNECTIONS_READ",
    "ORG_CONNECTIONS_WRITE",
    "ORG_MANAGEMENT",
    "CurrentUser",
    "parse_current_user",
]

ORG_CONNECTIONS_READ = "org_connections_read"
ORG_CONNECTIONS_WRITE = "org_connections_write"
ORG_MANAGEMENT = "org_management"
"""The older permission: grants what the two above grant."""

USERS_TYPE = "users"


@dataclass(frozen=True)
class CurrentUser:
    """The user behind the keys, as ``GET /api/v2/current_user`` describes it.

    ``service_account`` and ``disabled`` are ``None`` when the answer does not say (absent or not a
    boolean). ``org_id`` is ``data.relationships.org.data.id`` (``None`` when absent) and
    ``org_name`` that org's name from ``included`` (``""`` when not included). ``permissions``
    holds the names of the permissions the user's roles grant, or ``None`` when the answer does not
    carry them all (roles or permissions missing from ``included``): unknown, not empty.
    """

    user_id: str
    name: str
    handle: str
    email: str
    service_account: bool | None
    disabled: bool | None
    status: str
    org_id: str | None
    org_name: str
    permissions: frozenset[str] | None

    @property
    def can_write(self) -> bool | None:
        """``org_connections_write`` or ``org_management`` held; ``None`` if permissions are unknown."""
        if self.permissions is None:
            return None
        return bool(self.permissions & {ORG_CONNECTIONS_WRITE, ORG_MANAGEMENT})

    @property
    def can_read(self) -> bool | None:
        """``org_connections_read`` or ``org_management`` held; ``None`` if permissions are unknown."""
        if self.permissions is None:
            return None
        return bool(self.permissions & {ORG_CONNECTIONS_READ, ORG_MANAGEMENT})

    @property
    def label(self) -> str:
        """How messages name the user: ``"name (handle)"``, or whichever of them (or the email,
        else the id) the answer gave."""
        handle = self.handle or self.email
        if self.name and handle and self.name != handle:
            return f"{self.name} ({handle})"
        return self.name or handle or self.user_id

    @classmethod
    def from_api(cls, body: Any) -> CurrentUser:
        """Build from a decoded ``UserResponse``.

        Raises:
            ResponseFormatError: the body is not an object, ``data`` is not an object, ``data.id``
                is not a non-empty string, or ``data.type`` is present and not ``users``.
        """
        top = obj(body, "")
        data = obj(field(top, "data", ""), "data")
        kind = data.get("type")
        if kind is not None and kind != USERS_TYPE:
            raise fail("data.type", f"expected {USERS_TYPE!r}, got {kind!r}")
        user_id = string(data, "id", "data")
        attrs = data.get("attributes")
        rels = data.get("relationships")
        rels = rels if isinstance(rels, Mapping) else {}
        included = _index(top.get("included"))
        org_id = _ref_id(rels.get("org"))
        org = included.get(("orgs", org_id.lower())) if org_id else None
        return cls(
            user_id=user_id,
            name=text(attrs, "name"),
            handle=text(attrs, "handle"),
            email=text(attrs, "email"),
            service_account=flag(attrs, "service_account"),
            disabled=flag(attrs, "disabled"),
            status=text(attrs, "status"),
            org_id=org_id,
            org_name=text(org.get("attributes"), "name") if org is not None else "",
            permissions=_permissions(rels.get("roles"), included),
        )


def parse_current_user(body: Any) -> CurrentUser:
    """Parse a ``UserResponse`` (``GET /api/v2/current_user``); see :meth:`CurrentUser.from_api`."""
    return CurrentUser.from_api(body)


Index = dict[tuple[str, str], Mapping[str, Any]]


def _index(included: object) -> Index:
    """``included`` resources by ``(type, lower-case id)``; malformed entries are skipped."""
    out: Index = {}
    if not isinstance(included, list):
        return out
    for item in included:
        kind, ident = text(item, "type"), text(item, "id")
        if kind and ident and isinstance(item, Mapping):
            out.setdefault((kind, ident.lower()), item)
    return out


def _ref_id(relationship: object) -> str | None:
    """``relationship.data.id`` of a to-one relationship, or ``None``."""
    data = relationship.get("data") if isinstance(relationship, Mapping) else None
    return text(data, "id") or None


def _ref_ids(relationship: object) -> list[str] | None:
    """The ids of a to-many relationship (``data: [{"id"...}]``), or ``None`` when unreadable."""
    data = relationship.get("data") if isinstance(relationship, Mapping) else None
    if not isinstance(data, list):
        return None
    ids = [text(item, "id") for item in data]
    return None if not all(ids) else ids


def _permissions(roles: object, included: Index) -> frozenset[str] | None:
    """The permission names the roles grant, or ``None`` unless every link resolves in ``included``.

    A user with no role at all (``roles.data == []``) holds no permission: an empty set.
    """
    role_ids = _ref_ids(roles)
    if role_ids is None:
        return None
    names: set[str] = set()
    for role_id in role_ids:
        role = included.get(("roles", role_id.lower()))
        links = role.get("relationships") if role is not None else None
        permission_ids = _ref_ids(links.get("permissions") if isinstance(links, Mapping) else None)
        if permission_ids is None:
            return None
        for permission_id in permission_ids:
            permission = included.get(("permissions", permission_id.lower()))
            name = text(permission.get("attributes"), "name") if permission is not None else ""
            if not name:
                return None
            names.add(name)
    return frozenset(names)
