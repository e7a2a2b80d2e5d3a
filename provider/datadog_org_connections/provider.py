"""The lifecycle of an org connection: the Pulumi dynamic `ResourceProvider` behind `OrgConnection`.

The engine starts one provider process per deployment (`python -m pulumi.dynamic`), unpickles the
provider object from the resources' state once, and calls `configure()` with the stack
configuration. The pickled object holds nothing: keys, HTTP clients and what the provider learns
during the deployment live in a `Deployment` (deployment.py), in this process's memory only.

Requests per operation: create 1 (POST), update 1 (PATCH), delete 1 (DELETE); who each org's keys
are, once per org and process (identity.py: the preview of an unchanged stack sends that and nothing
else); a refresh lists each source org's connections once (ceil(N/1000) requests for N connections),
whatever the number of resources; a preview that creates or moves a connection checks the sink
against the account's orgs once per org and process (1 GET).

What the keys may do is checked before planning or acting (preflight.py): keys of nobody fail the
check; keys that cannot write warn when the plan changes connections and are refused before
create/update/delete send anything; a person's keys warn (their connections die with their account).

Identity before action (nothing is adopted, updated, deleted or dropped from the state on a guess):
- the keys' org must be the one the connection comes from (diff: else the preview fails naming
  both orgs) or one of its two orgs (read, update, delete: else the command fails and the state
  keeps the connection); where the keys' org cannot be learnt, the checks fail open;
- a connection missing from a listing, or a DELETE/PATCH answered 404, is "gone" only when the keys
  are proven to be a party of it (and, for 404s, a listing with those keys confirms it);
- one (source org, sink org) pair is declared by one resource of a deployment (check), and
  adoption never takes a connection another resource of the deployment holds;
- `adopt_id` is for the resource's first create: a replacement creates the new connection.

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
import traceback
from collections.abc import Callable, Mapping
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
    Fixes,
    OrgConnectionError,
    explain,
    hide_traceback_of_report,
    mask,
    org_label,
    restore_traceback_limit,
)
from .client import OrgConnectionsClient
from .deployment import Deployment
from .errors import ConfigurationError, ConflictError, DatadogError, NotFoundError, TransportError
from .identity import KeysIdentity
from .journal import Entry, Journal
from .models import UUID_RE, Connection
from .outputs import creator_is_service_account, outputs, refreshed_inputs, secret_outputs
from .preflight import require_write, review
from .proofs import confirm_gone, held_elsewhere, identity_or_none, keys_moved, require_party, resource_name
from .schema import INPUTS, OWNER_INPUT, changed_inputs, check_inputs, is_unknown, secret_values
from .stack_config import KEYS as STACK_CONFIG_KEYS
from .stack_config import StackConfig

__all__ = ["OrgConnectionError", "OrgConnectionProvider"]

F = TypeVar("F", bound=Callable[..., Any])


def _one_line_errors(method: F) -> F:
    """Errors leave as one `OrgConnectionError` line, with the values of secret inputs masked (the
    last argument holds the inputs); a bug keeps its traceback inside the message."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        restore_traceback_limit()  # a previous error's report may never have been formatted
        secrets = secret_values(args[-1]) if args and isinstance(args[-1], Mapping) else []
        try:
            return method(*args, **kwargs)
        except OrgConnectionError as exc:
            if secrets:
                masked = OrgConnectionError(mask(str(exc), secrets))  # str() restores the limit: mask first
                hide_traceback_of_report()
                raise masked from None
            hide_traceback_of_report()
            raise
        except Exception as exc:
            error = OrgConnectionError(
                mask(
                    f"unexpected error in OrgConnection {method.__name__} (a bug: please report it): "
                    f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=50)}",
                    secrets,
                )
            )
            hide_traceback_of_report()
            raise error from None

    return wrapper  # type: ignore[return-value]


def _owner_facts(owner: object) -> dict[str, str]:
    """What an advice may name about the resource: its stack (from ``__owner``, ``project/stack/name``)."""
    if isinstance(owner, str) and owner.count("/") >= 2:
        return {"stack": owner.split("/", 2)[1]}
    return {}


