"""Declared against actual: what ``reconcile`` reports and ``graph`` draws.

Pure functions over :mod:`.sources`' values. The rules (see ``docs/cli.md``, *reconcile*):

- an org is **covered** when its keys were given: every connection it takes part in was listed;
- an org is **managed** when it is covered or is the source of a connection a given stack holds;
- an **orphan** is a listed connection whose source org is managed and that no given stack holds;
- a **ghost** is a connection a stack holds, one of whose orgs is covered, that the API no longer lists;
- a connection a stack holds with neither org covered is **unchecked**;
- an id held by more than one resource of the given stacks is **shared**;
- a listed connection made by a person (the list's ``included`` users say so) is **at risk**: Datadog
  deletes it when that person's account is deactivated. Not drift: a warning.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..models import Connection
from .sources import Actual, Declared, PendingCreate, StackExport
from .views import at_risk, slug

__all__ = ["Adoption", "Findings", "compare", "plan_adoptions"]


@dataclass
class Findings:
    """The outcome of comparing the given stacks with the API."""

    matched: list[tuple[Declared, Connection]] = field(default_factory=list)
    orphans: list[Connection] = field(default_factory=list)
    ghosts: list[Declared] = field(default_factory=list)
    type_diffs: list[tuple[Declared, Connection]] = field(default_factory=list)
    shared: list[tuple[str, list[Declared]]] = field(default_factory=list)
    unchecked: list[Declared] = field(default_factory=list)
    #: Source orgs of declared connections whose keys were not given: their orphans are only
    #: found where the sink is covered.
    orgs_without_keys: list[str] = field(default_factory=list)
    pending_replacements: list[Declared] = field(default_factory=list)
    #: Listed connections whose source org is not managed (another org's business).
    outside: list[Connection] = field(default_factory=list)
    #: Listed connections of managed source orgs made by a person (held or orphans).
    at_risk: list[Connection] = field(default_factory=list)

    @property
    def drift(self) -> bool:
        """Whether anything differs (orphans, ghosts, types, shared ids)."""
        return bool(self.orphans or self.ghosts or self.type_diffs or self.shared)

    @property
    def incomplete(self) -> bool:
        """Whether part of the declared side could not be checked for lack of keys."""
        return bool(self.unchecked or self.orgs_without_keys)


def compare(exports: Sequence[StackExport], actual: Actual) -> Findings:
    """Compare every connection the stacks hold with every connection the keys list."""
    found = Findings()
    covered = actual.covered
    declared = [d for e in exports for d in e.declared]
    live = [d for d in declared if not d.pending_replacement]
    found.pending_replacements = [d for d in declared if d.pending_replacement]
    held: dict[str, list[Declared]] = defaultdict(list)
    for d in live:
        held[d.id].append(d)
    found.shared = sorted((i, ds) for i, ds in held.items() if len(ds) > 1)
    for d in live:
        conn = actual.connections.get(d.id)
        if conn is not None:
            if tuple(sorted(conn.connection_types)) != d.connection_types:
                found.type_diffs.append((d, conn))
            else:
                found.matched.append((d, conn))
        elif d.source_org_id in covered or d.sink_org_id in covered:
            found.ghosts.append(d)
        else:
            found.unchecked.append(d)
    managed = covered | {d.source_org_id for d in live}
    for conn_id, conn in sorted(actual.connections.items(), key=lambda kv: _conn_order(kv[1])):
        if conn_id in held:
            continue
        (found.orphans if conn.source_org_id.lower() in managed else found.outside).append(conn)
    found.orgs_without_keys = sorted({d.source_org_id for d in live} - covered)
    listed = [c for _, c in found.matched] + [c for _, c in found.type_diffs] + found.orphans
    found.at_risk = sorted((c for c in listed if at_risk(c)), key=_conn_order)
    return found


def _conn_order(conn: Connection) -> tuple[str, str, str, str, str]:
    return (conn.source_org_name, conn.source_org_id, conn.sink_org_name, conn.sink_org_id, conn.id)


# ------------------------------------------------------------------------------ adoption


@dataclass(frozen=True)
class Adoption:
    """How to adopt one orphan: in which stack, under which name and ``source_org``."""

    conn: Connection
    name: str
    stack: str | None  # the stack to paste into (None: unknown)
    source_org: str | None  # the alias to write (None: the stack's own keys)
    interrupted: bool  # the name is that of a create an interrupted `pulumi up` left pending
    planned: bool = False  # the name is that of a create `pulumi preview` plans (declared, not in the state)


class _Aliases:
    """Which alias stands for which org: per stack from its connections, else from the key sets."""

    def __init__(self, exports: Sequence[StackExport], actual: Actual) -> None:
        self.by_stack: dict[str, dict[str | None, str]] = {}
        for export in exports:
            known = self.by_stack.setdefault(export.label, {})
            for d in export.declared:
                known.setdefault(d.source_org, d.source_org_id)
        self.actual = actual
        self.from_keys = actual.aliases()

    def org_of(self, stack: str, alias: str | None) -> str | None:
        org = self.by_stack.get(stack, {}).get(alias)
        if org is not None:
            return org
        return next((o for a, o in self.actual.aliases(stack) if a == alias), None)

    def for_org(self, org_id: str, exports: Sequence[StackExport]) -> tuple[str | None, str | None]:
        """``(stack, alias)`` for a connection whose source is ``org_id``.

        An orphan's source org is managed: a stack holds connections of it, or keys of it were
        given (their alias: ``None`` for the environment's or a stack's own keys).
        """
        for export in sorted(exports, key=lambda e: e.label):
            for alias, org in self.by_stack.get(export.label, {}).items():
                if org == org_id:
                    return export.label, alias
        return None, next((alias for alias, org in self.from_keys if org == org_id), None)


def _match_pending(conn: Connection, pending: list[PendingCreate], aliases: _Aliases) -> PendingCreate | None:
    """The create waiting for ``conn``: the one that recorded its id, else the first of its pair that
    recorded none (one that recorded another id was waiting for that connection, not this one)."""
    exact = [p for p in pending if p.conn_id == conn.id.lower()]
    for p in exact or [p for p in pending if p.conn_id is None]:
        if p.sink_org_id == conn.sink_org_id.lower() and aliases.org_of(p.stack, p.source_org) == (
            conn.source_org_id.lower()
        ):
            pending.remove(p)
            return p
    return None


def plan_adoptions(
    orphans: Sequence[Connection],
    exports: Sequence[StackExport],
    actual: Actual,
    planned: Sequence[PendingCreate] = (),
) -> list[Adoption]:
    """An :class:`Adoption` per orphan.

    An orphan matching a create an interrupted ``pulumi up`` left pending (the id it recorded,
    else the same source org and sink) keeps that resource's name and stack: the program declares
    it already, so the adoption replaces that declaration. So does one matching a create
    ``pulumi preview`` plans (``planned``: declared, not in the state). Others go to the stack
    holding other connections of their source org, named ``<source>-to-<sink>`` (unique in that
    stack).
    """
    aliases = _Aliases(exports, actual)
    pending = [p for e in exports for p in e.pending]
    declared = list(planned)
    taken: dict[str | None, set[str]] = {e.label: set(e.names) for e in exports}
    plans: list[Adoption] = []
    for conn in orphans:
        p = _match_pending(conn, pending, aliases)
        if p is not None:
            plans.append(Adoption(conn, p.name, p.stack, p.source_org, True))
            continue
        p = _match_pending(conn, declared, aliases)
        if p is not None:
            plans.append(Adoption(conn, p.name, p.stack, p.source_org, False, planned=True))
            continue
        stack, alias = aliases.for_org(conn.source_org_id.lower(), exports)
        used = taken.setdefault(stack, set())
        base = f"{slug(conn.source_org_name, conn.source_org_id)}-to-{slug(conn.sink_org_name, conn.sink_org_id)}"
        name, n = base, 2
        while name in used:
            name, n = f"{base}-{n}", n + 1
        used.add(name)
        plans.append(Adoption(conn, name, stack, alias, False))
    return plans
