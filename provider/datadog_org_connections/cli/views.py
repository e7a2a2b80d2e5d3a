"""What the commands print: tables, JSON objects, the current org, and the code ``export`` writes.

Pure functions over the client's models (plus :func:`current_org`, which asks the API), so the
command module stays about options, errors and exit codes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..client import OrgConnectionsClient
from ..errors import DatadogError
from ..models import Connection, ManagedOrg
from ..preflight import PERSON_RISK

__all__ = [
    "CurrentOrg",
    "adopt_block",
    "at_risk",
    "at_risk_note",
    "clean",
    "connection_json",
    "creator_text",
    "current_org",
    "direction",
    "render_export",
    "resource_names",
    "slug",
    "table",
    "when",
]


def clean(text: str) -> str:
    """API text made safe for a terminal line: control characters become ``?``."""
    return "".join(c if c.isprintable() else "?" for c in text)


def when(created_at: str) -> str:
    """``2025-08-25 18:13:19 UTC`` for an RFC 3339 time; the text as given if it cannot be read."""
    try:
        moment = datetime.fromisoformat(created_at)
    except ValueError:
        return clean(created_at)
    if moment.tzinfo is None:
        return clean(created_at)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: columns left-aligned, two spaces apart, no trailing blanks."""
    cells = [list(headers), *([clean(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


# ------------------------------------------------------------------------------ at risk


def at_risk(conn: Connection | None) -> bool:
    """Whether a person created the connection (the list's ``included`` says so): Datadog deletes it
    when that person's account is deactivated. Unknown counts as not at risk (nothing is claimed)."""
    return conn is not None and conn.created_by_service_account is False


def creator_text(conn: Connection) -> str:
    """Who created the connection, for a table cell: marked ``(person: at risk)`` when a person did."""
    who = conn.created_by_name or conn.created_by_id
    return f"{who} (person: at risk)" if at_risk(conn) else who


def at_risk_note(conns: Sequence[Connection]) -> str | None:
    """The line explaining the at-risk mark (stderr), when some of ``conns`` carry it."""
    risky = sum(at_risk(c) for c in conns)
    if not risky:
        return None
    return (
        f"note: {risky} connection(s) made by a person (at risk): {PERSON_RISK}. To tie one to a service "
        "account, recreate it with the service account's keys (in its stack: `pulumi up --replace <urn>`); "
        "see docs/keys-and-permissions.md"
    )


# ------------------------------------------------------------------------------ current org


@dataclass(frozen=True)
class CurrentOrg:
    """The org that owns the keys, as far as it can be told (``id`` is ``None`` when unknown).

    ``error`` is why ``GET /api/v2/org`` could not name it, when it failed.
    """

    id: str | None
    name: str
    orgs: tuple[ManagedOrg, ...]
    error: DatadogError | None = None


def current_org(client: OrgConnectionsClient, connections: Sequence[Connection]) -> CurrentOrg:
    """Which org the keys belong to.

    ``GET /api/v2/org`` names it exactly (``data.id``) with the orgs it manages. Keys that may not list
    orgs (403 without ``org_connections_write``) ask ``GET /api/v2/current_user`` (no permission
    needed: the user's org), then fall back on the connections: every listed connection involves the
    current org, so the one org id common to all of them is it. Unknown (``id=None``) otherwise.
    """
    try:
        orgs = client.list_managed_orgs()
    except DatadogError as exc:
        error: DatadogError = exc
    else:
        return CurrentOrg(orgs.current_id, orgs.current.name, orgs.orgs)
    try:
        user = client.get_current_user()
    except DatadogError:
        user = None
    if user is not None and user.org_id:
        return CurrentOrg(user.org_id.lower(), user.org_name, (), error)
    if connections:
        common = set.intersection(*({c.source_org_id.lower(), c.sink_org_id.lower()} for c in connections))
        if len(common) == 1:
            (org_id,) = common
            first = connections[0]
            name = first.source_org_name if first.source_org_id.lower() == org_id else first.sink_org_name
            return CurrentOrg(org_id, name, (), error)
    return CurrentOrg(None, "", (), error)


def direction(conn: Connection, current: str | None) -> str:
    """``outgoing`` when ``current`` is the source, ``incoming`` when it is the sink, else ``?``."""
    if current is not None and conn.source_org_id.lower() == current.lower():
        return "outgoing"
    if current is not None and conn.sink_org_id.lower() == current.lower():
        return "incoming"
    return "?"


def connection_json(conn: Connection, current: str | None) -> dict[str, Any]:
    """The ``list --json`` object of a connection (always the same keys, in the same order)."""
    way = direction(conn, current)
    other_id: str | None = None
    other_name: str | None = None
    if way == "outgoing":
        other_id, other_name = conn.sink_org_id, conn.sink_org_name
    elif way == "incoming":
        other_id, other_name = conn.source_org_id, conn.source_org_name
    return {
        "id": conn.id,
        "direction": way,
        "other_org_id": other_id,
        "other_org_name": other_name,
        "source_org_id": conn.source_org_id,
        "source_org_name": conn.source_org_name,
        "sink_org_id": conn.sink_org_id,
        "sink_org_name": conn.sink_org_name,
        "connection_types": list(conn.connection_types),
        "created_at": conn.created_at,
        "created_by_id": conn.created_by_id,
        "created_by_name": conn.created_by_name,
        "created_by_service_account": conn.created_by_service_account,
        "at_risk": at_risk(conn),
    }


# ------------------------------------------------------------------------------ export


_SLUG = re.compile(r"[^a-z0-9]+")


def slug(name: str, org_id: str) -> str:
    """An org name as a resource-name part: ``a-z0-9`` runs joined by ``-``, or ``org-<8 hex>``."""
    text = _SLUG.sub("-", name.lower()).strip("-")[:60].strip("-")
    return text or f"org-{_SLUG.sub('', org_id.lower())[:8]}"


def resource_names(conns: Sequence[Connection]) -> list[str]:
    """A stable, unique Pulumi resource name per connection, from its sink org name."""
    names: list[str] = []
    taken: set[str] = set()
    for conn in conns:
        base = f"to-{slug(conn.sink_org_name, conn.sink_org_id)}"
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        names.append(name)
    return names


def _py_str(text: str) -> str:
    """A Python string literal for ``text``, double-quoted when possible."""
    literal = repr(text)
    if literal.startswith("'") and '"' not in text:
        literal = f'"{literal[1:-1]}"'
    return literal


def adopt_block(conn: Connection, name: str, comment: str, *, source_org: str | None = None) -> list[str]:
    """The lines of one ``OrgConnection(..., adopt_id=...)`` taking over ``conn``, after ``# comment``.

    ``source_org`` is written when given (an alias of the stack's ``orgConnections:orgs``).
    Every API text is in a comment (control characters replaced) or a ``repr`` literal.
    """
    lines = [f"# {clean(comment)}", "OrgConnection(", f"    {_py_str(name)},"]
    if source_org is not None:
        lines.append(f"    source_org={_py_str(source_org)},")
    return [
        *lines,
        f"    sink_org_id={_py_str(conn.sink_org_id)},",
        f"    connection_types=[{', '.join(_py_str(t) for t in conn.connection_types)}],",
        f"    adopt_id={_py_str(conn.id)},",
        ")",
    ]


def render_export(current: CurrentOrg, conns: Sequence[Connection]) -> str:
    """Pulumi Python code adopting the current org's outgoing connections; incoming ones as comments."""
    assert current.id is not None
    me = current.id.lower()
    outgoing = sorted(
        (c for c in conns if c.source_org_id.lower() == me),
        key=lambda c: (c.sink_org_name, c.sink_org_id, c.id),
    )
    incoming = sorted(
        (c for c in conns if c.sink_org_id.lower() == me), key=lambda c: (c.source_org_name, c.id)
    )
    org = f"{clean(current.name)} ({clean(current.id)})" if current.name else clean(current.id)
    lines = [
        f"# Org connections of {org}, written by `dd-org-connections export`.",
        "#",
        "# Paste into the Pulumi program of this org's stack (the stack whose datadog:apiKey /",
        "# datadog:appKey belong to this org), then run `pulumi up`: adopt_id makes each resource take",
        "# over the existing connection, so nothing is recreated and data keeps flowing. After that",
        "# first `pulumi up` the adopt_id lines may stay or go.",
        "",
        "from datadog_org_connections import OrgConnection",
        "",
    ]
    if not outgoing:
        lines += ["# This org has no outgoing connections (it is the source of none).", ""]
    for conn, name in zip(outgoing, resource_names(outgoing), strict=True):
        comment = f"-> {clean(conn.sink_org_name) or '(unnamed org)'}, created {when(conn.created_at)}"
        lines += [*adopt_block(conn, name, comment), ""]
    if incoming:
        lines += [
            "# Incoming connections (this org is the sink). Manage them from the stack of their source",
            "# org: run `dd-org-connections export` with that org's keys.",
        ]
        lines += [
            f"#   {clean(c.id)}  from {clean(c.source_org_name)} ({clean(c.source_org_id)})"
            f"  types: {clean(', '.join(c.connection_types))}"
            for c in incoming
        ]
    return "\n".join(lines).rstrip("\n") + "\n"
