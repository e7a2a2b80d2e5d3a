"""``reconcile --stack NAME``: the stack's export, configuration and planned creates, from ``pulumi``.

Runs the Pulumi CLI found on ``PATH`` in the current directory (the project's, as ``pulumi`` itself
needs), with the environment as it is (backend login, ``PULUMI_CONFIG_PASSPHRASE``...):

- ``pulumi stack export --show-secrets``: the state (secret outputs readable; the provider
  resources, which hold the stack's keys, are never looked at);
- ``pulumi config --show-secrets --json``: the keys, and any ``orgConnections:adopt`` already set;
- ``pulumi preview --json``, only when asked (:func:`planned_creates`): the creates the program
  declares and the state lacks, for orphans no pending create accounts for.

What these print holds keys in clear: it stays in memory, is never written nor printed, and an
error quotes only the last line of the CLI's stderr, with every key read replaced.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..advice import EXIT_CONFIG, EXIT_USAGE
from ..errors import redact
from ..stack_config import ADOPT_KEY, StackConfig
from . import CliError
from .findings import Adoption, Findings, plan_adoptions
from .repair import Repair, plan_repairs, read_plan, stale_notes
from .sources import (
    Actual,
    InputError,
    PendingCreate,
    StackConfigDoc,
    StackExport,
    read_export,
    read_stack_config,
)

__all__ = [
    "PulumiStack",
    "StackInputs",
    "adoptions_and_repairs",
    "gather",
    "planned_from_pulumi",
    "preview_creates",
    "read_stack",
]

#: Seconds one `pulumi` command may take (a preview runs the program).
TIMEOUT_SECONDS = 900.0


@dataclass(frozen=True)
class PulumiStack:
    """A stack read through the CLI: its name as given, its export, its configuration."""

    name: str
    export: StackExport
    config: StackConfigDoc


def _pulumi() -> str:
    exe = shutil.which("pulumi")
    if exe is None:
        raise CliError(
            "--stack runs the pulumi CLI, and there is no `pulumi` on PATH: install it, or give the stack's "
            "export (`pulumi stack export`) and its configuration (--stack-config) instead",
            EXIT_CONFIG,
        )
    return exe


def _run(args: Sequence[str], secrets: Sequence[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [_pulumi(), *args, "--non-interactive"], capture_output=True, text=True,
            timeout=TIMEOUT_SECONDS, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise CliError(f"`pulumi {' '.join(args)}` did not end within {TIMEOUT_SECONDS:.0f} s") from None
    except OSError as exc:
        raise CliError(f"cannot run pulumi: {redact(str(exc), secrets)}", EXIT_CONFIG) from None


def _why(proc: subprocess.CompletedProcess[str], secrets: Sequence[str]) -> str:
    lines = [line.strip() for line in (proc.stderr or proc.stdout or "").splitlines() if line.strip()]
    return redact(lines[-1] if lines else f"exit status {proc.returncode}", secrets)


def _read(args: Sequence[str], secrets: Sequence[str]) -> str:
    proc = _run(args, secrets)
    if proc.returncode != 0:
        raise CliError(
            f"`pulumi {' '.join(args)}` failed: {_why(proc, secrets)} (run reconcile in the project's "
            "directory, where Pulumi.yaml is, logged in to the stack's backend)",
            EXIT_USAGE,
        )
    return proc.stdout


def read_stack(name: str) -> PulumiStack:
    """The export and configuration of stack ``name`` (a usage error when either cannot be read)."""
    label = f"stack {name}"
    config_text = _read(["config", "--show-secrets", "--json", "--stack", name], [])
    try:
        config = read_stack_config(io.StringIO(config_text), label)
        export = read_export(
            io.StringIO(_read(["stack", "export", "--show-secrets", "--stack", name], [])), label
        )
    except InputError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    return PulumiStack(name, export, StackConfigDoc(label, config.raw, export.label))


def planned_from_pulumi(stack: PulumiStack, secrets: Sequence[str]) -> tuple[list[PendingCreate], str | None]:
    """The creates ``pulumi preview --json`` plans for ``stack``, or ``([], why)`` when it failed."""
    proc = _run(["preview", "--json", "--stack", stack.name], secrets)
    if proc.returncode != 0:
        return [], _why(proc, secrets)
    try:
        return read_plan(proc.stdout, f"pulumi preview --json --stack {stack.name}"), None
    except InputError as exc:
        return [], str(exc)


# ------------------------------------------------------------------------------ all inputs


@dataclass
class StackInputs:
    """What ``reconcile`` was given about the stacks: exports (files and ``--stack``), their
    configurations, and the creates their programs plan (``--plan`` files)."""

    exports: list[StackExport]
    configs: list[StackConfigDoc]
    stacks: list[PulumiStack]
    planned: list[PendingCreate]
    notes: list[str]  # warnings for stderr

    def current_adopt(self) -> dict[str, dict[str, str]]:
        """Stack -> its ``orgConnections:adopt`` now, for the stacks whose configuration is known."""
        return {c.stack: StackConfig(c.raw).adoptions for c in self.configs if c.stack is not None}

    def pulumi_names(self) -> dict[str, str]:
        """Stack -> the name given with ``--stack`` (what the printed commands take)."""
        return {s.export.label: s.name for s in self.stacks}


def gather(
    file_exports: Sequence[StackExport],
    stack_names: Sequence[str],
    stack_config: StackConfigDoc | None,
    plan_texts: Sequence[tuple[str, str]],
) -> StackInputs:
    """Read the ``--stack`` stacks through pulumi and the ``--plan`` documents ((text, label)); a
    stack given twice, or an unusable document, is a usage error."""
    stacks = [read_stack(name) for name in dict.fromkeys(stack_names)]
    exports = [*file_exports, *(s.export for s in stacks)]
    labels = [e.label for e in exports]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise CliError(f"stack {twice[0]} is given twice: give each stack's export once", EXIT_USAGE)
    configs = [s.config for s in stacks]
    notes = []
    if stack_config is not None:
        only = exports[0].label if len(exports) == 1 else None
        configs.append(StackConfigDoc(stack_config.label, stack_config.raw, only))
        if only is None and StackConfig(stack_config.raw).adoptions:
            notes.append(
                f"warning: {stack_config.label}: its {ADOPT_KEY} is not merged into the repair: with several "
                "stacks given, which one it configures is not known (give each with --stack NAME instead)"
            )
    planned = []
    for text, label in plan_texts:
        try:
            planned += read_plan(text, label)
        except InputError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
    return StackInputs(exports, configs, stacks, planned, notes)


def preview_creates(inputs: StackInputs, secrets: Sequence[str]) -> tuple[list[PendingCreate], list[str]]:
    """The creates ``pulumi preview --json`` plans for each ``--stack`` stack, and warnings for the
    previews that failed (the orphans they might have explained keep their adoption code)."""
    planned: list[PendingCreate] = []
    notes = []
    for stack in inputs.stacks:
        found, why = planned_from_pulumi(stack, secrets)
        planned += found
        if why is not None:
            notes.append(f"warning: `pulumi preview --json --stack {stack.name}` failed, so the creates its "
                         f"program declares are not known: {why}")  # fmt: skip
    return planned, notes


def adoptions_and_repairs(
    inputs: StackInputs,
    actual: Actual,
    found: Findings,
    secrets: Sequence[str],
    say: Callable[[str], None],
    revoking: bool = False,
) -> tuple[list[Adoption], list[Repair]]:
    """How to adopt each orphan, and the repairs (stack config) for those a resource of a stack was
    being created for. When pending creates do not account for every orphan, the programs of the
    ``--stack`` stacks are asked what they declare (``pulumi preview --json``). ``say``: stderr."""
    loaded = inputs.exports
    plans = plan_adoptions(found.orphans, loaded, actual, inputs.planned)
    if revoking:
        return plans, []
    if inputs.stacks and any(not (p.interrupted or p.planned) for p in plans):
        more = f" (and {len(inputs.stacks) - 1} more stack(s))" if len(inputs.stacks) > 1 else ""
        say(f"matching orphans with the creates the programs declare: pulumi preview --json --stack "
            f"{inputs.stacks[0].name}{more}")  # fmt: skip
        planned, notes = preview_creates(inputs, secrets)
        for line in notes:
            say(line)
        plans = plan_adoptions(found.orphans, loaded, actual, [*inputs.planned, *planned])
    current, names = inputs.current_adopt(), inputs.pulumi_names()
    repairs = plan_repairs(plans, loaded, current, names)
    for repair in repairs:
        for left in repair.left_out:
            say(left.warning(repair.stack))
    for line in stale_notes(loaded, current, repairs, names):
        say(line)
    return plans, repairs
