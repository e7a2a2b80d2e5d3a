"""``dd-org-connections``: the operator command line for Datadog org connections.

Lists the connections and managed orgs of the org that owns the keys, exports its outgoing
connections as Pulumi code that adopts them, revokes a connection, and runs the local emulator.
See ``docs/cli.md``. Errors are one ``error: ...`` line on stderr with a documented exit status
(:data:`EXIT_CODES`); keys are never printed.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, NoReturn

import click

from ..advice import (
    EXIT_API,
    EXIT_CONFIG,
    EXIT_FORBIDDEN,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
    advice_for,
)
from ..client import OrgConnectionsClient
from ..errors import ConfigurationError, DatadogError, NotFoundError, one_line, redact
from ..settings import API_KEY_ENV, APP_KEY_ENV, KeySources, resolve_credentials
from ..transport import READ_PERMISSION, WRITE_PERMISSION
from .views import (
    CurrentOrg,
    at_risk_note,
    clean,
    connection_json,
    creator_text,
    current_org,
    render_export,
    table,
    when,
)

__all__ = [
    "EXIT_API",
    "EXIT_CODES",
    "EXIT_CONFIG",
    "EXIT_DRIFT",
    "EXIT_FORBIDDEN",
    "EXIT_INCOMPLETE",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_USAGE",
    "cli",
    "main",
]

# The statuses of errors come from the advice table the provider uses too (one mapping of the error
# classes); drift and incomplete checks are reconcile's own.
EXIT_DRIFT, EXIT_INCOMPLETE = 6, 7

#: Exit status -> meaning; scripts can rely on these.
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_API: "API or transport error (5xx, 429, timeout, unreachable...); revoke prompt declined",
    EXIT_USAGE: "usage error (bad option or argument; revoke without --yes when not interactive)",
    EXIT_CONFIG: "configuration error: missing key, unknown site, bad API URL",
    EXIT_NOT_FOUND: "not found: no such connection visible to this org",
    EXIT_FORBIDDEN: (
        f"forbidden: wrong keys, or the app key's user lacks the command's permission "
        f"({READ_PERMISSION} or {WRITE_PERMISSION}, see above; org_management is also accepted)"
    ),
    EXIT_DRIFT: "reconcile: drift found (orphans, ghosts, types that differ, ids held twice)",
    EXIT_INCOMPLETE: (
        "reconcile: no drift found, but some connections could not be checked (keys missing, or refused by "
        "the API: named on stderr); graph: drawn without the orgs whose keys were refused"
    ),
}

#: What the commands' key settings are called here, for the missing-key message.
CLI_KEY_SOURCES = KeySources(api_key="--api-key", app_key="--app-key", how="pass {}")

_EXIT_TABLE = "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items())

_KEYS_HINT = (
    "hint: export DD_API_KEY=<api key> DD_APP_KEY=<application key> (environment rather than "
    "--api-key/--app-key, which land in shell history)"
)
_SITE_HINT = (
    "hint: set DD_SITE to a Datadog site (e.g. datadoghq.eu), or DD_HOST / --api-url to an API URL "
    "(e.g. http://127.0.0.1:8126 for the emulator)"
)


class CliError(Exception):
    """A failure to report as one ``error: <message>`` line on stderr, exiting with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = EXIT_API) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class CliOptions:
    """The group's options; the client is made on first use, so ``--help`` needs no keys."""

    api_key: str | None
    app_key: str | None
    site: str | None
    api_url: str | None
    timeout: float
    max_attempts: int
    _client: OrgConnectionsClient | None = None
    #: Keys read from other places (``--org``, ``--stack-config``), for the last redaction pass.
    more_secrets: list[str] = field(default_factory=list)

    def secrets(self) -> list[str]:
        """Key values this process knows (flags and environment), for a last redaction pass.

        The client's errors are already redacted; values under 8 characters (no real key is that
        short) are left out so that a typo such as ``DD_APP_KEY=x`` does not mangle every message.
        """
        names = (*API_KEY_ENV, *APP_KEY_ENV)
        values = (self.api_key, self.app_key, *(os.environ.get(n) for n in names), *self.more_secrets)
        return [v.strip() for v in values if v and len(v.strip()) >= 8]

    def client(self) -> OrgConnectionsClient:
        """The API client (credentials resolved now; :class:`CliError` if they are incomplete)."""
        if self._client is None:
            try:
                creds = resolve_credentials(
                    api_key=self.api_key,
                    app_key=self.app_key,
                    api_url=self.api_url,
                    site=self.site,
                    sources=CLI_KEY_SOURCES,
                )
            except ConfigurationError as exc:
                hint = _KEYS_HINT if exc.setting == "keys" else _SITE_HINT
                raise CliError(f"{redact(str(exc), self.secrets())}; {hint}", EXIT_CONFIG) from None
            self._client = OrgConnectionsClient(
                creds, timeout=(5.0, self.timeout), max_attempts=self.max_attempts
            )
        return self._client

    def close(self) -> None:
        """Close the client if one was made."""
        if self._client is not None:
            self._client.close()


