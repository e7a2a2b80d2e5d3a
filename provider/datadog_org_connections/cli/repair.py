"""The repair ``reconcile`` prints for the connections an interrupted ``pulumi up`` made.

A killed ``pulumi up`` (a CI runner gone) can leave connections in the API that the state does not
hold; the next ``pulumi up`` of that stack meets them as HTTP 409. When such an orphan is the
connection a resource of the stack was being created for, the program needs no edit: stack config
``orgConnections:adopt`` (``{"<resource name>": "<connection id>"}``) makes that resource's create
take it over on the 409 (the provider reads it nowhere else: ``provider.py``), with no DELETE.

Which resource an orphan belongs to, in order:

1. a create the interrupted run left pending in the stack's state (``pending_operations``, type
   ``creating``) that recorded the orphan's id, else one of the same (source org, sink org);
2. a create ``pulumi preview --json`` plans (``steps[]``, op ``create``, ``newState.inputs``): the
   program declares the pair and the state lacks it (the pending operations were cleared since).

The value printed merges the stack's current ``orgConnections:adopt`` (when its configuration was
given) and never names a connection another resource of the given stacks holds. See
``docs/faults.md`` and ``docs/cli.md``.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..stack_config import ADOPT_KEY
from .findings import Adoption
from .sources import ORG_CONNECTION_TYPE, InputError, PendingCreate, StackExport, urn_parts

__all__ = ["LeftOut", "Repair", "plan_repairs", "read_plan", "render_repairs", "stale_notes"]


# ------------------------------------------------------------------------------ planned creates


def read_plan(text: str, label: str) -> list[PendingCreate]:
    """The ``OrgConnection`` creates of a ``pulumi preview --json`` document (:class:`InputError`
    when it is not one). A create whose sink is secret or unknown is left out (it cannot be matched)."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InputError(f"{label}: not JSON ({exc}): give the output of `pulumi preview --json`") from None
    steps = doc.get("steps") if isinstance(doc, Mapping) else None
    if not isinstance(steps, list):
        raise InputError(f"{label}: not the output of `pulumi preview --json` (no steps)")
    found = []
    for step in steps:
        state = step.get("newState") if isinstance(step, Mapping) else None
        if step.get("op") != "create" or not isinstance(state, Mapping):
            continue
        if state.get("type") != ORG_CONNECTION_TYPE:
            continue
        inputs = state.get("inputs") or {}
        urn = str(state.get("urn") or step.get("urn") or "")
        stack, name = urn_parts(urn)
        sink, alias = inputs.get("sink_org_id"), inputs.get("source_org")
        if not stack or not isinstance(sink, str) or len(sink) != 36:
            continue  # "[secret]", or an output not known at preview
        found.append(PendingCreate(stack, name, urn, alias if isinstance(alias, str) else None, sink.lower()))
    return found


# ------------------------------------------------------------------------------ the repair


@dataclass(frozen=True)
class LeftOut:
    """An entry of the stack's current ``orgConnections:adopt`` not carried into the printed value."""

    resource: str
    conn_id: str
    held_by: str  # "project/stack: name" of the resource that holds the connection

    def warning(self, stack: str) -> str:
        return (
            f"warning: {ADOPT_KEY}.{self.resource} of stack {stack} names connection {self.conn_id}, which "
            f"{self.held_by} holds: left out of the value printed below (a connection has one holder)"
        )


@dataclass
class Repair:
    """The repair of one stack: the ``orgConnections:adopt`` value and the commands that apply it."""

    stack: str  # project/stack
    pulumi_stack: str  # what the commands' --stack takes
    found: dict[str, str]  # resource name -> orphan id, found now
    adopt: dict[str, str]  # the value to set: the current value merged with `found`
    pending_creates: int  # pending create operations in the export (a killed run)
    left_out: list[LeftOut] = field(default_factory=list)
    pending_others: int = 0  # of those, creates of other resources than connections

    def commands(self) -> list[str]:
        """The commands, in order, one per line (a comment after ``#`` says why, where it helps)."""
        stack = shlex.quote(self.pulumi_stack)
        value = shlex.quote(json.dumps(dict(sorted(self.adopt.items()))))
        lines = []
        if self.pending_creates:
            lines.append(
                f"pulumi cancel --stack {stack}  # the lock the killed run left, if pulumi says the stack is "
                "currently locked; only while no other update of this stack runs"
            )
        lines += [
            f"pulumi config set --stack {stack} {ADOPT_KEY} {value}",
            f"pulumi up --stack {stack} --yes",
        ]
        clear = f"pulumi refresh --stack {stack} --clear-pending-creates --yes --non-interactive"
        if self.pending_others:  # not ours to judge: a comment, not a command
            lines.append(
                f"# {clear}: drops the pending creates the interrupted run left, but {self.pending_others} of "
                "them are other resources than org connections: first check whether those were made "
                "(pulumi's warning lists them), then run it"
            )
        elif self.pending_creates:
            lines.append(
                f"{clear}  # drops the {self.pending_creates} pending create(s) the interrupted run left; "
                "reads only, changes nothing in Datadog"
            )
        return lines

    def afterwards(self) -> list[str]:
        """What to run once the repair's ``pulumi up`` succeeded (not needed for the repair)."""
        return [f"pulumi config rm --stack {shlex.quote(self.pulumi_stack)} {ADOPT_KEY}"]

    def json(self) -> dict[str, Any]:
        """The ``--json`` object of this repair."""
        return {
            "stack": self.stack,
            "adopt": dict(sorted(self.adopt.items())),
            "found": dict(sorted(self.found.items())),
            "pending_creates": self.pending_creates,
            "pending_others": self.pending_others,
            "commands": self.commands(),
            "afterwards": self.afterwards(),
            "left_out": [
                {"resource": o.resource, "id": o.conn_id, "held_by": o.held_by} for o in self.left_out
            ],
        }


