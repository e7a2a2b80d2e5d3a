"""``dd-org-connections``: the operator command line for Datadog org connections.

Lists the connections and managed orgs of the org that owns the keys, exports its outgoing
connections as Pulumi code that adopts them, revokes a connection, and runs the local emulator.
See ``docs/cli.md``. Errors are one ``error: ...`` line on stderr with a documented exit status
(:data:`EXIT_CODES`); keys are never printed.
"""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NoReturn

import click

from .client import OrgConnectionsClient
from .errors import ConfigurationError, DatadogError, ForbiddenError, NotFoundError, one_line, redact
from .models import Connection, ManagedOrg
from .settings import API_KEY_ENV, APP_KEY_ENV, resolve_credentials

__all__ = ["EXIT_CODES", "cli", "main"]

EXIT_OK, EXIT_API, EXIT_USAGE, EXIT_CONFIG, EXIT_NOT_FOUND, EXIT_FORBIDDEN = 0, 1, 2, 3, 4, 5

#: Exit status -> meaning; scripts can rely on these.
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_API: "API or transport error (5xx, 429, timeout, unreachable...); revoke prompt declined",
    EXIT_USAGE: "usage error (bad option or argument; revoke without --yes when not interactive)",
    EXIT_CONFIG: "configuration error: missing key, unknown site, bad API URL",
    EXIT_NOT_FOUND: "not found: no such connection visible to this org",
    EXIT_FORBIDDEN: "forbidden: wrong keys, or the app key's user lacks org_management",
}

_EXIT_TABLE = "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items())

_CONFIG_HINT = (
    "hint: export DD_API_KEY and DD_APP_KEY (an application key whose user has org_management), "
    "and DD_SITE (e.g. datadoghq.eu) or DD_HOST (e.g. http://127.0.0.1:8126 for the emulator)"
)


class CliError(Exception):
    """A failure to report as one ``error: <message>`` line on stderr, exiting with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = EXIT_API) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Settings:
    """The group's options; the client is made on first use, so ``--help`` needs no keys."""

    api_key: str | None
    app_key: str | None
    site: str | None
    api_url: str | None
    timeout: float
    max_attempts: int
    _client: OrgConnectionsClient | None = None

    def secrets(self) -> list[str]:
        """Every key value this process could know (flags and environment), for redaction."""
        names = (*API_KEY_ENV, *APP_KEY_ENV)
        return [s for s in (self.api_key, self.app_key, *(os.environ.get(n) for n in names)) if s]

    def client(self) -> OrgConnectionsClient:
        """The API client (credentials resolved now; ConfigurationError if they are incomplete)."""
        if self._client is None:
            creds = resolve_credentials(
                api_key=self.api_key, app_key=self.app_key, api_url=self.api_url, site=self.site
            )
            self._client = OrgConnectionsClient(
                creds, timeout=(5.0, self.timeout), max_attempts=self.max_attempts
            )
        return self._client

    def close(self) -> None:
        """Close the client if one was made."""
        if self._client is not None:
            self._client.close()


@contextmanager
def _reported(settings: Settings) -> Iterator[None]:
    """Turn client errors into :class:`CliError` with the documented exit status."""
    try:
        yield
    except DatadogError as exc:
        message = redact(str(exc), settings.secrets())
        if isinstance(exc, ConfigurationError):
            raise CliError(f"{message} ({_CONFIG_HINT})", EXIT_CONFIG) from None
        if isinstance(exc, ForbiddenError):
            raise CliError(message, EXIT_FORBIDDEN) from None
        if isinstance(exc, NotFoundError):
            raise CliError(message, EXIT_NOT_FOUND) from None
        raise CliError(message, EXIT_API) from None


def _settings(ctx: click.Context) -> Settings:
    obj = ctx.find_object(Settings)
    assert obj is not None, "the group callback always sets a Settings object"
    return obj