@contextmanager
def _reported(settings: CliOptions, forbidden_note: str = "", prefix: str = "") -> Iterator[None]:
    """Turn client errors into :class:`CliError` with the documented exit status.

    A 403 already names the permission of the call that got it; ``forbidden_note`` adds what
    else the command needs, for commands that make calls needing different permissions.
    ``prefix`` starts the message (whose keys made the call, when a command uses several).
    """
    try:
        yield
    except DatadogError as exc:
        message = prefix + redact(str(exc), settings.secrets())
        code = advice_for(exc).exit_code
        if code == EXIT_FORBIDDEN and forbidden_note:
            message = f"{message}; {forbidden_note}"
        raise CliError(message, code) from None


def _settings(ctx: click.Context) -> CliOptions:
    obj = ctx.find_object(CliOptions)
    assert obj is not None, "the group callback always sets a CliOptions object"
    return obj


def write_file(path: str, text: str) -> None:
    """Write `text` to `path` whole or not at all (a temporary file renamed over it)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        with suppress(OSError):
            os.remove(tmp)
        raise CliError(f"cannot write {path}: {exc.strerror or exc}", EXIT_API) from None


def _emit_json(value: object) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


# ---------------------------------------------------------------------------------- the group


class _Group(click.Group):
    """Reports :class:`CliError` (and, without a traceback, any unexpected error) as one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as exc:
            click.echo(f"error: {one_line(str(exc), 2000)}", err=True)
            raise click.exceptions.Exit(exc.exit_code) from None
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            if os.environ.get("DD_ORG_CONNECTIONS_DEBUG"):
                raise
            secrets = ctx.obj.secrets() if isinstance(ctx.obj, CliOptions) else []
            text = redact(one_line(f"{type(exc).__name__}: {exc}", 500), secrets)
            click.echo(f"error: unexpected {text} (DD_ORG_CONNECTIONS_DEBUG=1 shows a traceback)", err=True)
            raise click.exceptions.Exit(EXIT_API) from None


@click.group(
    cls=_Group,
    help=f"""Inspect and manage Datadog cross-organization connections.

Every command acts as the org that owns the keys (the "current org"). Keys and site come from
the environment: DD_API_KEY (or DATADOG_API_KEY), DD_APP_KEY (or DATADOG_APP_KEY), DD_SITE,
DD_HOST (or DATADOG_HOST). The application key's user needs org_connections_read for list,
org_connections_write for orgs and revoke, and both for export, reconcile and graph (the older
org_management permission is also accepted: it grants both); whoami needs none. reconcile and graph
can also read other orgs' keys (--org, --stack-config).

\b
Exit status:
{_EXIT_TABLE}
""",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)
@click.option(
    "--api-key",
    metavar="KEY",
    help="Datadog API key. Prefer DD_API_KEY: a flag value lands in shell history and `ps` output.",
)
@click.option(
    "--app-key",
    metavar="KEY",
    help="Datadog application key. Prefer DD_APP_KEY: a flag value lands in shell history and `ps` output.",
)
@click.option(
    "--site", metavar="SITE", help="Datadog site, e.g. datadoghq.eu [env: DD_SITE; default datadoghq.com]."
)
@click.option(
    "--api-url",
    metavar="URL",
    help="API base URL, e.g. http://127.0.0.1:8126 for the emulator (wins over --site) [env: DD_HOST, DATADOG_HOST].",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Read timeout of each HTTP attempt, in seconds.",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(min=1),
    default=6,
    show_default=True,
    help="HTTP attempts per request (retries on 429, 5xx and network errors); 1 disables retries.",
)
@click.version_option(package_name="datadog-org-connections", prog_name="dd-org-connections")
@click.pass_context
def cli(
    ctx: click.Context,
    api_key: str | None,
    app_key: str | None,
    site: str | None,
    api_url: str | None,
    timeout: float,
    max_attempts: int,
) -> None:
    """The command group; see the help text above."""
    settings = CliOptions(api_key, app_key, site, api_url, timeout, max_attempts)
    ctx.obj = settings
    ctx.call_on_close(settings.close)


# ----------------------------------------------------------------------------------- commands


