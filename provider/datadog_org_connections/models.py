"""Immutable values of the org connections API and their parsing from its answers.

Success bodies (JSON:API documents) become frozen dataclasses; error bodies become one-line
descriptions (:func:`describe_error_body`); ``Date`` headers become epoch seconds.

Parsing is strict about what the client relies on (ids, types, timestamps, paging counts) and
raises :class:`~datadog_org_connections.errors.ResponseFormatError` naming the JSON path of the
first problem, e.g. ``data[2].attributes.connection_types: expected a list of strings, got int``.
Display-only fields (org and user names, the creator) default to ``""`` when absent.

The list answer's top-level ``included`` array (recorded from the real service, not in the spec:
the orgs and the creators of the listed connections) is used when present and never required:
it fills names a relationship lacks and :attr:`Connection.created_by_service_account`; a
malformed entry is ignored. The user behind the keys (``GET /api/v2/current_user``) is parsed by
:mod:`.users`, re-exported here (:class:`CurrentUser`, :func:`parse_current_user`).
"""

from __future__ import annotations

import email.utils
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timezone
from typing import Any

from .errors import ResponseFormatError, one_line
from .jsonshape import fail as _fail
from .jsonshape import field as _field
from .jsonshape import flag as _flag
from .jsonshape import kind as _kind
from .jsonshape import obj as _object
from .jsonshape import optional_string as _optional_string
from .jsonshape import string as _string
from .jsonshape import text as _text
from .users import CurrentUser, parse_current_user

__all__ = [
    "CONNECTION_TYPES",
    "UUID_RE",
    "Connection",
    "ConnectionPage",
    "CurrentUser",
    "ManagedOrg",
    "ManagedOrgs",
    "describe_error_body",
    "parse_connection_document",
    "parse_connection_page",
    "parse_current_user",
    "parse_http_date",
    "parse_json",
    "parse_managed_orgs",
]

#: What org and connection ids look like (UUIDs).
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

#: The connection types the API knows, sorted.
CONNECTION_TYPES: tuple[str, ...] = ("audit", "logs", "metrics")

CONNECTION_TYPE = "org_connection"