def _clean(text: str) -> str:
    """API text made safe for a terminal line: control characters become ``?``."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _when(created_at: str) -> str:
    """``2025-08-25 18:13:19 UTC`` for an RFC 3339 time; the text as given if it cannot be read."""
    try:
        moment = datetime.fromisoformat(created_at)
    except ValueError:
        return _clean(created_at)
    if moment.tzinfo is None:
        return _clean(created_at)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: columns left-aligned, two spaces apart, no trailing blanks."""
    cells = [list(headers), *([_clean(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def _emit_json(value: object) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


# ------------------------------------------------------------------------------ current org


@dataclass(frozen=True)
class CurrentOrg:
    """The org that owns the keys, as far as it can be told (``id`` is ``None`` when unknown)."""

    id: str | None
    name: str
    orgs: tuple[ManagedOrg, ...]


def _current_org(client: OrgConnectionsClient, connections: Sequence[Connection]) -> CurrentOrg:
    """Which org the keys belong to.

    ``GET /api/v1/org`` lists the orgs the keys manage, and Datadog (like the emulator) lists the
    current org first: that is the answer when it takes part in the connections (or there are
    none). Otherwise, since every listed connection involves the current org, the one org id
    common to all of them is used. Unknown (``id=None``) when neither works.
    """
    try:
        orgs = tuple(client.list_managed_orgs())
    except DatadogError:
        orgs = ()

    def involved(org_id: str) -> bool:
        return any(org_id.lower() in (c.source_org_id.lower(), c.sink_org_id.lower()) for c in connections)

    if orgs and (not connections or involved(orgs[0].id)):
        return CurrentOrg(orgs[0].id, orgs[0].name, orgs)
    if connections:
        common = set.intersection(*({c.source_org_id.lower(), c.sink_org_id.lower()} for c in connections))
        if len(common) == 1:
            (org_id,) = common
            first = connections[0]
            name = first.source_org_name if first.source_org_id.lower() == org_id else first.sink_org_name
            return CurrentOrg(org_id, name, orgs)
    return CurrentOrg(None, "", orgs)


def _direction(conn: Connection, current: str | None) -> str:
    if current is not None and conn.source_org_id.lower() == current.lower():
        return "outgoing"
    if current is not None and conn.sink_org_id.lower() == current.lower():
        return "incoming"
    return "?"


def _connection_json(conn: Connection, current: str | None) -> dict[str, Any]:
    direction = _direction(conn, current)
    other_id: str | None = None
    other_name: str | None = None
    if direction == "outgoing":
        other_id, other_name = conn.sink_org_id, conn.sink_org_name
    elif direction == "incoming":
        other_id, other_name = conn.source_org_id, conn.source_org_name
    return {
        "id": conn.id,
        "direction": direction,
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
    }


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
            secrets = ctx.obj.secrets() if isinstance(ctx.obj, Settings) else []
            text = redact(one_line(f"{type(exc).__name__}: {exc}", 500), secrets)
            click.echo(f"error: unexpected {text} (DD_ORG_CONNECTIONS_DEBUG=1 shows a traceback)", err=True)
            raise click.exceptions.Exit(EXIT_API) from None


@click.group(
    cls=_Group,
    help=f"""Inspect and manage Datadog cross-organization connections.

Every command acts as the org that owns the keys (the "current org"). Keys and site come from
the environment: DD_API_KEY (or DATADOG_API_KEY), DD_APP_KEY (or DATADOG_APP_KEY), DD_SITE,
DD_HOST (or DATADOG_HOST). The application key's user needs the org_management permission.

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
    settings = Settings(api_key, app_key, site, api_url, timeout, max_attempts)
    ctx.obj = settings
    ctx.call_on_close(settings.close)


# ----------------------------------------------------------------------------------- commands


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects instead of a table.")
@click.option("--sink-org-id", metavar="ID", help="Only connections whose sink is this org.")
@click.option("--source-org-id", metavar="ID", help="Only connections whose source is this org.")
@click.pass_context
def list_command(
    ctx: click.Context, as_json: bool, sink_org_id: str | None, source_org_id: str | None
) -> None:
    """List the connections of the current org, outgoing (it is the source) and incoming (it is the sink)."""
    settings = _settings(ctx)
    with _reported(settings):
        client = settings.client()
        conns = client.list_connections(sink_org_id=sink_org_id, source_org_id=source_org_id)
        current = _current_org(client, conns) if conns else CurrentOrg(None, "", ())
    if as_json:
        _emit_json([_connection_json(c, current.id) for c in conns])
        return
    if not conns:
        filtered = sink_org_id is not None or source_org_id is not None
        click.echo("no connections match the filters" if filtered else "no connections")
        return
    rows = []
    for conn in conns:
        item = _connection_json(conn, current.id)
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
                _when(conn.created_at),
                conn.created_by_name or conn.created_by_id,
            ]
        )
    headers = ["ID", "DIRECTION", "OTHER ORG", "OTHER ORG ID", "TYPES", "CREATED AT", "CREATED BY"]
    click.echo(_table(headers, rows))


@cli.command("orgs")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects instead of a table.")
@click.pass_context
def orgs_command(ctx: click.Context, as_json: bool) -> None:
    """List the orgs the keys manage: their UUIDs are the values for sink_org_id. * marks the current org."""
    settings = _settings(ctx)
    with _reported(settings):
        orgs = settings.client().list_managed_orgs()
    items = [
        {"id": o.id, "public_id": o.public_id, "name": o.name, "current": i == 0} for i, o in enumerate(orgs)
    ]
    if as_json:
        _emit_json(items)
        return
    if not orgs:
        click.echo("no orgs")
        return
    rows = [["*" if o["current"] else "", str(o["id"]), str(o["name"]), str(o["public_id"])] for o in items]
    click.echo(_table(["CURRENT", "ID", "NAME", "PUBLIC ID"], rows))


_SLUG = re.compile(r"[^a-z0-9]+")


def _resource_names(conns: Sequence[Connection]) -> list[str]:
    """A stable, unique Pulumi resource name per connection, from its sink org name."""
    names: list[str] = []
    taken: set[str] = set()
    for conn in conns:
        slug = _SLUG.sub("-", conn.sink_org_name.lower()).strip("-")[:60].strip("-")
        base = f"to-{slug}" if slug else f"to-org-{_SLUG.sub('', conn.sink_org_id.lower())[:8]}"
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
    org = f"{_clean(current.name)} ({_clean(current.id)})" if current.name else _clean(current.id)
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
    for conn, name in zip(outgoing, _resource_names(outgoing), strict=True):
        lines += [
            f"# -> {_clean(conn.sink_org_name) or '(unnamed org)'}, created {_when(conn.created_at)}",
            "OrgConnection(",
            f"    {_py_str(name)},",
            f"    sink_org_id={_py_str(conn.sink_org_id)},",
            f"    connection_types=[{', '.join(_py_str(t) for t in conn.connection_types)}],",
            f"    adopt_id={_py_str(conn.id)},",
            ")",
            "",
        ]
    if incoming:
        lines += [
            "# Incoming connections (this org is the sink). Manage them from the stack of their source",
            "# org: run `dd-org-connections export` with that org's keys.",
        ]
        lines += [
            f"#   {_clean(c.id)}  from {_clean(c.source_org_name)} ({_clean(c.source_org_id)})"
            f"  types: {', '.join(c.connection_types)}"
            for c in incoming
        ]
    return "\n".join(lines).rstrip("\n") + "\n"


@cli.command("export")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the code to FILE (replaced only once the API answered) instead of stdout.",
)
@click.pass_context
def export_command(ctx: click.Context, output: str | None) -> None:
    """Print Pulumi Python code that adopts the current org's outgoing connections (see `pulumi up`)."""
    settings = _settings(ctx)
    with _reported(settings):
        client = settings.client()
        conns = client.list_connections()
        current = _current_org(client, conns)
    if current.id is None:
        raise CliError(
            "cannot tell which org these keys belong to (GET /api/v1/org failed or did not list it): "
            "nothing exported",
            EXIT_API,
        )
    code = render_export(current, conns)
    outgoing = sum(c.source_org_id.lower() == current.id.lower() for c in conns)
    if output is None:
        click.echo(code, nl=False)
    else:
        tmp = f"{output}.tmp-{os.getpid()}"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(code)
            os.replace(tmp, output)
        except OSError as exc:
            with suppress(OSError):
                os.remove(tmp)
            raise CliError(f"cannot write {output}: {exc.strerror or exc}", EXIT_API) from None
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
    """Delete connection ID. Works from its source org or its sink org (e.g. a hub cutting a spoke off)."""
    settings = _settings(ctx)
    missing = f"no connection {connection_id} visible to this org"
    with _reported(settings):
        client = settings.client()
        if not yes:
            conn = client.find_connection(connection_id)
            if conn is None:
                raise CliError(missing, EXIT_NOT_FOUND)
            what = (
                f"{_clean(conn.source_org_name)} ({conn.source_org_id}) -> "
                f"{_clean(conn.sink_org_name)} ({conn.sink_org_id}), types {', '.join(conn.connection_types)}"
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
    except click.Abort:
        if not sys.stdin.isatty():
            raise CliError(
                "confirmation needed but stdin gave no answer: pass --yes to revoke non-interactively",
                EXIT_USAGE,
            ) from None
        raise CliError("aborted: nothing revoked", EXIT_API) from None
    if not answer:
        raise CliError("not confirmed: nothing revoked", EXIT_API)


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
    "--rate-limit", metavar="R/P", help="R requests per P seconds per org and endpoint [default 6000/60]."
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
    """Run the local API emulator in the foreground (prints `listening on http://HOST:PORT`; Ctrl-C stops).

    Needs no keys. Point the other commands at it with DD_HOST=http://HOST:PORT and the keys of
    its seed (docs/emulator.md).
    """
    from .emulator.__main__ import main as emulator_main

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
    sys.exit(emulator_main(argv))


def main() -> None:
    """Console entry point (``dd-org-connections``)."""
    cli(prog_name="dd-org-connections")


if __name__ == "__main__":
    main()
