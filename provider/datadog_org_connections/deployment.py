"""What one provider process holds for one deployment: config, a client per org, and what it learnt.

The engine starts one provider process per command (`pulumi preview`, the update of `pulumi up`,
`refresh`, `destroy`). Nothing here outlives it, and nothing here is pickled into the state: keys,
HTTP sessions, who the keys are, the connections listed for reads, which resource holds which
connection, and which resource declares which (source org, sink org) pair.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .client import OrgConnectionsClient
from .errors import DatadogError, ForbiddenError
from .identity import KeysIdentity
from .journal import Journal, settle_held
from .models import Connection, CurrentUser, ManagedOrgs
from .replacements import Replacements
from .settings import Credentials
from .stack_config import StackConfig
from .transport import RetryPolicy

__all__ = ["PROBE_POLICY", "Deployment", "OrgHandle"]

#: Preview-time lookups fail fast: a broken org listing must not hold `pulumi preview` for minutes.
PROBE_POLICY = RetryPolicy(max_attempts=2, max_retry_seconds=5.0)


def _refused_twice(client: OrgConnectionsClient, first: ForbiddenError) -> str:
    """After current_user's 403: the proof that the keys authenticate as nobody (the two refusals'
    texts) when the connections list refuses them too; "" when it does not (a scoped key) or fails
    otherwise (unproven: the preflight then says nothing)."""
    try:
        client.list_page(limit=1, policy=PROBE_POLICY)
    except ForbiddenError as second:
        return f"GET /api/v2/current_user {_answer(first)} and GET /api/v2/org_connections {_answer(second)}"
    except DatadogError:
        return ""
    return ""


def _answer(exc: ForbiddenError) -> str:
    """``answered 403 (Forbidden)``: the status and the API's own texts."""
    texts = f" ({'; '.join(exc.api_errors)})" if exc.api_errors else ""
    return f"answered {exc.status}{texts}"


class _Listing:
    """The connections of one source org, listed once (all pages) for the reads of one command."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # one fetch in flight: concurrent first reads wait for it
        self.by_id: dict[str, Connection] | None = None


@dataclass(frozen=True)
class OrgHandle:
    """One source org of the stack: its client, and the credentials resolved once for it."""

    client: OrgConnectionsClient
    credentials: Credentials

    def journal(self, owner: object) -> Journal:
        """This org's journal of creates for the declaring resource (`"project/stack/name"` input)."""
        creds = self.credentials
        return Journal(creds.base_url, creds.api_key, owner if isinstance(owner, str) and owner else None)


