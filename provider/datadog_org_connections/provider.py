"""The lifecycle of an org connection: the Pulumi dynamic `ResourceProvider` behind `OrgConnection`.

The engine starts one provider process per deployment (`python -m pulumi.dynamic`), unpickles the
provider object from the resources' state once, and calls `configure()` with the stack
configuration. The pickled object holds nothing: keys, HTTP clients and what the provider learns
during the deployment live in a `_Deployment` made by `configure()`, in this process's memory only.

Requests per operation: create 1 (POST), update 1 (PATCH), delete 1 (DELETE), preview of an
unchanged resource 0; a refresh lists each source org's connections once (ceil(N/1000) requests
for N connections), whatever the number of resources; a preview that creates or moves a connection
checks the sink against the account's orgs once per org and process (1 GET).

Data safety:
- a replacement deletes the old connection before creating the new one (the pair may survive the
  replacement, and Datadog allows one connection per pair); a create that meets its pair still held by
  another resource's replacement waits for that delete (two connections swapping sinks: replacements.py);
- a connection created or adopted in this deployment is never deleted by the same deployment: the
  delete is the old side of a rename or an adoption handing the connection over (no DELETE sent);
- moving `source_org` to another alias of the same org is no replacement: the state records it.
"""

from __future__ import annotations

import functools
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
    NotFoundError,
    TransportError,
)
from .journal import Entry, Journal
from .models import Connection, ManagedOrgs
from .replacements import Replacements
from .schema import INPUTS, OWNER_INPUT, UUID_RE, changed_inputs, check_inputs, is_unknown
from .settings import Credentials
from .stack_config import KEYS as STACK_CONFIG_KEYS
from .stack_config import StackConfig
from .transport import RetryPolicy

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


#: Preview-time lookups fail fast: a broken org listing must not hold `pulumi preview` for minutes.
PROBE_POLICY = RetryPolicy(max_attempts=2, max_retry_seconds=5.0)


class _Listing:
    """The connections of one source org, listed once (all pages) for the reads of one command."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # one fetch in flight: concurrent first reads wait for it
        self.by_id: dict[str, Connection] | None = None


@dataclass(frozen=True)
class _Org:
    """One source org of the stack: its client, and the credentials resolved once for it."""

    client: OrgConnectionsClient
    credentials: Credentials

    def journal(self, owner: object) -> Journal:
        """This org's journal of creates for the declaring resource (`"project/stack/name"` input)."""
        creds = self.credentials
        return Journal(creds.base_url, creds.api_key, owner if isinstance(owner, str) and owner else None)


