"""The JSON:API resources the emulator answers with besides connections: orgs, users, roles, permissions.

- ``GET /api/v2/org`` (``ManagedOrgsResponse``): :func:`managed_org_resource`, every attribute
  ``datadog-api-client``'s ``OrgAttributes`` requires.
- ``GET /api/v2/current_user`` (``UserResponse``): :func:`current_user_document`, the user, the
  relationships to its org and roles, and ``included`` (the org, the roles, the permissions), in
  the shapes of ``datadog-api-client``'s ``User``, ``Organization``, ``Role`` and ``Permission``.
  The seed gives each user a list of permission names, not roles: each user gets **one role of
  its own** holding exactly those permissions (ids derived from the org and user ids, so they are
  stable; permission ids derive from the permission name, as permissions are global in Datadog).
- The list answer's top-level ``included`` (recorded from the real service, not in the spec):
  :func:`list_included`, one org per org the page references and one user per creator, in the
  recorded shapes (orgs with ``description``, ``url`` and ``modified_at`` null and
  ``sharing: "all_private"``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from .index import Connection
from .seed import Org, Seed, User, derived_id, normalize_timestamp

__all__ = [
    "current_user_document",
    "list_included",
    "managed_org_resource",
    "permission_id",
    "role_id",
]

_WRITE_PERMISSIONS = frozenset({"org_connections_write", "org_management"})


def _site_url(org: Org) -> str:
    return f"https://app.{org.site}" if org.site.count(".") == 1 else f"https://{org.site}"


def managed_org_resource(org: Org) -> dict[str, Any]:
    """An ``OrgData`` resource of ``/api/v2/org``: every attribute the client's model requires."""
    created = normalize_timestamp(org.created)
    return {
        "id": org.id,
        "type": "orgs",
        "attributes": {
            "name": org.name,
            "public_id": org.public_id,
            "description": org.description,
            "created_at": created,
            "modified_at": created,
            "disabled": False,
            "sharing": "none",
            "url": _site_url(org),
        },
    }


def recorded_org_resource(org: Org) -> dict[str, Any]:
    """An org of a list answer's ``included``, as recorded: null description, url, modified_at."""
    return {
        "type": "orgs",
        "id": org.id,
        "attributes": {
            "public_id": org.public_id,
            "name": org.name,
            "description": None,
            "sharing": "all_private",
            "url": None,
            "disabled": False,
            "created_at": normalize_timestamp(org.created),
            "modified_at": None,
        },
    }


def _icon(user: User) -> str:
    digest = hashlib.md5(user.handle.lower().encode(), usedforsecurity=False).hexdigest()
    return f"https://secure.gravatar.com/avatar/{digest}?s=48&d=retro"


def _user_attributes(user: User, org: Org) -> dict[str, Any]:
    """The attributes both user shapes share (the seed has no user dates: the org's are used)."""
    created = normalize_timestamp(org.created)
    return {
        "name": user.name,
        "handle": user.handle,
        "email": user.handle,
        "icon": _icon(user),
        "title": None,
        "verified": True,
        "service_account": user.service_account,
        "disabled": False,
        "status": "Active",
        "created_at": created,
        "modified_at": created,
    }


def recorded_user_resource(user: User, org: Org) -> dict[str, Any]:
    """A creator of a list answer's ``included``, with the recorded attributes."""
    return {
        "type": "users",
        "id": user.id,
        "attributes": {**_user_attributes(user, org), "allowed_login_methods": []},
    }


def role_id(org: Org, user: User) -> str:
    """The id of the one role the emulator gives ``user`` (see the module docstring)."""
    return derived_id(4, "role", org.id, user.id)


def permission_id(name: str) -> str:
    """The id of the permission called ``name`` (the same in every org)."""
    return derived_id(4, "permission", name)


def _role_resource(org: Org, user: User) -> dict[str, Any]:
    created = normalize_timestamp(org.created)
    return {
        "type": "roles",
        "id": role_id(org, user),
        "attributes": {
            "name": f"role of {user.name}",
            "created_at": created,
            "modified_at": created,
            "user_count": 1,
        },
        "relationships": {
            "permissions": {
                "data": [
                    {"id": permission_id(p), "type": "permissions"} for p in dict.fromkeys(user.permissions)
                ]
            }
        },
    }


def _permission_resource(name: str) -> dict[str, Any]:
    return {
        "type": "permissions",
        "id": permission_id(name),
        "attributes": {
            "name": name,
            "display_name": name.replace("_", " ").capitalize(),
            "display_type": "write" if name in _WRITE_PERMISSIONS or name.endswith("_write") else "read",
            "restricted": False,
        },
    }


def current_user_document(org: Org, user: User) -> dict[str, Any]:
    """The ``UserResponse`` of ``GET /api/v2/current_user`` for ``user`` of ``org``."""
    attributes = {
        **_user_attributes(user, org),
        "uuid": user.id,
        "mfa_enabled": False,
        "last_login_time": None,
    }
    return {
        "data": {
            "type": "users",
            "id": user.id,
            "attributes": attributes,
            "relationships": {
                "org": {"data": {"id": org.id, "type": "orgs"}},
                "roles": {"data": [{"id": role_id(org, user), "type": "roles"}]},
            },
        },
        "included": [
            managed_org_resource(org),
            _role_resource(org, user),
            *(_permission_resource(p) for p in dict.fromkeys(user.permissions)),
        ],
    }


def list_included(seed: Seed, connections: Iterable[Connection]) -> list[dict[str, Any]]:
    """A list answer's ``included``: each org the connections reference, then each creator, once."""
    orgs: dict[str, Org] = {}
    creators: dict[str, tuple[User, Org]] = {}
    for conn in connections:
        source = seed.orgs_by_id.get(conn.source_org_id)
        for org in (source, seed.orgs_by_id.get(conn.sink_org_id)):
            if org is not None:
                orgs.setdefault(org.id, org)
        user = source.user(conn.created_by_user_id) if source and conn.created_by_user_id else None
        if source is not None and user is not None:
            creators.setdefault(user.id, (user, source))
    return [
        *(recorded_org_resource(org) for org in orgs.values()),
        *(recorded_user_resource(user, org) for user, org in creators.values()),
    ]
