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
from dataclasses import dataclass
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
from .reconcile_report import render_code, render_json, render_report, warnings
from .repair import Repair, render_repairs
from .sources import (
    Actual,
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
    _check_usage(exports, stacks, output, revoke_orphans, yes)
    inputs = _inputs(exports, stacks, stack_config, plans)
    for line in inputs.notes:
        click.echo(line, err=True)
    actual = load_actual(
        settings,
        orgs,
        None,
        required=True,
        reading=ReadOptions(parallel, progress),
        need_org=True,
        configs=inputs.configs,
    )
    assert actual is not None
    try:
        result = _reconcile(settings, inputs, actual, as_json, revoke_orphans, yes)
    finally:
        actual.close()
    _print_result(inputs.exports, actual, result, as_json, output)
    found = result.found
    remaining = found.ghosts or found.type_diffs or found.shared or (found.orphans and not result.revoked)
    incomplete = found.incomplete or actual.refused
    status = EXIT_DRIFT if remaining else (EXIT_INCOMPLETE if incomplete else EXIT_OK)
    if status:
        raise click.exceptions.Exit(status)


def _check_usage(
    exports: tuple[IO[str], ...], stacks: tuple[str, ...], output: str | None, revoke: bool, yes: bool
) -> None:
    if output and revoke:
        raise click.UsageError("--output writes the adoption code: it does not go with --revoke-orphans")
    if yes and not revoke:
        raise click.UsageError("--yes only goes with --revoke-orphans")
    if not exports and not stacks:
        raise click.UsageError(
            "give the stacks to compare: EXPORT files (`pulumi stack export`) or --stack NAME"
        )


@dataclass
class _Result:
    """What `reconcile` found and decided, to print."""

    found: Findings
    adoptions: list[Adoption]
    repairs: list[Repair]
    rest: list[Adoption]  # orphans no repair covers: adopted by code
    code: str | None
    revoked: list[str]


def _reconcile(
    settings: CliOptions,
    inputs: StackInputs,
    actual: Actual,
    as_json: bool,
    revoke_orphans: bool,
    yes: bool,
) -> _Result:
    """Compare, plan repairs and adoptions, print the report (not with --json), revoke if asked."""
    names = actual.names
    found = compare(inputs.exports, actual)
    for line in [*refused_warnings(actual), *warnings(found, names)]:
        click.echo(line, err=True)
    adoptions, repairs = adoptions_and_repairs(
        inputs, actual, found, settings.secrets(), lambda line: click.echo(line, err=True), revoke_orphans
    )
    repaired = {i for r in repairs for i in r.found.values()}
    rest = [p for p in adoptions if p.conn.id.lower() not in repaired]
    code = render_code(rest, names) if rest and not revoke_orphans else None
    if not as_json:
        click.echo(render_report(inputs.exports, actual, found, len(repaired)), nl=False)
    revoked = _revoke(settings, actual, found, yes) if revoke_orphans and found.orphans else []
    return _Result(found, list(adoptions), list(repairs), rest, code, revoked)


def _print_result(
    exports: Sequence[StackExport], actual: Actual, result: _Result, as_json: bool, output: str | None
) -> None:
    """The JSON document, or the revoked ids, repairs and adoption code after the report."""
    if as_json:
        _emit_json(
            render_json(
                exports, actual, result.found, result.adoptions, result.code, result.revoked, result.repairs
            )
        )
    else:
        for conn_id in result.revoked:
            click.echo(f"revoked connection {conn_id}")
        if result.repairs:
            click.echo()
            click.echo(render_repairs(result.repairs), nl=False)
        if result.code is not None and output is None:
            click.echo()
            click.echo(result.code, nl=False)
    if result.code is not None and output is not None:
        write_file(output, result.code)
        click.echo(f"code adopting {len(result.rest)} orphan(s) written to {output}", err=True)