class _Deployment:
    """What this provider process holds for one deployment: config, one client per org, what it learnt."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._orgs: dict[str | None, _Org] = {}
        self._listings: dict[str | None, ManagedOrgs] = {}
        self._made: set[str] = set()  # ids created or adopted by this deployment
        self.replacements = Replacements()
        # Reads happen in `pulumi refresh` (and `up --refresh`, `OrgConnection.get`), whose provider
        # process serves that one command: a source org's connections are listed once for all its
        # reads. Any create, update or delete drops the lists, so that an engine interleaving reads
        # with mutations in one process would still read what the API holds now.
        self._connections: dict[tuple[str | None, str], _Listing] = {}

    def org(self, alias: str | None) -> _Org:
        """The org behind `alias` (None: the stack's own); a ConfigurationError names what is missing."""
        with self._lock:
            org = self._orgs.get(alias)
            if org is None:
                creds = self.config.credentials(alias)
                timeout = self.config.timeout_seconds
                client = OrgConnectionsClient(
                    creds,
                    timeout=(min(5.0, timeout), timeout),
                    max_retry_seconds=self.config.max_retry_seconds,
                )
                org = self._orgs[alias] = _Org(client, creds)
            return org

    def client(self, alias: str | None) -> OrgConnectionsClient:
        """The client of an org."""
        return self.org(alias).client

    def orgs(self, alias: str | None) -> ManagedOrgs:
        """The current org and the orgs it manages (``GET /api/v2/org``), once per deployment and org."""
        with self._lock:
            cached = self._listings.get(alias)
        if cached is not None:
            return cached
        listing = self.client(alias).list_managed_orgs(policy=PROBE_POLICY)
        with self._lock:
            self._listings[alias] = listing
        return listing

    def connection(self, alias: str | None, source_org_id: str, conn_id: str) -> Connection | None:
        """The connection `conn_id` of source org `source_org_id` (as `alias`'s keys list it), or None if gone."""
        with self._lock:
            listing = self._connections.setdefault((alias, source_org_id.lower()), _Listing())
        with listing.lock:
            if listing.by_id is None:
                found = self.client(alias).list_connections(source_org_id=source_org_id)
                listing.by_id = {c.id.lower(): c for c in found}
            return listing.by_id.get(conn_id.lower())

    def mutated(self) -> None:
        """A create, update or delete ran: the listed connections may be stale."""
        with self._lock:
            self._connections.clear()

    def settled(self, props: Mapping[str, Any], conn_id: str) -> None:
        """The engine holds `conn_id` (it diffs, reads, updates or deletes it): the journal may forget it."""
        alias, sink = props.get("source_org"), props.get("sink_org_id")
        if not isinstance(sink, str) or is_unknown(alias):
            return
        try:
            org = self.org(alias)
        except DatadogError:
            return  # no credentials for this org: nothing can have been journaled with them
        org.journal(props.get(OWNER_INPUT)).settled(sink, conn_id)

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
            for org in self._orgs.values():
                org.client.close()
            self._orgs.clear()


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
        self.deployment.settled({**olds, OWNER_INPUT: news.get(OWNER_INPUT)}, _id)
        changed = changed_inputs(olds, news)
        replaces = [spec.name for spec in changed if spec.effect == "replace"]
        if replaces == ["source_org"] and self._same_org(olds, news.get("source_org")):
            replaces = []  # another alias of the same org: the connection stays, the state records it
        self.deployment.replacements.diffed(_id, replaced=bool(replaces))
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
        self.deployment.mutated()
        try:
            client = self.deployment.client(alias)
            if props.get("adopt_id"):
                action, adopted = f"adopt org connection {props['adopt_id']}", "id"
                conn = self._adopt_by_id(client, props["adopt_id"], sink, alias)
            else:
                conn, adopted = self._create_or_adopt(props, sink, types)
            if sorted(conn.connection_types) != types:
                action = f"set connection_types of adopted org connection {conn.id}"
                conn = client.update_connection(conn.id, types)
        except DatadogError as exc:
            raise explain(exc, action, alias, sink) from None
        self.deployment.made(conn.id)
        return CreateResult(conn.id, _outputs(conn, props, adopted))

    def _create_or_adopt(
        self, props: dict[str, Any], sink: str, types: list[str]
    ) -> tuple[Connection, str | None]:
        """POST the connection, journaled (see journal.py); on a conflict, adopt when asked or when ours.

        Returns the connection and how it was adopted: None (created), "existing" (adopt_existing
        took a connection made elsewhere), "earlier-create" (an earlier create of this very resource,
        on this machine, made it and the engine was not known to hold it: a killed `pulumi up`).
        """
        org = self.deployment.org(props.get("source_org"))
        journal = org.journal(props.get(OWNER_INPUT))
        previous = journal.begin(sink)
        for attempt in (1, 2):
            try:
                conn = org.client.create_connection(sink, types)
                break
            except ConflictError as conflict:
                # Filtered by sink, the list holds only this pair: the current org is the source.
                found = next(iter(org.client.list_connections(sink_org_id=sink)), None)
                if attempt == 1 and (found is None or self.deployment.replacements.freed(found.id)):
                    continue  # the holder is gone since (another resource's replacement deleted it)
                return self._on_conflict(
                    org.client, journal, sink, previous, bool(props.get("adopt_existing")), conflict, found
                )
            except DatadogError as exc:
                if not exc.maybe_applied:
                    journal.refused(sink)  # refused, or never sent: nothing was made
                raise
        journal.answered(sink, conn.id)
        return conn, None

    def _on_conflict(
        self,
        client: OrgConnectionsClient,
        journal: Journal,
        sink: str,
        previous: Entry | None,
        adopt_existing: bool,
        conflict: ConflictError,
        found: Connection | None,
    ) -> tuple[Connection, str | None]:
        """The pair has a connection (`found`, None if gone since): adopt it if asked to, or if the
        journal proves it ours; else re-raise."""
        if found is None:
            journal.refused(sink)
            raise conflict  # the connection went away since: the next run creates it
        ours = (
            previous is not None
            and not self.deployment.made_here(found.id)  # held by another resource of this deployment
            and previous.claims(found.id, found.created_at, self._server_time(client, previous))
        )
        if ours:
            journal.answered(sink, found.id)
            return found, "earlier-create"
        journal.refused(sink)
        if adopt_existing:
            return found, "existing"
        raise conflict

    @staticmethod
    def _server_time(client: OrgConnectionsClient, entry: Entry) -> float | None:
        """When the pending attempt started, in the server's clock (from the answers' Date headers)."""
        return None if entry.pending is None else client.server_time(entry.pending)

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
        """Refresh: find the connection by id in its source org's connections (listed once per command).

        A connection gone out of band leaves the state. `OrgConnection.get` also reads, with no prior
        outputs (no `source_org_id`): then the list is paged, unfiltered, and an id that is not found is
        an error naming it, since the engine would otherwise keep the requested id with empty outputs.
        """
        alias, source = props.get("source_org"), props.get("source_org_id")
        if not source and not UUID_RE.match(id_):
            raise OrgConnectionError(
                f"read org connection {id_!r} failed for {org_label(alias)}: the id is not a connection id "
                "(a UUID). To fix: pass the id shown by `dd-org-connections list` to OrgConnection.get."
            )
        try:
            if source:
                conn = self.deployment.connection(alias, source, id_)
            else:
                conn = self.deployment.client(alias).find_connection(id_)
        except DatadogError as exc:
            raise explain(
                exc, f"read org connection {id_}", alias, props.get("sink_org_id"), STATE_KEYS_FIXES
            ) from None
        self.deployment.settled(props, id_)
        if conn is not None:
            return ReadResult(conn.id, _outputs(conn, props, props.get("adopted")))
        if source:
            return ReadResult("", {})
        raise OrgConnectionError(
            f"read org connection {id_} failed for {org_label(alias)}: no connection with this id is visible to "
            f"{org_label(alias)}. To fix: check the id with `dd-org-connections list`, or pass "
            "source_org=<alias> for a connection of another org."
        )

    @_one_line_errors
    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """One PATCH of connection_types (none when only state-only inputs or the alias changed)."""
        alias = news.get("source_org")
        self.deployment.settled({**olds, OWNER_INPUT: news.get(OWNER_INPUT)}, id_)
        types = sorted(news["connection_types"])
        if types == sorted(olds.get("connection_types") or []):
            outs = dict(olds)
            outs.update(
                {spec.name: news.get(spec.name) for spec in INPUTS if spec.name != "connection_types"}
            )
            return UpdateResult(outs)
        self.deployment.mutated()
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
            self.deployment.replacements.delete_ended(id_, deleted=False)
            return  # handed over to the resource that created or adopted it in this deployment
        alias = props.get("source_org")
        self.deployment.settled(props, id_)
        self.deployment.mutated()
        deleted = False
        try:
            self.deployment.client(alias).delete_connection(id_, missing_ok=True)
            deleted = True
        except DatadogError as exc:
            raise explain(
                exc, f"delete org connection {id_}", alias, props.get("sink_org_id"), STATE_KEYS_FIXES
            ) from None
        finally:
            self.deployment.replacements.delete_ended(id_, deleted)