def _org_id(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    # Like _connection_id: the message never repeats the value.
    if value is None:
        return None
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise click.BadParameter("expected an org UUID (see `dd-org-connections orgs`)") from None


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects instead of a table.")
@click.option(
    "--sink-org-id", metavar="UUID", callback=_org_id, help="Only connections whose sink is this org."
)
@click.option(
    "--source-org-id", metavar="UUID", callback=_org_id, help="Only connections whose source is this org."
)
@click.pass_context
def list_command(
    ctx: click.Context, as_json: bool, sink_org_id: str | None, source_org_id: str | None
) -> None:
    """List the current org's connections, outgoing and incoming.

    A connection is outgoing when the current org is its source (it shares its data) and incoming
    when it is the sink (it receives the data). The filters are applied by the API. Needs
    org_connections_read (or org_management).
    """
    settings = _settings(ctx)
    with _reported(settings):
        client = settings.client()
        conns = client.list_connections(sink_org_id=sink_org_id, source_org_id=source_org_id)
        current = current_org(client, conns) if conns else CurrentOrg(None, "", ())
    if as_json:
        _emit_json([connection_json(c, current.id) for c in conns])
        return
    if not conns:
        filtered = sink_org_id is not None or source_org_id is not None
        click.echo("no connections match the filters" if filtered else "no connections")
        return
    rows = []
    for conn in conns:
        item = connection_json(conn, current.id)
        if item["direction"] == "?":
            other_name = f"{conn.source_org_name} -> {conn.sink_org_name}"
            other_id = f"{conn.source_org_id} -> {conn.sink_org_id}"
        else:
            other_name, other_id = item["other_org_name"] or "", item["other_org_id"] or ""
        rows.append(
            [
                conn.id,
                item["direction"],
                other_name,
                other_id,
                ",".join(conn.connection_types),
                when(conn.created_at),
                creator_text(conn),
            ]
        )
    headers = ["ID", "DIRECTION", "OTHER ORG", "OTHER ORG ID", "TYPES", "CREATED AT", "CREATED BY"]
    click.echo(table(headers, rows))
    note = at_risk_note(conns)
    if note:
        click.echo(note, err=True)


@cli.command("orgs")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects instead of a table.")
@click.pass_context
def orgs_command(ctx: click.Context, as_json: bool) -> None:
    """List the current org and the orgs it manages, with their UUIDs.

    The ID column is what `sink_org_id` takes. `*` marks the current org (the one the keys belong
    to, as the API names it). A parent org's keys list its child orgs too; a child org's keys list
    only the child itself. Needs org_connections_write (or org_management).
    """
    settings = _settings(ctx)
    with _reported(settings):
        orgs = settings.client().list_managed_orgs()
    items = [
        {"id": o.id, "public_id": o.public_id, "name": o.name, "current": o.id == orgs.current_id}
        for o in orgs.orgs
    ]
    if as_json:
        _emit_json(items)
        return
    rows = [["*" if o["current"] else "", str(o["id"]), str(o["name"]), str(o["public_id"])] for o in items]
    click.echo(table(["CURRENT", "ID", "NAME", "PUBLIC ID"], rows))


@cli.command("export")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the code to FILE (replaced only once the API answered) instead of stdout.",
)
@click.pass_context
def export_command(ctx: click.Context, output: str | None) -> None:
    """Write Pulumi code adopting the current org's outgoing connections.

    Each outgoing connection becomes an `OrgConnection(..., adopt_id="<id>")`: paste the code into the
    current org's stack and run `pulumi up` to take the connections over without recreating them.
    Incoming connections are listed as comments (they belong to their source org's stack).
    Needs org_connections_read to list and org_connections_write to learn which org the keys
    belong to (GET /api/v2/org), or org_management.
    """
    settings = _settings(ctx)
    with _reported(settings):
        client = settings.client()
        conns = client.list_connections()
        current = current_org(client, conns)
    if current.id is None:
        why = redact(str(current.error), settings.secrets()) if current.error else "GET /api/v2/org failed"
        raise CliError(
            f"cannot tell which org these keys belong to, and the connections do not tell: nothing "
            f"exported ({why})",
            advice_for(current.error).exit_code if current.error is not None else EXIT_API,
        )
    code = render_export(current, conns)
    outgoing = sum(c.source_org_id.lower() == current.id.lower() for c in conns)
    if output is None:
        click.echo(code, nl=False)
    else:
        write_file(output, code)
    where = f" to {output}" if output else ""
    click.echo(
        f"exported {outgoing} outgoing connection(s){where}; {len(conns) - outgoing} incoming listed as comments",
        err=True,
    )