def _holders(exports: Sequence[StackExport]) -> dict[str, list[tuple[str, str]]]:
    """Connection id -> every (stack, resource name) of the exports that holds it."""
    held: dict[str, list[tuple[str, str]]] = {}
    for export in exports:
        for d in export.declared:
            if not d.pending_replacement:
                held.setdefault(d.id, []).append((export.label, d.name))
    return held


def plan_repairs(
    plans: Sequence[Adoption],
    exports: Sequence[StackExport],
    current: Mapping[str, Mapping[str, str]],
    pulumi_names: Mapping[str, str],
) -> list[Repair]:
    """One :class:`Repair` per stack with orphans its resources were (being) created for.

    ``current``: stack -> its ``orgConnections:adopt`` now (when its configuration was given);
    ``pulumi_names``: stack -> the name ``--stack`` takes (default: the stack part of the label).
    """
    found: dict[str, dict[str, str]] = {}
    for p in plans:
        if (p.interrupted or p.planned) and p.stack:
            found.setdefault(p.stack, {})[p.name] = p.conn.id.lower()
    held = _holders(exports)
    pending = {e.label: (e.pending_creates, e.pending_others) for e in exports}
    repairs = []
    for stack, entries in sorted(found.items()):
        adopt: dict[str, str] = {}
        left_out = []
        for name, conn_id in sorted(current.get(stack, {}).items()):
            holders = [h for h in held.get(conn_id, []) if h != (stack, name)]
            if holders and name not in entries:
                left_out.append(LeftOut(name, conn_id, f"{holders[0][0]}: {holders[0][1]}"))
            elif name not in entries:
                adopt[name] = conn_id
        adopt.update(entries)
        name = pulumi_names.get(stack) or stack.split("/", 1)[-1]
        creates, other_creates = pending.get(stack, (0, 0))
        repairs.append(Repair(stack, name, entries, adopt, creates, left_out, other_creates))
    return repairs


def render_repairs(repairs: Sequence[Repair]) -> str:
    """The REPAIR section of the report: per stack, the commands to paste, in order."""
    total = sum(len(r.found) for r in repairs)
    out = [
        f"REPAIR: {total} orphan(s) are connections the stacks' resources were being created for: the stack "
        f"config {ADOPT_KEY} makes their create take them over (no program edit, nothing deleted)",
    ]
    for r in repairs:
        out += [
            f"# stack {r.stack}: {len(r.found)} connection(s); run these in its project's directory, in order:",
            *r.commands(),
            "# then, once that `pulumi up` succeeded, the value has done its work (left in place, it could one",
            "# day let this stack take over a connection another stack was given): remove it",
            *r.afterwards(),
        ]
    return "\n".join(out) + "\n"


def stale_notes(
    exports: Sequence[StackExport],
    current: Mapping[str, Mapping[str, str]],
    repairs: Sequence[Repair],
    pulumi_names: Mapping[str, str],
) -> list[str]:
    """Notes (stderr) for stacks without a repair: pending creates to clear, an adopt value done."""
    repaired = {r.stack for r in repairs}
    held = _holders(exports)
    notes = []
    for export in exports:
        if export.label in repaired:
            continue
        stack = shlex.quote(pulumi_names.get(export.label) or export.label.split("/", 1)[-1])
        if export.pending_creates and not export.pending_others:
            notes.append(
                f"note: stack {export.label} still records {export.pending_creates} pending create(s) of an "
                "interrupted `pulumi up` (pulumi warns of them on every update); no orphan is theirs: "
                f"pulumi refresh --stack {stack} --clear-pending-creates --yes --non-interactive"
            )
        value = current.get(export.label, {})
        if value and all((export.label, name) in held.get(i, []) for name, i in value.items()):
            notes.append(
                f"note: {ADOPT_KEY} of stack {export.label} has done its work (each resource it names holds "
                f"that connection): pulumi config rm --stack {stack} {ADOPT_KEY}"
            )
    return notes
