"""The lifecycle of an org connection: the Pulumi dynamic `ResourceProvider` behind `OrgConnection`.

The engine starts one provider process per deployment (`python -m pulumi.dynamic`), unpickles the
provider object from the resources' state once, and calls `configure()` with the stack
configuration. The pickled object holds nothing: keys, HTTP clients and what the provider learns
during the deployment live in a `_Deployment` made by `configure()`, in this process's memory only.

Requests per operation: create 1 (POST), update 1 (PATCH), delete 1 (DELETE), read 1 (a list
filtered by both org ids), preview of an unchanged resource 0; a preview that creates or moves a
connection checks the sink against the account's orgs once per org and process (1 GET).

Data safety:
- a replacement deletes the old connection before creating the new one (the pair may survive the
  replacement, and Datadog allows one connection per pair);
- a connection created or adopted in this deployment is never deleted by the same deployment: the
  delete is the old side of a rename or an adoption handing the connection over (no DELETE sent);
- moving `source_org` to another alias of the same org is no replacement: the state records it.
"""

from __future__ import annotations

import functools
import threading
import traceback
from collections.abc import Callable
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

from . import journal
from .advice import (
    STATE_KEYS_FIXES,
    OrgConnectionError,
    explain,
    hide_traceback_of_report,
    org_label,
    restore_traceback_limit,
)
from .client import OrgConnectionsClient
from .errors import (
    ConfigurationError,
    ConflictError,
    DatadogError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    TransportError,
)
from .models import Connection, ManagedOrgs
from .schema import INPUTS, UUID_RE, changed_inputs, check_inputs, is_unknown
from .stack_config import KEYS as STACK_CONFIG_KEYS
from .stack_config import StackConfig

__all__ = ["OrgConnectionError", "OrgConnectionProvider"]

F = TypeVar("F", bound=Callable[..., Any])