def _count(obj: Mapping[str, Any], key: str, path: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(f"{path}.{key}", f"expected a non-negative integer, got {_kind(value)}")
    return value


def _relationship(rels: Mapping[str, Any], name: str, path: str, *, required: bool) -> tuple[str, str]:
    """Return ``(id, name)`` of ``relationships.<name>.data``."""
    here = f"{path}.{name}"
    if name not in rels or rels[name] is None:
        if required:
            raise _fail(here, "missing")
        return "", ""
    data = _object(_field(_object(rels[name], here), "data", here), f"{here}.data")
    if required:
        return _string(data, "id", f"{here}.data"), _optional_string(data, "name", f"{here}.data")
    return _optional_string(data, "id", f"{here}.data"), _optional_string(data, "name", f"{here}.data")


def parse_json(content: bytes | str, *, what: str = "response body") -> Any:
    """Decode a JSON body; a truncated or non-JSON body raises :class:`ResponseFormatError`."""
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ResponseFormatError(
                f"{what} is not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from None
    if not content.strip():
        raise ResponseFormatError(f"{what} is empty, expected JSON")
    try:
        return json.loads(content)
    except json.JSONDecodeError as exc:
        cut = exc.pos >= len(content.rstrip()) or exc.msg.startswith("Unterminated string")
        raise ResponseFormatError(
            f"{what} is {'truncated JSON' if cut else 'invalid JSON'} "
            f"({exc.msg}: line {exc.lineno}, column {exc.colno})"
        ) from None


@dataclass(frozen=True)
class _Included:
    """What an answer's top-level ``included`` array says about orgs and users (lenient)."""

    org_names: Mapping[str, str]
    user_names: Mapping[str, str]
    service_accounts: Mapping[str, bool]

    @classmethod
    def from_api(cls, included: object) -> _Included:
        """Read ``included``; anything but a list is nothing, a malformed entry is skipped."""
        orgs: dict[str, str] = {}
        names: dict[str, str] = {}
        service: dict[str, bool] = {}
        for item in included if isinstance(included, list) else ():
            ident = _text(item, "id").lower()
            kind = _text(item, "type")
            attrs = item.get("attributes") if ident and isinstance(item, Mapping) else None
            if kind == "orgs" and _text(attrs, "name"):
                orgs.setdefault(ident, _text(attrs, "name"))
            elif kind == "users":
                if _text(attrs, "name"):
                    names.setdefault(ident, _text(attrs, "name"))
                flag = _flag(attrs, "service_account")
                if flag is not None:
                    service.setdefault(ident, flag)
        return cls(orgs, names, service)


_NOTHING_INCLUDED = _Included({}, {}, {})


@dataclass(frozen=True)
class Connection:
    """One org connection: data flows from the source org to the sink org.

    ``connection_types`` is sorted. ``created_at`` is the API's RFC 3339 text, unchanged.
    Names are ``""`` when the answer carries none (the recorded PATCH answer has no names).
    ``created_by_service_account`` is the creator's ``service_account`` from a list answer's
    ``included`` users; ``None`` (unknown) when the answer does not say.
    """

    id: str
    source_org_id: str
    source_org_name: str
    sink_org_id: str
    sink_org_name: str
    connection_types: tuple[str, ...]
    created_at: str
    created_by_id: str
    created_by_name: str
    created_by_service_account: bool | None = None

    @classmethod
    def from_api(
        cls, resource: Mapping[str, Any], *, path: str = "data", included: object = None
    ) -> Connection:
        """Build a connection from a JSON:API resource object (``{"type", "id", ...}``).

        A whole document (``{"data": {...}}``) is accepted too, and its ``included`` used.
        ``included`` is the answer's top-level ``included`` array (or its parsed form), if any.

        Raises:
            ResponseFormatError: a required field is missing or has the wrong type.
        """
        obj = _object(resource, path)
        if "data" in obj and "attributes" not in obj:
            return cls.from_api(_object(obj["data"], path), path=path, included=obj.get("included"))
        known = included if isinstance(included, _Included) else _Included.from_api(included)
        kind = obj.get("type")
        if kind is not None and kind != CONNECTION_TYPE:
            raise _fail(f"{path}.type", f"expected {CONNECTION_TYPE!r}, got {kind!r}")
        conn_id = _string(obj, "id", path)
        attrs = _object(_field(obj, "attributes", path), f"{path}.attributes")
        types = _field(attrs, "connection_types", f"{path}.attributes")
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise _fail(
                f"{path}.attributes.connection_types",
                f"expected a list of strings, got {_kind(types)}"
                + (" with non-string items" if isinstance(types, list) else ""),
            )
        created_at = _string(attrs, "created_at", f"{path}.attributes")
        rels = _object(_field(obj, "relationships", path), f"{path}.relationships")
        rpath = f"{path}.relationships"
        source_id, source_name = _relationship(rels, "source_org", rpath, required=True)
        sink_id, sink_name = _relationship(rels, "sink_org", rpath, required=True)
        user_id, user_name = _relationship(rels, "created_by", rpath, required=False)
        return cls(
            id=conn_id,
            source_org_id=source_id,
            source_org_name=source_name or known.org_names.get(source_id.lower(), ""),
            sink_org_id=sink_id,
            sink_org_name=sink_name or known.org_names.get(sink_id.lower(), ""),
            connection_types=tuple(sorted(types)),
            created_at=created_at,
            created_by_id=user_id,
            created_by_name=user_name or known.user_names.get(user_id.lower(), ""),
            created_by_service_account=known.service_accounts.get(user_id.lower()) if user_id else None,
        )


@dataclass(frozen=True)
class ConnectionPage:
    """One page of ``GET /api/v2/org_connections``.

    ``total_count`` counts every connection of the current org, ``total_filtered_count`` those
    matching the filters; each is ``None`` when the API did not say.
    """

    connections: tuple[Connection, ...]
    total_count: int | None
    total_filtered_count: int | None

    @classmethod
    def from_api(cls, body: Any) -> ConnectionPage:
        """Build a page from the decoded list body (its ``included`` used when present).

        Raises:
            ResponseFormatError: the body is not ``{"data": [...], "meta": {...}}``.
        """
        obj = _object(body, "")
        data = _field(obj, "data", "")
        if not isinstance(data, list):
            raise _fail("data", f"expected a list, got {_kind(data)}")
        known = _Included.from_api(obj.get("included")) if data else _NOTHING_INCLUDED
        connections = tuple(
            Connection.from_api(item, path=f"data[{i}]", included=known) for i, item in enumerate(data)
        )
        total = filtered = None
        meta = obj.get("meta")
        if meta is not None:
            page = _object(meta, "meta").get("page")
            if page is not None:
                page = _object(page, "meta.page")
                total = _count(page, "total_count", "meta.page")
                filtered = _count(page, "total_filtered_count", "meta.page")
        return cls(connections=connections, total_count=total, total_filtered_count=filtered)


@dataclass(frozen=True)
class ManagedOrg:
    """An org of the account, as ``GET /api/v2/org`` names it (an ``OrgData`` resource).

    ``id`` is the org UUID, what ``sink_org_id`` takes; ``name`` and ``public_id`` are ``""`` when
    the answer does not include the org's attributes.
    """

    id: str
    public_id: str
    name: str


@dataclass(frozen=True)
class ManagedOrgs:
    """``GET /api/v2/org``: the current org (the keys' own, ``data.id``) and the orgs it manages.

    ``orgs`` holds the current org first, then the managed orgs in the API's order, each once.
    ``managed`` is ``False`` when the keys manage no other org (a child org's keys list only
    themselves): then the listing says nothing about which other orgs exist in the account.
    """

    current_id: str
    orgs: tuple[ManagedOrg, ...]

    @property
    def current(self) -> ManagedOrg:
        """The org the keys belong to."""
        return self.orgs[0]

    @property
    def managed(self) -> bool:
        """Whether the keys manage other orgs (a parent org's keys)."""
        return len(self.orgs) > 1

    def find(self, org_id: str) -> ManagedOrg | None:
        """The listed org with this id (case-insensitive), if any."""
        wanted = org_id.lower()
        return next((o for o in self.orgs if o.id.lower() == wanted), None)

    @classmethod
    def from_api(cls, body: Any) -> ManagedOrgs:
        """Build from a decoded ``ManagedOrgsResponse``.

        Raises:
            ResponseFormatError: ``data.id`` or the relationships are missing or malformed.
        """
        obj = _object(body, "")
        data = _object(_field(obj, "data", ""), "data")
        current_id = _string(data, "id", "data")
        rels = _object(data.get("relationships") or {}, "data.relationships")
        refs = [current_id]
        managed = rels.get("managed_orgs")
        if managed is not None:
            items = _field(
                _object(managed, "data.relationships.managed_orgs"), "data", "data.relationships.managed_orgs"
            )
            if not isinstance(items, list):
                raise _fail("data.relationships.managed_orgs.data", f"expected a list, got {_kind(items)}")
            path = "data.relationships.managed_orgs.data"
            refs += [
                _string(_object(item, f"{path}[{i}]"), "id", f"{path}[{i}]") for i, item in enumerate(items)
            ]
        attributes = _included_attributes(obj.get("included"))
        orgs: dict[str, ManagedOrg] = {}
        for org_id in refs:
            attrs = attributes.get(org_id.lower(), {})
            orgs.setdefault(
                org_id.lower(),
                ManagedOrg(
                    id=org_id,
                    public_id=_optional_string(attrs, "public_id", "included[].attributes"),
                    name=_optional_string(attrs, "name", "included[].attributes"),
                ),
            )
        return cls(current_id=current_id, orgs=tuple(orgs.values()))


def _included_attributes(included: object) -> dict[str, Mapping[str, Any]]:
    """``included`` org resources by lower-case id -> their attributes (absent: empty)."""
    if included is None:
        return {}
    if not isinstance(included, list):
        raise _fail("included", f"expected a list, got {_kind(included)}")
    out: dict[str, Mapping[str, Any]] = {}
    for i, item in enumerate(included):
        resource = _object(item, f"included[{i}]")
        attrs = resource.get("attributes")
        out[_string(resource, "id", f"included[{i}]").lower()] = _object(
            attrs if attrs is not None else {}, f"included[{i}].attributes"
        )
    return out


def parse_connection_document(body: Any) -> Connection:
    """Parse a single-connection document ``{"data": {...}}`` (create and update answers)."""
    obj = _object(body, "")
    return Connection.from_api(
        _object(_field(obj, "data", ""), "data"), path="data", included=obj.get("included")
    )


def parse_connection_page(body: Any) -> ConnectionPage:
    """Parse a list answer ``{"data": [...], "meta": {"page": {...}}}``."""
    return ConnectionPage.from_api(body)


def parse_managed_orgs(body: Any) -> ManagedOrgs:
    """Parse a ``ManagedOrgsResponse`` (``GET /api/v2/org``)."""
    return ManagedOrgs.from_api(body)


# ------------------------------------------------------------------------------ error bodies


_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _api_error_texts(body: Any) -> list[str]:
    """The ``errors`` of a Datadog error body (strings, or JSON:API error objects)."""
    if not isinstance(body, Mapping):
        return []
    errors = body.get("errors")
    if isinstance(errors, str):
        errors = [errors]
    if not isinstance(errors, list):
        return []
    texts = []
    for item in errors:
        if isinstance(item, Mapping):
            text = item.get("detail") or item.get("title") or json.dumps(item, sort_keys=True)
            texts.append(str(text))
        else:
            texts.append(str(item))
    return texts


def describe_error_body(status: int, content: bytes, content_type: str) -> tuple[str, list[str]]:
    """Summarise an error answer as ``(detail, api_errors)``; never raises.

    A Datadog body ``{"errors": [...]}`` gives its texts; an HTML page from a proxy its
    ``<title>``; anything else is described by status, media type and (capped) content.
    """
    ctype = content_type or "no content type"
    if not content.strip():
        return f"HTTP {status} with an empty body", []
    try:
        body = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        what = "an unparsable JSON" if "json" in ctype else f"a non-JSON ({ctype})"
        detail = f"HTTP {status} with {what} body"
        title = _TITLE.search(content[:4096])
        if title:
            text = one_line(title.group(1).decode("utf-8", "replace"), 120)
            if text:
                detail += f": {text}"
        return detail, []
    texts = _api_error_texts(body)
    if texts:
        return "; ".join(texts), texts
    return f"HTTP {status} with body {one_line(json.dumps(body, sort_keys=True), 200)}", []


def parse_http_date(value: str | None) -> float | None:
    """An HTTP ``Date`` header (RFC 9110 IMF-fixdate, or the obsolete forms) as epoch seconds.

    ``None`` when absent or unreadable.
    """
    if not value or not value.strip():
        return None
    try:
        moment = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # "-0000": UTC, says RFC 5322
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()
