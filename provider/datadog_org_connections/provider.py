"""The lifecycle of an org connection: the Pulumi dynamic `ResourceProvider` behind `OrgConnection`.

The engine calls these methods in its provider process (`python -m pulumi.dynamic`), after
unpickling the provider object from the resource's state. The object therefore holds nothing:
`configure()` (called once per process with the stack configuration) and the lazily built HTTP
clients live in a process-wide registry, so no key ever reaches the state and one HTTP session per
org serves every resource of a deployment.

Requests per operation: create 1 (POST), update 1 (PATCH), delete 1 (DELETE), read 1 (a list
filtered by both org ids), preview of an unchanged resource 0; a preview that creates or moves a
connection checks the sink against the account's orgs once per org and process (1 GET).
"""

from __future__ import annotations

import functools
import os
import re
import sys
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)
from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN  # during preview, values not known yet arrive as this string

from . import journal
from .client import OrgConnectionsClient
from .errors import (
    ConfigurationError,
    ConflictError,
    DatadogError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from .models import CONNECTION_TYPES, Connection, ManagedOrg
from .stack_config import KEYS as STACK_CONFIG_KEYS
from .stack_config import VALIDATE_SINK_KEY, StackConfig

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

INPUTS = ("sink_org_id", "connection_types", "source_org", "adopt_existing", "adopt_id", "validate_sink")


class OrgConnectionError(Exception):
    """A failed operation, worded for the person running `pulumi up`: what, for which orgs, why, what to do."""


def _is_unknown(value: Any) -> bool:
    """A value not known yet at preview: the servicer passes `pulumi.output.Unknown` (or the sentinel string)."""
    return isinstance(value, Unknown) or (isinstance(value, str) and value == UNKNOWN)


F = TypeVar("F", bound=Callable[..., Any])


def _one_line_errors(method: F) -> F:
    """Keep the traceback of an unexpected exception inside its message (tracebacks are off, see configure)."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except OrgConnectionError:
            raise
        except Exception as exc:
            raise OrgConnectionError(
                f"unexpected error in OrgConnection {method.__name__} (a bug: please report it): "
                f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=50)}"
            ) from None

    return wrapper  # type: ignore[return-value]


class _Registry:
    """Per-process state of the provider: stack config, one client per org alias, cached org lists."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.config = StackConfig()
        self.clients: dict[str | None, OrgConnectionsClient] = {}
        self.probes: dict[str | None, OrgConnectionsClient] = {}
        self.managed_orgs: dict[str | None, list[ManagedOrg]] = {}

    def configure(self, config: StackConfig) -> None:
        # The provider host reports an exception as `traceback.format_exc()`. Our errors are one
        # line written for the user, so show that line alone (see `_one_line_errors` for the rest).
        if not os.environ.get("DDOC_PROVIDER_TRACEBACKS"):
            sys.tracebacklimit = 0
        with self.lock:
            self.config = config
            for client in [*self.clients.values(), *self.probes.values()]:
                client.close()
            self.clients.clear()
            self.probes.clear()
            self.managed_orgs.clear()

    def client(self, alias: str | None, *, probe: bool = False) -> OrgConnectionsClient:
        """The client of an org; `probe`: a fail-fast one for preview-time lookups."""
        clients = self.probes if probe else self.clients
        with self.lock:
            client = clients.get(alias)
            if client is None:
                config = self.config
                timeout = config.timeout_seconds
                budget = config.max_retry_seconds
                client = OrgConnectionsClient(
                    config.credentials(alias),
                    timeout=(min(5.0, timeout), timeout),
                    max_attempts=2 if probe else 6,
                    max_retry_seconds=min(budget, 5.0) if probe else budget,
                )
                clients[alias] = client
            return client

    def orgs(self, alias: str | None) -> list[ManagedOrg]:
        """The orgs of the account (current org first), fetched once per process and org."""
        with self.lock:
            cached = self.managed_orgs.get(alias)
        if cached is not None:
            return cached
        orgs = self.client(alias, probe=True).list_managed_orgs()
        with self.lock:
            self.managed_orgs[alias] = orgs
        return orgs


_REGISTRY = _Registry()


def _org(alias: str | None) -> str:
    return "the stack's org" if alias is None else f"org {alias!r}"


def explain(exc: DatadogError, action: str, alias: str | None, sink: str | None) -> OrgConnectionError:
    """Turn a client error into one line: what failed, for which orgs, why, and what to do."""
    where = f"{_org(alias)} -> sink org {sink}" if sink else _org(alias)
    if isinstance(exc, ConfigurationError):
        fix = "fix the stack configuration named above, then run the command again"
    elif isinstance(exc, ForbiddenError):
        fix = (
            "check that the API and application keys belong to the source org and that the application "
            "key's user has the org_management permission"
        )
    elif isinstance(exc, ConflictError):
        fix = (
            "a connection between these orgs already exists outside this stack: adopt it with "
            "adopt_existing=True (or adopt_id='<connection id>'), or delete it first "
            "(dd-org-connections list shows it)"
        )
    elif isinstance(exc, NotFoundError):
        fix = "check that sink_org_id is the UUID of an org in the same Datadog account (dd-org-connections orgs)"
    elif isinstance(exc, InvalidInputError):
        fix = (
            "check sink_org_id (not the source org itself) and connection_types (distinct logs/metrics/audit)"
        )
    elif isinstance(exc, RateLimitedError):
        fix = "the API kept rate-limiting after retries: run again later or with a lower --parallel"
    elif isinstance(exc, TransportError):
        fix = (
            "check datadog:apiUrl (or datadog:site) and that the API is reachable from here; after a "
            "passing outage, run `pulumi up` again (it converges safely)"
        )
    elif isinstance(exc, ServerError):
        fix = "the Datadog API was unavailable after retries: run `pulumi up` again (it converges safely)"
    else:
        fix = "run `pulumi refresh` then `pulumi up` again"
    why = str(exc)
    if exc.operation and why.startswith(f"{exc.operation}: "):
        why = why[len(exc.operation) + 2 :]  # `action` already says what was attempted
    return OrgConnectionError(f"{action} failed for {where}: {why}. To fix: {fix}.")


def _outputs(conn: Connection, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The resource outputs: the connection as the API describes it, plus the inputs echoed."""
    outs: dict[str, Any] = {k: inputs.get(k) for k in INPUTS if k != "connection_types"}
    outs.update(
        source_org_id=conn.source_org_id,
        source_org_name=conn.source_org_name,
        sink_org_id=conn.sink_org_id,
        sink_org_name=conn.sink_org_name,
        connection_types=sorted(conn.connection_types),
        created_at=conn.created_at,
        created_by=conn.created_by_name or conn.created_by_id,
        created_by_id=conn.created_by_id,
    )
    return outs


def check_inputs(news: Mapping[str, Any], config: StackConfig) -> tuple[dict[str, Any], list[CheckFailure]]:
    """Validate and normalise the inputs offline; return (inputs, failures naming the property)."""
    inputs = {k: news[k] for k in INPUTS if k in news}
    failures: list[CheckFailure] = []

    sink = news.get("sink_org_id")
    if sink is None or sink == "":
        failures.append(
            CheckFailure("sink_org_id", "sink_org_id is required: the UUID of the org receiving the data")
        )
    elif not _is_unknown(sink):
        if not isinstance(sink, str):
            failures.append(
                CheckFailure(
                    "sink_org_id", f"sink_org_id must be a UUID string, got {type(sink).__name__} {sink!r}"
                )
            )
        elif not UUID_RE.match(sink.strip()):
            failures.append(
                CheckFailure(
                    "sink_org_id",
                    f"sink_org_id {sink!r} is not a UUID (like 83999dcd-7f97-11f0-8de1-1ecf66f1aa85): take the "
                    "org's UUID from `dd-org-connections orgs`, not its name or public id",
                )
            )
        else:
            inputs["sink_org_id"] = sink.strip().lower()

    types = news.get("connection_types")
    if types is None:
        failures.append(
            CheckFailure("connection_types", f"connection_types is required: some of {CONNECTION_TYPES}")
        )
    elif not _is_unknown(types):
        if isinstance(types, str) or not isinstance(types, Sequence):
            failures.append(
                CheckFailure(
                    "connection_types", f"connection_types must be a list such as ['logs'], got {types!r}"
                )
            )
        elif not types:
            failures.append(
                CheckFailure(
                    "connection_types", f"connection_types must not be empty: some of {CONNECTION_TYPES}"
                )
            )
        elif not any(_is_unknown(t) for t in types):
            bad = [t for t in types if not isinstance(t, str) or t not in CONNECTION_TYPES]
            dupes = sorted({t for t in types if isinstance(t, str) and list(types).count(t) > 1})
            if bad:
                failures.append(
                    CheckFailure(
                        "connection_types",
                        f"connection_types has unknown value(s) {bad!r}: allowed are {list(CONNECTION_TYPES)}",
                    )
                )
            elif dupes:
                failures.append(
                    CheckFailure(
                        "connection_types", f"connection_types repeats {dupes!r}: list each type once"
                    )
                )
            else:
                inputs["connection_types"] = sorted(types)

    alias = news.get("source_org")
    if alias is not None and not _is_unknown(alias):
        if not isinstance(alias, str) or not alias:
            failures.append(
                CheckFailure("source_org", f"source_org must be an org alias string, got {alias!r}")
            )
        elif config.error is not None:
            failures.append(CheckFailure("source_org", str(config.error)))
        elif not config.has_alias(alias):
            known = ", ".join(config.aliases) or "none declared"
            failures.append(
                CheckFailure(
                    "source_org",
                    f"source_org {alias!r} is not declared in stack config orgConnections:orgs ({known}): "
                    f"pulumi config set --secret --path 'orgConnections:orgs.{alias}.apiKey' <key> (and .appKey)",
                )
            )

    adopt_id = news.get("adopt_id")
    if adopt_id is not None and not _is_unknown(adopt_id):
        if not isinstance(adopt_id, str) or not UUID_RE.match(adopt_id):
            failures.append(
                CheckFailure("adopt_id", f"adopt_id must be a connection id (a UUID), got {adopt_id!r}")
            )
        elif news.get("adopt_existing"):
            failures.append(CheckFailure("adopt_id", "set adopt_id or adopt_existing=True, not both"))
    for flag in ("adopt_existing", "validate_sink"):
        value = news.get(flag)
        if value is not None and not _is_unknown(value) and not isinstance(value, bool):
            failures.append(CheckFailure(flag, f"{flag} must be True or False, got {value!r}"))
    return inputs, failures


class OrgConnectionProvider(ResourceProvider):
    """Dynamic provider for `OrgConnection`. Holds no state: see the module docstring."""

    # The object is empty (no keys), so the serialized provider need not be a secret.
    serialize_as_secret_always = False

    def configure(self, req: ConfigureRequest) -> None:
        """Take the stack configuration (keys stay in this process's memory only)."""
        _REGISTRY.configure(StackConfig({key: req.config.get(key) for key in STACK_CONFIG_KEYS}))

    # --- check / diff -------------------------------------------------------------------------

    @_one_line_errors
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Validate inputs at preview time; check the sink against the account when it is new."""
        config = _REGISTRY.config
        inputs, failures = check_inputs(news, config)
        if failures:
            return CheckResult(inputs, failures)
        sink = inputs.get("sink_org_id")
        alias = inputs.get("source_org")
        old_sink = (_olds or {}).get("sink_org_id")
        validate = inputs.get("validate_sink", True) is not False and config.validate_sink
        if (
            validate
            and isinstance(sink, str)
            and not _is_unknown(sink)
            and not _is_unknown(alias)
            and sink != old_sink
        ):
            failure = self._check_sink_in_account(sink, alias)
            if failure is not None:
                failures.append(failure)
        return CheckResult(inputs, failures)

    @staticmethod
    def _check_sink_in_account(sink: str, alias: str | None) -> CheckFailure | None:
        try:
            orgs = _REGISTRY.orgs(alias)
        except (ConfigurationError, TransportError) as exc:
            # Not a property's fault: the stack cannot reach or authenticate to the API at all.
            raise explain(exc, "check the sink org against the account", alias, sink) from None
        except ForbiddenError as exc:
            raise OrgConnectionError(
                f"check the sink org against the account failed for {_org(alias)}: {exc}. To fix: check the "
                "API and application keys, or set validate_sink=False (or stack config "
                f"{VALIDATE_SINK_KEY}=false) for keys that cannot list the account's orgs."
            ) from None
        except DatadogError:
            return None  # the API answers badly right now: create will tell, with retries
        if not orgs:
            return None
        if orgs[0].id.lower() == sink:
            return CheckFailure(
                "sink_org_id",
                f"sink_org_id {sink} is {_org(alias)} itself ({orgs[0].name}): a connection joins two orgs",
            )
        if any(o.id.lower() == sink for o in orgs):
            return None
        valid = ", ".join(f"{o.name} ({o.id})" for o in orgs[1:]) or "none"
        return CheckFailure(
            "sink_org_id",
            f"sink_org_id {sink} is not an org of this Datadog account; valid sinks for {_org(alias)}: {valid}",
        )

    @_one_line_errors
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Replace when the pair changes (sink or source org); update in place when only the types change."""
        replaces = [
            key
            for key in ("sink_org_id", "source_org")
            if _is_unknown(news.get(key)) or (news.get(key) or None) != (olds.get(key) or None)
        ]
        changes = list(replaces)
        new_types = news.get("connection_types")
        if _is_unknown(new_types) or (
            isinstance(new_types, list)
            and (
                any(_is_unknown(t) for t in new_types)
                or sorted(new_types) != sorted(olds.get("connection_types") or [])
            )
        ):
            changes.append("connection_types")
        for key in ("adopt_existing", "adopt_id", "validate_sink"):
            if news.get(key) != olds.get(key):
                changes.append(key)  # inputs only: recorded by an update that makes no API call
        return DiffResult(changes=bool(changes), replaces=replaces, delete_before_replace=False)

    # --- create / read / update / delete ------------------------------------------------------

    @_one_line_errors
    def create(self, props: dict[str, Any]) -> CreateResult:
        """One POST; adoption of an existing connection when asked (adopt_existing / adopt_id)."""
        alias: str | None = props.get("source_org")
        sink: str = props["sink_org_id"]
        types: list[str] = sorted(props["connection_types"])
        action = "create org connection"
        try:
            client = _REGISTRY.client(alias)
            if props.get("adopt_id"):
                action = f"adopt org connection {props['adopt_id']}"
                conn = self._adopt_by_id(client, props["adopt_id"], sink, alias)
            else:
                conn = self._create_or_adopt(client, alias, sink, types, bool(props.get("adopt_existing")))
            if sorted(conn.connection_types) != types:
                action = f"set connection_types of adopted org connection {conn.id}"
                conn = client.update_connection(conn.id, types)
        except DatadogError as exc:
            raise explain(exc, action, alias, sink) from None
        return CreateResult(conn.id, _outputs(conn, props))

    @staticmethod
    def _create_or_adopt(
        client: OrgConnectionsClient, alias: str | None, sink: str, types: list[str], adopt_existing: bool
    ) -> Connection:
        """POST the connection; on a conflict, adopt the pair's connection if asked to or if it is ours.

        "Ours" means an earlier create of this pair from this machine failed without knowing whether
        it was applied (see journal.py), and the existing connection was made after that attempt.
        """
        creds = _REGISTRY.config.credentials(alias)
        key = journal.entry_key(creds.base_url, alias, creds.api_key, sink)
        unfinished_since = journal.begin(key)
        try:
            conn = client.create_connection(sink, types)
        except ConflictError:
            # Filtered by sink, the list holds only this pair: the current org is the source.
            found = next(iter(client.list_connections(sink_org_id=sink)), None)
            ours = (
                found is not None
                and unfinished_since is not None
                and journal.created_by_attempt(found.created_at, unfinished_since)
            )
            if found is None or not (adopt_existing or ours):
                journal.end(key)
                raise
            conn = found
        except (InvalidInputError, ForbiddenError, NotFoundError, ConfigurationError):
            journal.end(key)  # refused: nothing was made
            raise
        journal.end(key)
        return conn

    @staticmethod
    def _adopt_by_id(client: OrgConnectionsClient, conn_id: str, sink: str, alias: str | None) -> Connection:
        conn = client.find_connection(conn_id, sink_org_id=sink)
        if conn is not None and conn.sink_org_id.lower() == sink:
            return conn
        other = client.find_connection(conn_id)
        if other is None:
            raise OrgConnectionError(
                f"adopt org connection {conn_id} failed for {_org(alias)} -> sink org {sink}: no such connection "
                f"is visible to {_org(alias)}. To fix: check adopt_id with `dd-org-connections list`."
            )
        raise OrgConnectionError(
            f"adopt org connection {conn_id} failed for {_org(alias)} -> sink org {sink}: that connection joins "
            f"{other.source_org_name} ({other.source_org_id}) -> {other.sink_org_name} ({other.sink_org_id}). "
            f"To fix: set sink_org_id and source_org to the orgs it joins, or adopt another connection."
        )

    @_one_line_errors
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Refresh: find the connection by id (one filtered request); gone out of band -> leave the state.

        `OrgConnection.get` also reads, with no prior outputs (no `source_org_id`): the org ids are
        unknown (the list is paged, unfiltered), and an id that is not found is an error naming it,
        since the engine would otherwise keep the requested id with empty outputs.
        """
        alias = props.get("source_org")
        lookup = not props.get("source_org_id")
        if lookup and not UUID_RE.match(id_):
            raise OrgConnectionError(
                f"read org connection {id_!r} failed for {_org(alias)}: the id is not a connection id (a UUID). "
                "To fix: pass the id shown by `dd-org-connections list` to OrgConnection.get."
            )
        try:
            conn = _REGISTRY.client(alias).find_connection(
                id_, sink_org_id=props.get("sink_org_id"), source_org_id=props.get("source_org_id")
            )
        except DatadogError as exc:
            raise explain(exc, f"read org connection {id_}", alias, props.get("sink_org_id")) from None
        if conn is None:
            if lookup:
                raise OrgConnectionError(
                    f"read org connection {id_} failed for {_org(alias)}: no connection with this id is "
                    f"visible to {_org(alias)}. To fix: check the id with `dd-org-connections list`, or pass "
                    "source_org=<alias> for a connection of another org."
                )
            return ReadResult("", {})
        return ReadResult(conn.id, _outputs(conn, props))

    @_one_line_errors
    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """One PATCH of connection_types (none when only adoption flags changed)."""
        alias = news.get("source_org")
        types = sorted(news["connection_types"])
        if types == sorted(olds.get("connection_types") or []):
            outs = dict(olds)
            outs.update({k: news.get(k) for k in INPUTS if k != "connection_types"})
            return UpdateResult(outs)
        try:
            conn = _REGISTRY.client(alias).update_connection(id_, types)
        except NotFoundError:
            raise OrgConnectionError(
                f"update org connection {id_} failed for {_org(alias)} -> sink org {news.get('sink_org_id')}: "
                "the connection was deleted outside Pulumi. To fix: run `pulumi refresh`, then `pulumi up` "
                "recreates it."
            ) from None
        except DatadogError as exc:
            raise explain(exc, f"update org connection {id_}", alias, news.get("sink_org_id")) from None
        return UpdateResult(_outputs(conn, news))

    @_one_line_errors
    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """One DELETE; a connection already gone counts as deleted."""
        alias = props.get("source_org")
        try:
            _REGISTRY.client(alias).delete_connection(id_, missing_ok=True)
        except DatadogError as exc:
            raise explain(exc, f"delete org connection {id_}", alias, props.get("sink_org_id")) from None