def _one_line_errors(method: F) -> F:
    """Errors leave as one `OrgConnectionError` line; a bug keeps its traceback inside the message."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        restore_traceback_limit()  # a previous error's report may never have been formatted
        try:
            return method(*args, **kwargs)
        except OrgConnectionError:
            hide_traceback_of_report()
            raise
        except Exception as exc:
            error = OrgConnectionError(
                f"unexpected error in OrgConnection {method.__name__} (a bug: please report it): "
                f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=50)}"
            )
            hide_traceback_of_report()
            raise error from None

    return wrapper  # type: ignore[return-value]


class _Deployment:
    """What this provider process holds for one deployment: config, one client per org, what it learnt."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._clients: dict[tuple[str | None, bool], OrgConnectionsClient] = {}
        self._orgs: dict[str | None, ManagedOrgs] = {}
        self._made: set[str] = set()  # ids created or adopted by this deployment

    def client(self, alias: str | None, *, probe: bool = False) -> OrgConnectionsClient:
        """The client of an org; `probe`: a fail-fast one for preview-time lookups."""
        with self._lock:
            client = self._clients.get((alias, probe))
            if client is None:
                timeout, budget = self.config.timeout_seconds, self.config.max_retry_seconds
                client = OrgConnectionsClient(
                    self.config.credentials(alias),
                    timeout=(min(5.0, timeout), timeout),
                    max_attempts=2 if probe else 6,
                    max_retry_seconds=min(budget, 5.0) if probe else budget,
                )
                self._clients[(alias, probe)] = client
            return client

    def orgs(self, alias: str | None) -> ManagedOrgs:
        """The current org and the orgs it manages (``GET /api/v2/org``), once per deployment and org."""
        with self._lock:
            cached = self._orgs.get(alias)
        if cached is not None:
            return cached
        orgs = self.client(alias, probe=True).list_managed_orgs()
        with self._lock:
            self._orgs[alias] = orgs
        return orgs

    def made(self, conn_id: str) -> None:
        """Remember that this deployment created or adopted `conn_id`."""
        with self._lock:
            self._made.add(conn_id.lower())

    def made_here(self, conn_id: str) -> bool:
        """Whether this deployment created or adopted `conn_id`."""
        with self._lock:
            return conn_id.lower() in self._made

    def close(self) -> None:
        """Close every HTTP session."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


def _outputs(conn: Connection, inputs: dict[str, Any], adopted: str | None) -> dict[str, Any]:
    """The resource outputs: the inputs echoed (diff only sees outputs), then the connection as the API says."""
    outs: dict[str, Any] = {spec.name: inputs.get(spec.name) for spec in INPUTS}
    outs.update(
        source_org_id=conn.source_org_id,
        source_org_name=conn.source_org_name,
        sink_org_id=conn.sink_org_id,
        sink_org_name=conn.sink_org_name,
        connection_types=sorted(conn.connection_types),
        created_at=conn.created_at,
        created_by=conn.created_by_name or conn.created_by_id,
        created_by_id=conn.created_by_id,
        adopted=adopted,
    )
    return outs


class OrgConnectionProvider(ResourceProvider):
    """Dynamic provider for `OrgConnection`. The pickled object holds nothing: see the module docstring."""

    # The object is empty (no keys), so the serialized provider need not be a secret.
    serialize_as_secret_always = False
    _deployment: _Deployment | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {}  # never pickle what configure() made (keys, sessions)

    def configure(self, req: ConfigureRequest) -> None:
        """Take the stack configuration (keys stay in this process's memory only)."""
        if self._deployment is not None:
            self._deployment.close()
        self._deployment = _Deployment(StackConfig({key: req.config.get(key) for key in STACK_CONFIG_KEYS}))

    @property
    def deployment(self) -> _Deployment:
        """This process's deployment state (a provider used before configure() reads the environment)."""
        if self._deployment is None:
            self._deployment = _Deployment(StackConfig())
        return self._deployment

    # --- check / diff -------------------------------------------------------------------------

    @_one_line_errors
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Validate inputs at preview time; check the sink against the account when it is new."""
        config = self.deployment.config
        inputs, failures = check_inputs(news, config)
        if failures:
            return CheckResult(inputs, failures)
        sink, alias = inputs.get("sink_org_id"), inputs.get("source_org")
        wanted = inputs.get("validate_sink", True) is not False and config.validate_sink
        new_sink = sink != (_olds or {}).get("sink_org_id")
        if wanted and new_sink and isinstance(sink, str) and not is_unknown(sink) and not is_unknown(alias):
            failure = self._check_sink_in_account(sink, alias)
            if failure is not None:
                failures.append(failure)
        return CheckResult(inputs, failures)

    def _check_sink_in_account(self, sink: str, alias: str | None) -> CheckFailure | None:
        """Refuse a sink only when the org listing proves it wrong; otherwise let create answer.

        Provably wrong: the sink is the source org itself (``data.id``), or it is missing from a
        listing that covers the account (the keys manage other orgs: a parent org's keys). A child
        org's keys list only the child, and keys without ``org_management`` or
        ``org_connections_write`` (a read-only preview in CI) may not list orgs at all: then the check
        passes, and a wrong sink gets the API's own 404 at create.
        """
        try:
            orgs = self.deployment.orgs(alias)
        except (ConfigurationError, TransportError) as exc:
            # Not a property's fault: the stack cannot reach or authenticate to the API at all.
            raise explain(exc, "check the sink org against the account", alias, sink) from None
        except DatadogError:
            return None  # 403 (keys that may not list orgs), or the API answers badly right now
        if orgs.current_id.lower() == sink:
            return CheckFailure(
                "sink_org_id",
                f"sink_org_id {sink} is {org_label(alias)} itself ({orgs.current.name}): "
                "a connection joins two orgs",
            )
        if orgs.find(sink) is not None or not orgs.managed:
            return None
        valid = ", ".join(f"{o.name} ({o.id})" for o in orgs.orgs[1:])
        return CheckFailure(
            "sink_org_id",
            f"sink_org_id {sink} is not an org of this Datadog account; valid sinks for {org_label(alias)}: {valid}",
        )

    @_one_line_errors
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Replace (deleting first) when the orgs change; update in place when only the types change."""
        changed = changed_inputs(olds, news)
        replaces = [spec.name for spec in changed if spec.effect == "replace"]
        if replaces == ["source_org"] and self._same_org(olds, news.get("source_org")):
            replaces = []  # another alias of the same org: the connection stays, the state records it
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=bool(replaces))

    def _same_org(self, olds: dict[str, Any], alias: Any) -> bool:
        """Whether `alias` names the org the connection comes from (False when that cannot be told)."""
        source = olds.get("source_org_id")
        if is_unknown(alias) or not isinstance(source, str) or not source:
            return False
        try:
            return self.deployment.orgs(alias).current_id.lower() == source.lower()
        except DatadogError:
            return False  # keys that may not list orgs: replace, the safe answer

    # --- create / read / update / delete ------------------------------------------------------

    @_one_line_errors
    def create(self, props: dict[str, Any]) -> CreateResult:
        """One POST; adoption of an existing connection when asked (adopt_existing / adopt_id)."""
        alias: str | None = props.get("source_org")
        sink: str = props["sink_org_id"]
        types: list[str] = sorted(props["connection_types"])
        action, adopted = "create org connection", None
        try:
            client = self.deployment.client(alias)
            if props.get("adopt_id"):
                action, adopted = f"adopt org connection {props['adopt_id']}", "id"
                conn = self._adopt_by_id(client, props["adopt_id"], sink, alias)
            else:
                conn, adopted = self._create_or_adopt(
                    client, alias, sink, types, bool(props.get("adopt_existing"))
                )
            if sorted(conn.connection_types) != types:
                action = f"set connection_types of adopted org connection {conn.id}"
                conn = client.update_connection(conn.id, types)
        except DatadogError as exc:
            raise explain(exc, action, alias, sink) from None
        self.deployment.made(conn.id)
        return CreateResult(conn.id, _outputs(conn, props, adopted))

    def _create_or_adopt(
        self,
        client: OrgConnectionsClient,
        alias: str | None,
        sink: str,
        types: list[str],
        adopt_existing: bool,
    ) -> tuple[Connection, str | None]:
        """POST the connection; on a conflict, adopt the pair's connection if asked to or if it is ours.

        "Ours" means an earlier create of this pair from this machine failed without knowing whether
        it was applied (see journal.py), and the existing connection was made after that attempt.
        Returns the connection and how it was adopted (None: created, or recovered as ours).
        """
        creds = self.deployment.config.credentials(alias)
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
            journal.end(key)
            if found is None or not (adopt_existing or ours):
                raise
            return found, None if ours else "existing"
        except (InvalidInputError, ForbiddenError, NotFoundError, ConfigurationError):
            journal.end(key)  # refused: nothing was made
            raise
        journal.end(key)
        return conn, None

    @staticmethod
    def _adopt_by_id(client: OrgConnectionsClient, conn_id: str, sink: str, alias: str | None) -> Connection:
        conn = client.find_connection(conn_id, sink_org_id=sink)
        if conn is not None and conn.sink_org_id.lower() == sink:
            return conn
        other = client.find_connection(conn_id)
        where = f"adopt org connection {conn_id} failed for {org_label(alias)} -> sink org {sink}"
        if other is None:
            raise OrgConnectionError(
                f"{where}: no such connection is visible to {org_label(alias)}. "
                "To fix: check adopt_id with `dd-org-connections list`."
            )
        raise OrgConnectionError(
            f"{where}: that connection joins {other.source_org_name} ({other.source_org_id}) -> "
            f"{other.sink_org_name} ({other.sink_org_id}). To fix: set sink_org_id and source_org to the "
            "orgs it joins, or adopt another connection."
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
                f"read org connection {id_!r} failed for {org_label(alias)}: the id is not a connection id (a UUID). "
                "To fix: pass the id shown by `dd-org-connections list` to OrgConnection.get."
            )
        try:
            conn = self.deployment.client(alias).find_connection(
                id_, sink_org_id=props.get("sink_org_id"), source_org_id=props.get("source_org_id")
            )
        except DatadogError as exc:
            raise explain(
                exc, f"read org connection {id_}", alias, props.get("sink_org_id"), STATE_KEYS_FIXES
            ) from None
        if conn is None:
            if lookup:
                raise OrgConnectionError(
                    f"read org connection {id_} failed for {org_label(alias)}: no connection with this id is "
                    f"visible to {org_label(alias)}. To fix: check the id with `dd-org-connections list`, or pass "
                    "source_org=<alias> for a connection of another org."
                )
            return ReadResult("", {})
        return ReadResult(conn.id, _outputs(conn, props, props.get("adopted")))

    @_one_line_errors
    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """One PATCH of connection_types (none when only state-only inputs or the alias changed)."""
        alias = news.get("source_org")
        types = sorted(news["connection_types"])
        if types == sorted(olds.get("connection_types") or []):
            outs = dict(olds)
            outs.update(
                {spec.name: news.get(spec.name) for spec in INPUTS if spec.name != "connection_types"}
            )
            return UpdateResult(outs)
        try:
            conn = self.deployment.client(alias).update_connection(id_, types)
        except NotFoundError:
            raise OrgConnectionError(
                f"update org connection {id_} failed for {org_label(alias)} -> sink org "
                f"{news.get('sink_org_id')}: the connection was deleted outside Pulumi. To fix: run "
                "`pulumi refresh`, then `pulumi up` recreates it."
            ) from None
        except DatadogError as exc:
            raise explain(exc, f"update org connection {id_}", alias, news.get("sink_org_id")) from None
        return UpdateResult(_outputs(conn, news, olds.get("adopted")))

    @_one_line_errors
    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """One DELETE; a connection already gone counts as deleted; one made by this deployment is kept."""
        if self.deployment.made_here(id_):
            return  # handed over to the resource that created or adopted it in this deployment
        alias = props.get("source_org")
        try:
            self.deployment.client(alias).delete_connection(id_, missing_ok=True)
        except DatadogError as exc:
            raise explain(
                exc, f"delete org connection {id_}", alias, props.get("sink_org_id"), STATE_KEYS_FIXES
            ) from None
