"""``dd-org-connections reconcile``: stacks' state against the API; orphans adopted or revoked.

Compares the ``OrgConnection`` resources of one or more ``pulumi stack export`` documents with
the connections the given orgs' keys list (rules in :mod:`.findings`), reports orphans, ghosts,
types that differ and ids held by more than one resource, and prints the code that adopts the
orphans (or deletes them with ``--revoke-orphans``). See ``docs/cli.md``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import IO, Any

import click

from ..errors import ConfigurationError, ForbiddenError, redact
from . import (
    _KEYS_HINT,
    _SITE_HINT,
    CLI_KEY_SOURCES,
    EXIT_API,
    EXIT_CONFIG,
    EXIT_DRIFT,
    EXIT_FORBIDDEN,
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    CliOptions,
    _confirm,
    _emit_json,
    _reported,
    _settings,
    cli,
    write_file,
)
from .findings import Adoption, Findings, compare
from .reading import DEFAULT_PARALLEL, MAX_PARALLEL, Progress, read_views, short_name
from .repair import Repair, render_repairs
from .sources import (
    Actual,
    Declared,
    InputError,
    KeyOptions,
    KeySet,
    OrgView,
    Refused,
    StackConfigDoc,
    StackExport,
    key_sets,
    read_export,
    read_stack_config,
)
from .stacks import StackInputs, adoptions_and_repairs, gather
from .views import adopt_block, clean, connection_json, creator_text, table, when

__all__ = [
    "ReadOptions",
    "load_actual",
    "load_exports",
    "reconcile_command",
    "refused_warnings",
    "stack_options",
]


# ----------------------------------------------------------------------------- shared plumbing


def stack_options(fn: Any) -> Any:
    """The key-source and reading options ``reconcile`` and ``graph`` share."""
    fn = click.option(
        "--progress/--no-progress",
        default=None,
        help="Show which orgs are still being read, on stderr [default: when stderr is a terminal].",
    )(fn)
    fn = click.option(
        "--parallel",
        type=click.IntRange(1, MAX_PARALLEL),
        default=DEFAULT_PARALLEL,
        show_default=True,
        metavar="N",
        help="Orgs read at once, each with its own keys, retries and rate limit; 1 reads them one by one.",
    )(fn)
    fn = click.option(
        "--stack-config",
        type=click.File("r", encoding="utf-8"),
        metavar="FILE",
        help="Keys of a stack: the output of `pulumi config --show-secrets --json` (- for stdin; "
        "pipe it, do not save it): datadog:apiKey/appKey and every orgConnections:orgs alias.",
    )(fn)
    return click.option(
        "--org",
        "orgs",
        multiple=True,
        metavar="ALIAS",
        help="Also use the keys in DD_API_KEY_<ALIAS> / DD_APP_KEY_<ALIAS> (ALIAS upper-cased, - as _). Repeatable.",
    )(fn)


def load_exports(files: Sequence[IO[str]]) -> list[StackExport]:
    """Parse the stack exports given (a usage error names the file and the fix)."""
    if sum(f.name == "<stdin>" for f in files) > 1:
        raise CliError("stdin (-) can be given only once", EXIT_USAGE)
    exports: list[StackExport] = []
    for f in files:
        label = "stdin" if f.name == "<stdin>" else os.path.basename(f.name)
        try:
            exports.append(read_export(f, label))
        except InputError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
    labels = [e.label for e in exports]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise CliError(f"stack {twice[0]} is given twice: give each stack's export once", EXIT_USAGE)
    return exports


class ReadOptions:
    """How to read the orgs: ``--parallel`` and ``--progress`` (None: when stderr is a terminal)."""

    def __init__(self, parallel: int = DEFAULT_PARALLEL, progress: bool | None = None) -> None:
        self.parallel, self.progress = parallel, progress

    def progress_for(self, sets: Sequence[KeySet]) -> Progress | None:
        """The progress display for reading ``sets``, if one is wanted."""
        stream = sys.stderr
        live = stream.isatty()
        if not (self.progress if self.progress is not None else live):
            return None
        return Progress(stream, [short_name(ks) for ks in sets], live=live)


def load_actual(
    settings: CliOptions,
    orgs: Sequence[str],
    stack_config: IO[str] | None,
    *,
    required: bool,
    reading: ReadOptions | None = None,
    need_org: bool = False,
    configs: Sequence[StackConfigDoc] = (),
) -> Actual | None:
    """Resolve the key sets and list what each sees, several at once (``None``: no keys given and
    not ``required``).

    A key set the API refuses (401/403), or, with ``need_org``, whose org cannot be told, is left out
    and named in ``Actual.refused``; when every key set is, that is the error. Any other API error
    fails the command as before (naming whose keys got it).
    """
    label = "stdin" if stack_config is not None and stack_config.name == "<stdin>" else None
    opts = KeyOptions(
        settings.api_key,
        settings.app_key,
        settings.api_url,
        settings.site,
        CLI_KEY_SOURCES,
        orgs=orgs,
        stack_config=(stack_config, label or os.path.basename(stack_config.name)) if stack_config else None,
        secrets=settings.more_secrets,
        configs=configs,
    )
    try:
        sets = key_sets(opts, required=required)
    except InputError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except ConfigurationError as exc:
        message = redact(str(exc), [*settings.secrets(), *opts.secrets])
        if not orgs and stack_config is None and not configs:  # the environment's keys: the usual hints
            message += f"; {_KEYS_HINT if exc.setting == 'keys' else _SITE_HINT}"
        raise CliError(message, EXIT_CONFIG) from None
    if not sets:
        return None
    reading = reading or ReadOptions()
    outcomes = read_views(
        sets, settings.timeout, settings.max_attempts,
        parallel=reading.parallel, progress=reading.progress_for(sets),
    )  # fmt: skip
    return _sort_outcomes(settings, sets, outcomes, need_org)


def _sort_outcomes(
    settings: CliOptions, sets: Sequence[KeySet], outcomes: Sequence[OrgView | BaseException], need_org: bool
) -> Actual:
    views: list[OrgView] = []
    refused: list[Refused] = []
    for ks, outcome in zip(sets, outcomes, strict=True):
        if isinstance(outcome, OrgView):
            if need_org and outcome.org.id is None:
                outcome.client.close()
                refused.append(_unknown_org(settings, outcome))
            else:
                views.append(outcome)
        elif isinstance(outcome, ForbiddenError):
            refused.append(Refused(ks, redact(str(outcome), settings.secrets()), EXIT_FORBIDDEN))
    failure = next(((ks, o) for ks, o in zip(sets, outcomes, strict=True) if isinstance(o, BaseException)
                    and not isinstance(o, ForbiddenError)), None)  # fmt: skip
    if failure is not None or not views:
        Actual(views).close()
    if failure is not None:
        ks, exc = failure
        with _reported(settings, prefix=f"{ks.label}: "):
            raise exc
    if not views:
        first, others = refused[0], len(refused) - 1
        more = f"; the {others} other key set(s) given could not be used either" if others else ""
        raise CliError(f"{first.keys.label}: {first.reason}{more}", first.exit_code)
    return Actual(views, refused)


def _unknown_org(settings: CliOptions, view: OrgView) -> Refused:
    """Keys whose org cannot be told (read-only keys whose connections do not name it)."""
    error = view.org.error
    why = redact(str(error), settings.secrets()) if error else "GET /api/v2/org failed"
    return Refused(
        view.keys,
        f"cannot tell which org these keys belong to, and their connections do not tell ({why})",
        EXIT_FORBIDDEN if isinstance(error, ForbiddenError) else EXIT_API,
    )


def refused_warnings(actual: Actual) -> list[str]:
    """One stderr warning per key set that could not be used, with why."""
    return [
        f"warning: {r.keys.label}: not used, that org's connections were not read: {r.reason}"
        for r in actual.refused
    ]


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


def _revoke(settings: CliOptions, actual: Actual, found: Findings, yes: bool) -> list[str]:
    orphans = found.orphans
    if not yes:
        _confirm(f"Revoke the {len(orphans)} orphan connection(s) listed above? Data stops flowing at once.")
    done: list[str] = []
    for conn in orphans:
        view = actual.seen_by[conn.id.lower()]
        so_far = f"revoked {len(done)} of {len(orphans)} orphan(s) ({', '.join(done) or 'none'}), then "
        with _reported(settings, prefix=f"{so_far}{view.keys.label}: "):
            view.client.delete_connection(conn.id, missing_ok=True)
        done.append(conn.id)
    return done


def _inputs(
    exports: Sequence[IO[str]], stacks: Sequence[str], stack_config: IO[str] | None, plans: Sequence[IO[str]]
) -> StackInputs:
    """The stacks' side: export files, --stack stacks (read through pulumi), --stack-config, --plan."""
    if sum(f.name == "<stdin>" for f in [*exports, *plans, *([stack_config] if stack_config else [])]) > 1:
        raise click.UsageError("stdin (-) can feed one input only: a stack export, --stack-config or --plan")
    doc = None
    if stack_config is not None:
        label = "stdin" if stack_config.name == "<stdin>" else os.path.basename(stack_config.name)
        try:
            doc = read_stack_config(stack_config, label)
        except InputError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
    texts = [(f.read(), "stdin" if f.name == "<stdin>" else os.path.basename(f.name)) for f in plans]
    return gather(load_exports(exports), stacks, doc, texts)