def _connection_id(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    # The message never repeats the value: a key pasted in the wrong place must not be echoed.
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise click.BadParameter("expected a connection id (a UUID, see `dd-org-connections list`)") from None


@cli.command("revoke")
@click.argument("connection_id", metavar="ID", callback=_connection_id)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (needed when not interactive).")
@click.pass_context
def revoke_command(ctx: click.Context, connection_id: str, yes: bool) -> None:
    """Delete connection ID (from its source or its sink org).

    A sink org (a hub) can cut off a source org this way. Without --yes the connection is shown and
    confirmation asked on the terminal. Needs org_connections_write (and org_connections_read to
    show the connection first), or org_management.
    """
    settings = _settings(ctx)
    missing = f"no connection {connection_id} visible to this org"
    # With --yes only the delete is made (its 403 names org_connections_write); without it a
    # look-up comes first, whose 403 would name only org_connections_read.
    needs = (
        ""
        if yes
        else f"revoke needs {READ_PERMISSION} to show the connection and {WRITE_PERMISSION} to delete it"
    )
    with _reported(settings, needs):
        client = settings.client()
        if not yes:
            conn = client.find_connection(connection_id)
            if conn is None:
                raise CliError(missing, EXIT_NOT_FOUND)
            what = (
                f"{clean(conn.source_org_name)} ({conn.source_org_id}) -> "
                f"{clean(conn.sink_org_name)} ({conn.sink_org_id}), types {', '.join(conn.connection_types)}"
            )
            click.echo(f"connection {connection_id}: {what}", err=True)
            _confirm(f"Revoke connection {connection_id}? Data stops flowing at once.")
        try:
            client.delete_connection(connection_id)
        except NotFoundError:
            raise CliError(missing, EXIT_NOT_FOUND) from None
    click.echo(f"revoked connection {connection_id}")


def _confirm(question: str) -> None:
    try:
        answer = click.confirm(question, default=False, err=True)
        if not sys.stdin.isatty():
            click.echo(err=True)  # the answer came from a pipe: end the prompt's line
    except click.Abort:
        click.echo(err=True)
        if not sys.stdin.isatty():
            raise CliError(
                "confirmation needed but stdin gave no answer: pass --yes to revoke non-interactively",
                EXIT_USAGE,
            ) from None
        raise CliError("aborted: nothing revoked", EXIT_API) from None
    if not answer:
        raise CliError("not confirmed: nothing revoked", EXIT_API)


def _rate_limit(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    from ..emulator import RateLimitConfig

    if value is not None:
        try:
            RateLimitConfig.parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


@cli.command("emulator")
@click.option("--host", help="Address to bind [default 127.0.0.1].")
@click.option(
    "--port", type=click.IntRange(0, 65535), help="Port to bind; 0 picks a free one [default 8126]."
)
@click.option("--seed", type=click.Path(dir_okay=False), help="Seed JSON file [default: the packaged seed].")
@click.option(
    "--state", type=click.Path(dir_okay=False), help="File keeping the connections across restarts."
)
@click.option(
    "--rate-limit",
    metavar="R/P",
    callback=_rate_limit,
    help="R requests per P seconds per org and endpoint [default 6000/60].",
)
@click.option("--latency-ms", type=click.FloatRange(min=0), help="Milliseconds added to every API answer.")
@click.option("--quiet", is_flag=True, help="Do not log requests to stderr.")
def emulator_command(
    host: str | None,
    port: int | None,
    seed: str | None,
    state: str | None,
    rate_limit: str | None,
    latency_ms: float | None,
    quiet: bool,
) -> NoReturn:
    """Run the local API emulator in the foreground.

    Prints `listening on http://HOST:PORT` once ready; Ctrl-C or SIGTERM stops it.

    Needs no keys. Point the other commands at it with DD_HOST=http://HOST:PORT and the keys of
    its seed (docs/emulator.md).
    """
    from ..emulator.__main__ import main as emulator_main

    argv: list[str] = []
    for flag, value in (
        ("--host", host),
        ("--port", port),
        ("--seed", seed),
        ("--state", state),
        ("--rate-limit", rate_limit),
        ("--latency-ms", latency_ms),
    ):
        if value is not None:
            argv += [flag, str(value)]
    if quiet:
        argv.append("--quiet")
    raise click.exceptions.Exit(emulator_main(argv))


# Commands in their own modules, imported last: they use the helpers above and register on `cli`.
from . import graph, reconcile, whoami  # noqa: E402, F401


def main() -> None:
    """Console entry point (``dd-org-connections``)."""
    cli(prog_name="dd-org-connections")


if __name__ == "__main__":
    main()
