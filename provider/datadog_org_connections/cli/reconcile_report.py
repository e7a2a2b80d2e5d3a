"""What ``dd-org-connections reconcile`` prints: the report, its verdict, warnings, the adopting code
and the ``--json`` document (docs/cli.md shows each). Pure functions of the findings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .findings import Adoption, Findings
from .repair import Repair
from .sources import Actual, Declared, StackExport
from .views import adopt_block, clean, connection_json, creator_text, table, when

__all__ = ["org_label", "render_code", "render_json", "render_report", "warnings"]


def org_label(org_id: str, names: dict[str, str]) -> str:
    """``name (8 hex)``, or the whole id when the name is unknown."""
    name = names.get(org_id.lower())
    return f"{clean(name)} ({org_id[:8]})" if name else org_id


# ------------------------------------------------------------------------------ the report


def _where(d: Declared) -> str:
    return f"{d.stack}: {d.name}"


def render_report(exports: Sequence[StackExport], actual: Actual, found: Findings, repaired: int = 0) -> str:
    """The text report (sections only for what was found)."""
    names = actual.names
    stacks = ", ".join(f"{e.label} ({len(e.declared)})" for e in exports) or "none"
    orgs = ", ".join(org_label(i, names) for i in sorted(actual.covered)) or "none"
    out = [f"stacks (connections held): {stacks}", f"orgs whose keys were given: {orgs}"]

    def section(title: str, headers: list[str], rows: list[list[str]]) -> None:
        if rows:
            out.extend(["", f"{title} ({len(rows)})", table(headers, rows)])

    section(
        "NOT READ: keys that could not be used, their orgs' connections not listed",
        ["KEYS", "WHY"],
        [[r.keys.label, r.reason] for r in actual.refused],
    )
    section(
        "ORPHANS: in the API, held by none of the given stacks",
        ["ID", "SOURCE", "SINK", "TYPES", "CREATED AT"],
        [[c.id, org_label(c.source_org_id, names), org_label(c.sink_org_id, names),
          ",".join(c.connection_types), when(c.created_at)] for c in found.orphans],
    )  # fmt: skip
    section(
        "GHOSTS: held by a stack, gone from the API",
        ["ID", "HELD BY", "SOURCE", "SINK", "TYPES"],
        [[d.id, _where(d), org_label(d.source_org_id, names), org_label(d.sink_org_id, names),
          ",".join(d.connection_types)] for d in found.ghosts],
    )  # fmt: skip
    section(
        "TYPES DIFFER",
        ["ID", "HELD BY", "DECLARED", "IN THE API"],
        [[d.id, _where(d), ",".join(d.connection_types), ",".join(c.connection_types)]
         for d, c in found.type_diffs],
    )  # fmt: skip
    section(
        "SHARED: one connection held by several resources (destroying one deletes it for all)",
        ["ID", "HELD BY"],
        [[i, "; ".join(_where(d) for d in ds)] for i, ds in found.shared],
    )
    section(
        "AT RISK: made by a person (Datadog deletes them when that account is deactivated; not drift)",
        ["ID", "SOURCE", "SINK", "CREATED BY"],
        [[c.id, org_label(c.source_org_id, names), org_label(c.sink_org_id, names), creator_text(c)]
         for c in found.at_risk],
    )  # fmt: skip
    section(
        "UNCHECKED: no keys given for either org",
        ["ID", "HELD BY", "SOURCE", "SINK"],
        [[d.id, _where(d), org_label(d.source_org_id, names), org_label(d.sink_org_id, names)]
         for d in found.unchecked],
    )  # fmt: skip
    out += ["", _verdict(found, incomplete=found.incomplete or bool(actual.refused), repaired=repaired)]
    return "\n".join(out) + "\n"


def _verdict(found: Findings, *, incomplete: bool, repaired: int = 0) -> str:
    if not found.drift:
        checked = len(found.matched)
        if incomplete:
            return f"no drift found in what could be checked ({checked} connection(s)): see the warnings"
        return f"in sync: {checked} connection(s) held and found in the API with their types; no orphan"
    orphans = "adopt them with the code below"
    if repaired:
        rest = ", the others with the code below" if repaired < len(found.orphans) else ""
        orphans = f"{repaired} adopted by the REPAIR below (stack config, no program edit){rest}"
    counts = [
        (len(found.orphans), f"orphan(s): {orphans}, or delete them with --revoke-orphans"),
        (len(found.ghosts), "ghost(s): `pulumi up --refresh` on that stack recreates them if its program "
         "still declares them (`pulumi refresh` only drops them from the state)"),
        (len(found.type_diffs), "type difference(s): `pulumi up --refresh` sets the declared types back "
         "(a plain `pulumi up` does not see the change)"),
        (len(found.shared), "shared id(s): keep one holder; in the other stack `pulumi state delete <urn>` "
         "forgets it without deleting it, then drop it from that program"),
    ]  # fmt: skip
    return "\n".join(["drift found:", *(f"  {n} {text}" for n, text in counts if n)])


def warnings(found: Findings, names: dict[str, str]) -> list[str]:
    """Coverage warnings (stderr): what could not be checked for lack of keys."""
    lines = []
    if found.orgs_without_keys:
        orgs = ", ".join(org_label(o, names) for o in found.orgs_without_keys)
        lines.append(
            f"warning: no keys given for {orgs}, the source of connections the stacks hold: their orphans "
            "are only found where the sink's keys were given; add them with --stack-config or --org"
        )
    if found.unchecked:
        lines.append(
            f"warning: {len(found.unchecked)} connection(s) held by the stacks were not checked: no keys "
            "given for their source or sink org"
        )
    if found.pending_replacements:
        lines.append(
            f"warning: {len(found.pending_replacements)} connection(s) were deleted by a replacement "
            "whose create has not succeeded yet: the next `pulumi up` creates them"
        )
    return lines


def render_code(plans: Sequence[Adoption], names: dict[str, str]) -> str:
    """Pulumi code adopting the orphans, grouped by the stack to paste it into."""
    lines = [
        "# Orphan org connections found by `dd-org-connections reconcile`: in the API, held by none",
        "# of the given stacks. Paste each group into the program of the stack it names, then run",
        "# `pulumi up`: adopt_id makes the resource take over the connection (no create, data keeps",
        "# flowing). A resource whose create an interrupted `pulumi up` left pending keeps its name:",
        "# replace that declaration with this one (or add its adopt_id line to it).",
        "",
        "from datadog_org_connections import OrgConnection",
    ]
    order = sorted({p.stack for p in plans}, key=lambda s: (s is None, s or ""))
    for stack in order:
        where = (
            f"stack {stack}"
            if stack
            else "the stack that manages the source org: no source_org means its own keys (datadog:apiKey)"
        )
        lines += ["", f"# --- in {clean(where)}"]
        for p in (p for p in plans if p.stack == stack):
            conn = p.conn
            comment = (
                f"{names.get(conn.source_org_id.lower(), '?')} -> {names.get(conn.sink_org_id.lower(), '?')}, "
                f"created {when(conn.created_at)}"
                + ("; its create was interrupted in this stack" if p.interrupted else "")
            )
            lines += ["", *adopt_block(conn, p.name, comment, source_org=p.source_org)]
    return "\n".join(lines) + "\n"


def _declared_json(d: Declared) -> dict[str, Any]:
    return {
        "id": d.id,
        "stack": d.stack,
        "resource": d.name,
        "urn": d.urn,
        "source_org_id": d.source_org_id,
        "sink_org_id": d.sink_org_id,
        "connection_types": list(d.connection_types),
        "adopted": d.adopted,
    }


def render_json(
    exports: Sequence[StackExport],
    actual: Actual,
    found: Findings,
    plans: Sequence[Adoption],
    code: str | None,
    revoked: Sequence[str],
    repairs: Sequence[Repair] = (),
) -> dict[str, Any]:
    """The ``--json`` document (always the same keys)."""
    names = actual.names
    plan_of = {p.conn.id: p for p in plans}
    return {
        "status": "drift"
        if found.drift
        else ("incomplete" if found.incomplete or actual.refused else "in_sync"),
        "stacks": [
            {"stack": e.label, "connections": len(e.declared), "interrupted_creates": len(e.pending)}
            for e in exports
        ],
        "orgs": [
            {"id": v.org.id, "name": v.org.name, "keys": v.keys.label} for v in actual.views if v.org.id
        ],
        "orphans": [
            {
                "id": c.id,
                "source_org_id": c.source_org_id,
                "source_org_name": c.source_org_name,
                "sink_org_id": c.sink_org_id,
                "sink_org_name": c.sink_org_name,
                "connection_types": list(c.connection_types),
                "created_at": c.created_at,
                "created_by_name": c.created_by_name,
                "adopt_as": {
                    "stack": plan_of[c.id].stack,
                    "resource": plan_of[c.id].name,
                    "source_org": plan_of[c.id].source_org,
                    "interrupted_create": plan_of[c.id].interrupted,
                    "planned_create": plan_of[c.id].planned,
                },
            }
            for c in found.orphans
        ],
        "ghosts": [_declared_json(d) for d in found.ghosts],
        "type_differences": [
            {**_declared_json(d), "api_connection_types": list(c.connection_types)}
            for d, c in found.type_diffs
        ],
        "shared": [{"id": i, "held_by": [_declared_json(d) for d in ds]} for i, ds in found.shared],
        "unchecked": [_declared_json(d) for d in found.unchecked],
        "orgs_without_keys": [{"id": o, "name": names.get(o)} for o in found.orgs_without_keys],
        "refused_keys": [
            {"keys": r.keys.label, "alias": r.keys.alias, "reason": r.reason} for r in actual.refused
        ],
        "at_risk": [connection_json(c, None) for c in found.at_risk],
        "revoked": list(revoked),
        "repair": [r.json() for r in repairs],
        "adoption_code": code,
    }