class OrgConnectionProvider(ResourceProvider):
    """Dynamic provider for `OrgConnection`. The pickled object holds nothing: see the module docstring."""

    # The object is empty (no keys), so the serialized provider need not be a secret.
    serialize_as_secret_always = False
    _deployment: Deployment | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {}  # never pickle what configure() made (keys, sessions)

    def configure(self, req: ConfigureRequest) -> None:
        """Take the stack configuration (keys stay in this process's memory only)."""
        if self._deployment is not None:
            self._deployment.close()
        self._deployment = Deployment(StackConfig({key: req.config.get(key) for key in STACK_CONFIG_KEYS}))

    @property
    def deployment(self) -> Deployment:
        """This process's deployment state (a provider used before configure() reads the environment)."""
        if self._deployment is None:
            self._deployment = Deployment(StackConfig())
        return self._deployment

    def _identity(self, alias: str | None) -> KeysIdentity | None:
        """Who `alias`'s keys are; None when the alias has no usable keys (the step needing them says so)."""
        return identity_or_none(self.deployment, alias)

    # --- check / diff -------------------------------------------------------------------------

    @_one_line_errors
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Validate inputs at preview time: one resource per pair; the sink against the account when new."""
        config = self.deployment.config
        inputs, failures = check_inputs(news, config)
        if failures:
            return CheckResult(inputs, failures)
        sink, alias = inputs.get("sink_org_id"), inputs.get("source_org")
        if not is_unknown(alias):
            review(alias, self._identity(alias), plans_change=not _olds)  # see preflight.py
        if not isinstance(sink, str) or is_unknown(sink) or is_unknown(alias):
            return CheckResult(inputs, failures)
        existing = bool((_olds or {}).get("sink_org_id"))  # the state holds this resource (old inputs)
        twice = self._declared_twice(inputs, alias, sink, existing)
        if twice is not None:
            failures.append(twice)
        wanted = inputs.get("validate_sink", True) is not False and config.validate_sink
        if wanted and sink != (_olds or {}).get("sink_org_id"):
            failure = self._check_sink_in_account(sink, alias)
            if failure is not None:
                failures.append(failure)
        secrets = secret_values(inputs)
        return CheckResult(inputs, [CheckFailure(f.property, mask(f.reason, secrets)) for f in failures])

    def _declared_twice(
        self, inputs: dict[str, Any], alias: str | None, sink: str, existing: bool
    ) -> CheckFailure | None:
        """Datadog allows one connection per (source org, sink org): refuse a second resource declaring
        the pair in this deployment (through another alias of the same org, or a repeated declaration).

        The engine checks resources in the order their registrations arrive, so the second may be one
        the state already holds (`existing`): refused at check, its diff would never run and the provider
        would not know it holds the connection, which the other's create could then adopt. So an existing
        resource passes the check and its diff refuses it, after recording it as the holder; and neither
        resource creates or adopts a connection in this deployment (`Deployment.contested`)."""
        owner = inputs.get(OWNER_INPUT)
        identity = self._identity(alias)
        if not isinstance(owner, str) or not owner or identity is None:
            return None
        other = self.deployment.declare((identity.pair_key(), sink), owner)
        if other is None:
            return None
        source = identity.text if identity.known else f"{org_label(alias)} (the same API key)"
        reason = (
            f"{resource_name(owner)} and {resource_name(other)} both declare the connection from {source} "
            f"to sink org {sink}, and Datadog allows one connection per pair: remove one of the two "
            "declarations (two aliases of one org name the same source org)"
        )
        self.deployment.contest((owner, other), reason)
        return None if existing else CheckFailure("sink_org_id", reason)

    def _check_sink_in_account(self, sink: str, alias: str | None) -> CheckFailure | None:
        """Refuse a sink only when the org listing proves it wrong; otherwise let create answer.

        Provably wrong: the sink is the source org itself (``data.id``), or it is missing from a
        listing that covers the account (the keys manage other orgs: a parent org's keys). A child
        org's keys list only the child, and keys without ``org_management`` or
        ``org_connections_write`` (a read-only preview in CI) may not list orgs at all: then the check
        passes, and a wrong sink gets the API's own 404 at create.
        """
        identity = self._identity(alias)
        if identity is not None and identity.user is not None and identity.user.can_write is False:
            return None  # GET /api/v2/org needs the write permission these keys lack: it would be refused
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
        """Replace (deleting first) when the orgs change; update in place when only the types change.

        Fails when the keys now belong to another org than the one the connection comes from."""
        owner = news.get(OWNER_INPUT)
        self.deployment.held(_id, owner)
        contested = self.deployment.contested(owner)
        if contested is not None:
            raise OrgConnectionError(contested)  # after `held`: no other resource adopts its connection
        changed = changed_inputs(olds, news)
        replaces = [spec.name for spec in changed if spec.effect == "replace"]
        alias = news.get("source_org")
        if not is_unknown(alias):
            identity = self._identity(alias)
            same_org = identity.is_org(olds.get("source_org_id")) if identity is not None else None
            if "source_org" not in replaces and same_org is False and identity is not None:
                raise keys_moved(_id, olds, alias, identity)
            if replaces == ["source_org"] and same_org:
                replaces = []  # another alias of the same org: the connection stays, the state records it
            updates = any(spec.effect == "update" for spec in changed)
            review(alias, identity, plans_change=bool(replaces) or updates)  # see preflight.py
        if replaces:
            self.deployment.replacing(owner, _id)
            self._check_adopt_id_for_replacement(_id, news)
        self.deployment.replacements.diffed(_id, replaced=bool(replaces))
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=bool(replaces))

    def _check_adopt_id_for_replacement(self, conn_id: str, news: dict[str, Any]) -> None:
        """`adopt_id` is for a resource's first create. Left in place through a replacement it names the
        connection being replaced: the new connection is created. Changed to another connection, it must
        join the new pair, or the preview fails before anything is deleted."""
        adopt_id, sink, alias = news.get("adopt_id"), news.get("sink_org_id"), news.get("source_org")
        if not adopt_id or is_unknown(adopt_id) or adopt_id.lower() == conn_id.lower():
            return
        if not isinstance(sink, str) or is_unknown(sink) or is_unknown(alias):
            return
        try:
            found = self.deployment.client(alias).find_connection(adopt_id, sink_org_id=sink)
        except DatadogError as exc:
            raise explain(exc, f"check adopt_id {adopt_id}", alias, sink) from None
        if found is None:
            raise OrgConnectionError(
                f"adopt_id {adopt_id} is not a connection from {org_label(alias)} to sink org {sink}, so this "
                "replacement could not take it over. adopt_id is read only at a resource's first create. To fix: "
                "remove adopt_id (the replacement creates the new connection), or set it to the id of the "
                f"connection to {sink} to adopt (`dd-org-connections list`)."
            )

    # --- create ---------------------------------------------------------------------------------

    @_one_line_errors
    def create(self, props: dict[str, Any]) -> CreateResult:
        """One POST; adoption of an existing connection when asked (adopt_existing / adopt_id)."""
        alias: str | None = props.get("source_org")
        sink: str = props["sink_org_id"]
        types: list[str] = sorted(props["connection_types"])
        owner = props.get(OWNER_INPUT)
        contested = self.deployment.contested(owner)
        if contested is not None:
            raise OrgConnectionError(contested)
        adopt_id = props.get("adopt_id")
        if adopt_id and adopt_id.lower() == self.deployment.replaced_by(owner):
            adopt_id = None  # it names the connection this replacement deleted: create the new one
        action, adopted = "create org connection", None
        if not adopt_id:
            self._require_write(action, alias, sink)
        self.deployment.mutated()
        try:
            client = self.deployment.client(alias)
            if adopt_id:
                action, adopted = f"adopt org connection {adopt_id}", "id"
                conn = self._adopt_by_id(client, adopt_id, sink, alias, owner)
            else:
                conn, adopted = self._create_or_adopt(props, sink, types)
            if sorted(conn.connection_types) != types:
                action = f"set connection_types of adopted org connection {conn.id}"
                self._require_write(action, alias, sink)
                conn = client.update_connection(conn.id, types)
        except DatadogError as exc:
            raise explain(exc, action, alias, sink, facts=_owner_facts(owner)) from None
        self.deployment.made(conn.id)
        identity = self.deployment.known_identity(alias)
        made_here = adopted in (None, "earlier-create")
        user = identity.user if identity is not None else None
        service_account = creator_is_service_account(conn, user, made_here)
        return CreateResult(conn.id, outputs(conn, props, adopted, service_account=service_account))

    def _require_write(self, action: str, alias: str | None, sink: object, recorded: bool = False) -> None:
        """Before the first request that changes anything: refuse keys proven unable to (preflight.py).

        Only what this process already learnt is used (the engine checks every resource of the program
        before changing any), so that a change stays one request: `pulumi destroy`, which checks
        nothing, gets the API's own answer."""
        where = f"{org_label(alias)} -> sink org {sink}" if sink else org_label(alias)
        require_write(action, where, alias, self.deployment.known_identity(alias), recorded)

    def _create_or_adopt(
        self, props: dict[str, Any], sink: str, types: list[str]
    ) -> tuple[Connection, str | None]:
        """POST the connection, journaled (see journal.py); on a conflict, adopt when asked or when ours.

        Returns the connection and how it was adopted: None (created), "existing" (adopt_existing
        took a connection made elsewhere), "earlier-create" (an earlier create of this very resource,
        on this machine, made it and the engine was not known to hold it: a killed `pulumi up`),
        "config" (stack config `orgConnections:adopt` names it for this resource: reconcile's repair
        on another machine).
        """
        alias = props.get("source_org")
        org = self.deployment.org(alias)
        journal = org.journal(props.get(OWNER_INPUT))
        config = self.deployment.config
        previous = journal.begin(sink, budget=config.max_retry_seconds + config.timeout_seconds)
        for attempt in (1, 2):
            try:
                conn = org.client.create_connection(sink, types)
                break
            except ConflictError as conflict:
                # Filtered by sink, the list holds only this pair: the current org is the source.
                found = next(iter(org.client.list_connections(sink_org_id=sink)), None)
                if attempt == 1 and (found is None or self.deployment.replacements.freed(found.id)):
                    continue  # the holder is gone since (another resource's replacement deleted it)
                return self._on_conflict(org.client, journal, previous, props, conflict, found)
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
        previous: Entry | None,
        props: dict[str, Any],
        conflict: ConflictError,
        found: Connection | None,
    ) -> tuple[Connection, str | None]:
        """The pair has a connection (`found`, None if gone since): adopt it if asked to, or if the
        journal proves it ours; else re-raise, naming it."""
        sink, owner = props["sink_org_id"], props.get(OWNER_INPUT)
        contested = self.deployment.contested(owner)
        if contested is not None:  # the pair's other declaration was checked since this create began
            journal.refused(sink)
            raise OrgConnectionError(contested)
        if found is None:
            journal.refused(sink)
            raise conflict  # the connection went away since: the next run creates it
        holder = self.deployment.holder(found.id, owner)
        held_here = holder is not None or self.deployment.made_here(found.id)
        ours = (
            previous is not None
            and not held_here
            and previous.claims(found.id, found.created_at, self._server_time(client, previous))
            and self._created_by_these_keys(props.get("source_org"), found) is not False
        )
        if ours:
            journal.answered(sink, found.id)
            return found, "earlier-create"
        journal.refused(sink)
        if not held_here and self._adoption_configured(owner) == found.id.lower():
            return found, "config"  # orgConnections:adopt names it for this resource (reconcile's repair)
        if held_here:
            fix: Fixes = {ConflictError: held_elsewhere(found, holder)}
            raise explain(conflict, "create org connection", props.get("source_org"), sink, fix) from None
        if props.get("adopt_existing"):
            return found, "existing"
        alias = props.get("source_org")
        facts = {**_owner_facts(owner), "existing_id": found.id}
        raise explain(conflict, "create org connection", alias, sink, facts=facts) from None

    def _adoption_configured(self, owner: object) -> str | None:
        """The connection id stack config `orgConnections:adopt` names for the resource `owner`, if any."""
        if not isinstance(owner, str) or not owner:
            return None
        return self.deployment.config.adoption(owner.split("/", 2)[-1])

    def _created_by_these_keys(self, alias: str | None, found: Connection) -> bool | None:
        """Whether the user behind the keys created `found` (None: cannot tell)."""
        identity = self._identity(alias)
        user = identity.user if identity is not None else None
        if user is None or not user.user_id or not found.created_by_id:
            return None
        return user.user_id.lower() == found.created_by_id.lower()

    @staticmethod
    def _server_time(client: OrgConnectionsClient, entry: Entry) -> float | None:
        """When the pending attempt started, in the server's clock (from the answers' Date headers)."""
        return None if entry.pending is None else client.server_time(entry.pending)

    def _adopt_by_id(
        self, client: OrgConnectionsClient, conn_id: str, sink: str, alias: str | None, owner: object
    ) -> Connection:
        """The connection `conn_id`, proven to join this org to `sink` and held by no other resource."""
        conn = client.find_connection(conn_id, sink_org_id=sink)
        if conn is not None and conn.sink_org_id.lower() == sink:
            holder = self.deployment.holder(conn.id, owner)
            if holder is not None or self.deployment.made_here(conn.id):
                raise OrgConnectionError(
                    f"adopt org connection {conn_id} failed for {org_label(alias)} -> sink org {sink}: "
                    f"{held_elsewhere(conn, holder)}."
                )
            return conn
        other = client.find_connection(conn_id)
        where = f"adopt org connection {conn_id} failed for {org_label(alias)} -> sink org {sink}"
        if other is None:
            raise OrgConnectionError(
                f"{where}: no such connection is visible to {org_label(alias)}. To fix: check adopt_id with "
                "`dd-org-connections list`; if the connection was deleted (or replaced), remove adopt_id."
            )
        raise OrgConnectionError(
            f"{where}: that connection joins {other.source_org_name} ({other.source_org_id}) -> "
            f"{other.sink_org_name} ({other.sink_org_id}). To fix: set sink_org_id and source_org to the "
            "orgs it joins, or adopt another connection."
        )

    # --- read / update / delete -----------------------------------------------------------------

    @_one_line_errors
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Refresh: find the connection by id in its source org's connections (listed once per command).

        A connection gone out of band leaves the state, once the keys are proven to be of one of its
        orgs. `OrgConnection.get` also reads, with no prior outputs (no `source_org_id`): then the list
        is paged, unfiltered, and an id that is not found is an error naming it, since the engine would
        otherwise keep the requested id with empty outputs.
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
        self.deployment.held(id_, props.get(OWNER_INPUT))
        if conn is not None:
            outs = outputs(conn, props, props.get("adopted"), props)
            return ReadResult(conn.id, outs, refreshed_inputs(conn, props) if source else None)
        if source:
            require_party(self.deployment, id_, props, "refresh")
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
        self.deployment.held(id_, news.get(OWNER_INPUT))
        types = sorted(news["connection_types"])
        if types == sorted(olds.get("connection_types") or []):
            outs = dict(olds)
            outs.update(
                {spec.name: news.get(spec.name) for spec in INPUTS if spec.name != "connection_types"}
            )
            return UpdateResult(secret_outputs(outs))
        self._require_write(f"update org connection {id_}", alias, news.get("sink_org_id"))
        self.deployment.mutated()
        try:
            conn = self.deployment.client(alias).update_connection(id_, types)
        except NotFoundError:
            where = {**olds, "source_org": alias}
            confirm_gone(self.deployment, id_, where, "update")
            raise OrgConnectionError(
                f"update org connection {id_} failed for {org_label(alias)} -> sink org "
                f"{news.get('sink_org_id')}: the connection was deleted outside Pulumi. To fix: run "
                "`pulumi refresh`, then `pulumi up` recreates it."
            ) from None
        except DatadogError as exc:
            raise explain(exc, f"update org connection {id_}", alias, news.get("sink_org_id")) from None
        return UpdateResult(outputs(conn, news, olds.get("adopted"), olds))

    @_one_line_errors
    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """One DELETE; a connection proven gone counts as deleted. Kept (no DELETE): one this deployment
        created or adopted, and one another resource of this deployment holds (both hand-overs: the
        resource leaving the state lets the one that declares the connection keep it)."""
        owner = props.get(OWNER_INPUT)
        if self.deployment.made_here(id_) or self.deployment.holder(id_, owner) is not None:
            self.deployment.replacements.delete_ended(id_, deleted=False)
            return
        alias = props.get("source_org")
        self.deployment.settle(id_)
        deleted = False
        try:
            self._require_write(
                f"delete org connection {id_}", alias, props.get("sink_org_id"), recorded=True
            )
            self.deployment.mutated()
            if not self.deployment.client(alias).delete_connection(id_, missing_ok=True):
                confirm_gone(self.deployment, id_, props, "delete")  # 404: gone, once proven
            deleted = True
        except DatadogError as exc:
            raise explain(
                exc, f"delete org connection {id_}", alias, props.get("sink_org_id"), STATE_KEYS_FIXES
            ) from None
        finally:
            self.deployment.replacements.delete_ended(id_, deleted)