class Deployment:
    """Per-process state of the provider (thread-safe: the host serves up to 4 calls at once)."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._orgs: dict[str | None, OrgHandle] = {}
        self._listings: dict[str | None, ManagedOrgs] = {}
        self._identities: dict[str | None, KeysIdentity] = {}
        self._identity_locks: dict[str | None, threading.Lock] = {}
        self._made: set[str] = set()  # ids created or adopted by this deployment
        self._held: dict[str, str] = {}  # connection id -> the resource (owner) the engine holds it for
        self._pairs: dict[tuple[str, str], str] = {}  # (source org key, sink) -> declaring resource
        self._contested: dict[str, str] = {}  # resource declaring a pair another declares too -> why refused
        self._replaced: dict[str, str] = {}  # declaring resource -> id of the connection it replaces
        self.replacements = Replacements()
        # Reads happen in `pulumi refresh` (and `up --refresh`, `OrgConnection.get`), whose provider
        # process serves that one command: a source org's connections are listed once for all its
        # reads. Any create, update or delete drops the lists, so that an engine interleaving reads
        # with mutations in one process would still read what the API holds now.
        self._connections: dict[tuple[str | None, str], _Listing] = {}

    # --- orgs, clients, who the keys are ---------------------------------------------------------

    def org(self, alias: str | None) -> OrgHandle:
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
                org = self._orgs[alias] = OrgHandle(client, creds)
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

    def identity(self, alias: str | None) -> KeysIdentity:
        """Who `alias`'s keys are (see identity.py): one lookup per org and process, never raising for
        an API failure (the org is then unknown); a ConfigurationError when the alias has no keys.

        This is the preflight of every command (preflight.py reads it): current_user (1 request);
        when it answers 403, the connections list (limit 1) tells refused keys from a scoped key."""
        org = self.org(alias)
        with self._lock:
            lock = self._identity_locks.setdefault(alias, threading.Lock())
        with lock:
            cached = self._identities.get(alias)
            if cached is not None:
                return cached
            failures: list[str] = []
            user: CurrentUser | None = None
            refused = ""
            try:
                user = org.client.get_current_user(policy=PROBE_POLICY)
            except ForbiddenError as exc:
                failures.append(str(exc))
                refused = _refused_twice(org.client, exc)
            except DatadogError as exc:
                failures.append(str(exc))
            listing: ManagedOrgs | None = None
            if not refused and (user is None or not user.org_id):
                try:
                    listing = self.orgs(alias)
                except DatadogError as exc:
                    failures.append(str(exc))
            found = KeysIdentity.learnt(org.credentials, user, listing, failures, refused)
            self._identities[alias] = found
            return found

    def known_identity(self, alias: str | None) -> KeysIdentity | None:
        """Who `alias`'s keys are if this process already looked (no request): create, update and
        delete follow the check and diff of the same process, and stay at one request each."""
        with self._lock:
            return self._identities.get(alias)

    # --- reads -------------------------------------------------------------------------------------

    def connection(self, alias: str | None, source_org_id: str, conn_id: str) -> Connection | None:
        """The connection `conn_id` of source org `source_org_id` (as `alias`'s keys list it), or None if
        they do not list it."""
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

    # --- which resource holds and declares what ----------------------------------------------------

    def held(self, conn_id: str, owner: object) -> None:
        """The engine holds `conn_id` for the resource `owner` (it diffs, reads, updates or deletes it):
        the journal forgets it, whatever resource or stack wrote the entry."""
        with self._lock:
            self._held[conn_id.lower()] = owner if isinstance(owner, str) else ""
        settle_held(conn_id)

    @staticmethod
    def settle(conn_id: str) -> None:
        """`conn_id` is the engine's (it deletes it): the journal forgets it, whoever wrote the entry."""
        settle_held(conn_id)

    def holder(self, conn_id: str, owner: object) -> str | None:
        """Another resource of this deployment holding `conn_id` ("" if its name is not known), if any."""
        with self._lock:
            other = self._held.get(conn_id.lower())
        return None if other is None or other == (owner if isinstance(owner, str) else "") else other

    def declare(self, pair: tuple[str, str], owner: str) -> str | None:
        """Record that `owner` declares the connection of `pair`; the other resource declaring it, if any."""
        with self._lock:
            other = self._pairs.setdefault(pair, owner)
        return None if other == owner else other

    def contest(self, owners: tuple[str, str], reason: str) -> None:
        """Two resources declare one pair: neither may create, adopt or diff a connection in this deployment."""
        with self._lock:
            for owner in owners:
                self._contested.setdefault(owner, reason)

    def contested(self, owner: object) -> str | None:
        """Why `owner` may not act on a connection (another resource declares its pair too), if so."""
        with self._lock:
            return self._contested.get(owner) if isinstance(owner, str) else None

    def replacing(self, owner: object, conn_id: str) -> None:
        """The resource `owner` replaces connection `conn_id` in this deployment."""
        if isinstance(owner, str) and owner:
            with self._lock:
                self._replaced[owner] = conn_id.lower()

    def replaced_by(self, owner: object) -> str | None:
        """The connection that `owner`'s create replaces in this deployment, if any."""
        with self._lock:
            return self._replaced.get(owner) if isinstance(owner, str) else None

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