@cli.command("reconcile")
@click.argument("exports", nargs=-1, type=click.File("r", encoding="utf-8"), metavar="[EXPORT]...")
@click.option(
    "--stack",
    "stacks",
    multiple=True,
    metavar="NAME",
    help="Read stack NAME through the pulumi CLI, in the current directory: its export and its configuration "
    "(keys and orgConnections:adopt), and, for orphans no interrupted create explains, `pulumi preview "
    "--json`. Repeatable; instead of or beside EXPORT files.",
)
@click.option(
    "--plan",
    "plans",
    multiple=True,
    type=click.File("r", encoding="utf-8"),
    metavar="FILE",
    help="The output of `pulumi preview --json` of a stack (- for stdin): orphans whose pair a planned "
    "create declares are adopted by that resource. Repeatable.",
)
@stack_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the report.")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False), help="Write the adoption code to FILE, not stdout."
)
@click.option(
    "--revoke-orphans", is_flag=True, help="Delete the orphans instead of printing code adopting them."
)
@click.option("--yes", "-y", is_flag=True, help="With --revoke-orphans: do not ask for confirmation.")
@click.pass_context
def reconcile_command(
    ctx: click.Context,
    exports: tuple[IO[str], ...],
    stacks: tuple[str, ...],
    plans: tuple[IO[str], ...],
    orgs: tuple[str, ...],
    stack_config: IO[str] | None,
    parallel: int,
    progress: bool | None,
    as_json: bool,
    output: str | None,
    revoke_orphans: bool,
    yes: bool,
) -> None:
    """Compare stacks' state (`pulumi stack export` files, - for stdin, or --stack NAME) with the API.

    Reports orphans (in the API, held by none of the given stacks), ghosts (held by a stack, gone
    from the API), types that differ, and ids held by more than one resource. Orphans an interrupted
    `pulumi up` made for a resource of a stack get a REPAIR: the commands that set stack config
    orgConnections:adopt and run `pulumi up` (no program edit, nothing deleted); others get the code
    adopting them, or are deleted with --revoke-orphans. The API is read with the keys of the
    environment, --org, --stack-config and --stack: give the keys of every org the stacks manage.
    Needs org_connections_read, and org_connections_write to learn which org each key belongs to
    and to revoke (or org_management). The orgs are read several at once (--parallel); keys the API
    refuses are named and left out. Exit status 0 in sync, 6 drift, 7 not everything checked
    (keys missing or refused).
    """
    settings = _settings(ctx)
    if output and revoke_orphans:
        raise click.UsageError("--output writes the adoption code: it does not go with --revoke-orphans")
    if yes and not revoke_orphans:
        raise click.UsageError("--yes only goes with --revoke-orphans")
    if not exports and not stacks:
        raise click.UsageError(
            "give the stacks to compare: EXPORT files (`pulumi stack export`) or --stack NAME"
        )
    inputs = _inputs(exports, stacks, stack_config, plans)
    for line in inputs.notes:
        click.echo(line, err=True)
    loaded = inputs.exports
    reading = ReadOptions(parallel, progress)
    actual = load_actual(
        settings, orgs, None, required=True, reading=reading, need_org=True, configs=inputs.configs
    )
    assert actual is not None
    names = actual.names
    try:
        found = compare(loaded, actual)
        for line in [*refused_warnings(actual), *warnings(found, names)]:
            click.echo(line, err=True)
        adoptions, repairs = adoptions_and_repairs(
            inputs, actual, found, settings.secrets(), lambda line: click.echo(line, err=True), revoke_orphans
        )
        repaired = {i for r in repairs for i in r.found.values()}
        rest = [p for p in adoptions if p.conn.id.lower() not in repaired]
        code = render_code(rest, names) if rest and not revoke_orphans else None
        if not as_json:
            click.echo(render_report(loaded, actual, found, len(repaired)), nl=False)
        revoked = _revoke(settings, actual, found, yes) if revoke_orphans and found.orphans else []
    finally:
        actual.close()
    if as_json:
        _emit_json(render_json(loaded, actual, found, adoptions, code, revoked, repairs))
    else:
        for conn_id in revoked:
            click.echo(f"revoked connection {conn_id}")
        if repairs:
            click.echo()
            click.echo(render_repairs(repairs), nl=False)
        if code is not None and output is None:
            click.echo()
            click.echo(code, nl=False)
    if code is not None and output is not None:
        write_file(output, code)
        click.echo(f"code adopting {len(rest)} orphan(s) written to {output}", err=True)
    remaining = found.ghosts or found.type_diffs or found.shared or (found.orphans and not revoked)
    incomplete = found.incomplete or actual.refused
    status = EXIT_DRIFT if remaining else (EXIT_INCOMPLETE if incomplete else EXIT_OK)
    if status:
        raise click.exceptions.Exit(status)
