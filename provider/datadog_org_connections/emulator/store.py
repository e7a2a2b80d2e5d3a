"""The emulator's data: orgs and users from the seed, the connections between them, and who is
deactivated.

One lock (``Store.lock``) guards every read and mutation, so the uniqueness of a (source, sink)
pair, the non-Enterprise limit and a user's deactivation hold under any concurrency. The
connections live in a :class:`~.index.ConnectionIndex`, so no request costs more because other
orgs store more. With a state file, the state is written atomically after every mutation, while
the lock is held, and read back at start.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .failures import (
    MSG_FORBIDDEN,
    MSG_NOT_FOUND,
    MSG_VALIDATION,
    NON_ENTERPRISE_MAX_SINKS,
    ApiFailure,
    msg_connection_not_found,
    msg_exists,
    msg_not_allowed,
    msg_update_not_found,
    sink_limit_failure,
)
from .index import Connection, ConnectionIndex, Page
from .seed import (
    CONNECTION_TYPES,
    Org,
    Seed,
    SeedConnection,
    User,
    derived_id,
    normalize_timestamp,
)
from .statefile import read_state, write_state


def now_timestamp() -> str:
    """The current time as the API formats it: RFC 3339, microseconds, ``+00:00``."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def parse_uuid(value: str) -> str | None:
    """The canonical (lower-case, hyphenated) form of a UUID string, or ``None`` if malformed."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        return None


@dataclass
class Authentication:
    """The result of authenticating a request's keys."""

    org: Org | None = None
    user: User | None = None
    reasons: list[str] = field(default_factory=list)

    @property
    def valid_keys(self) -> bool:
        """Both keys known, belonging to the same org, and the user active."""
        return self.org is not None and self.user is not None


@dataclass(frozen=True)
class Deactivation:
    """What deactivating a user did: the user, whether it was active, the connections deleted."""

    org: Org
    user: User
    was_active: bool
    deleted: list[Connection]


def check_connection_types(value: object) -> list[str]:
    """Validate a ``connection_types`` value; raises :class:`ValueError` describing the problem.

    Repeated values are *not* rejected here: callers answer them with their endpoint's own text.
    """
    if not isinstance(value, list):
        raise ValueError("connection_types: expected a list")
    if not value:
        raise ValueError("connection_types: at least one connection type is required")
    for item in value:
        if not isinstance(item, str) or item not in CONNECTION_TYPES:
            raise ValueError(
                f"connection_types: unknown value {item!r} (expected one of {', '.join(CONNECTION_TYPES)})"
            )
    return list(value)


class Store:
    """Thread-safe store of orgs and users (from the seed), connections and deactivated users."""

    def __init__(self, seed: Seed, state_path: str | Path | None = None) -> None:
        self.seed = seed
        self.state_path: Path | None = Path(state_path) if state_path is not None else None
        self.lock = threading.RLock()
        self._index = ConnectionIndex()
        self._deactivated: set[str] = set()
        if self.state_path is not None and self.state_path.exists():
            saved = read_state(self.state_path, seed)
            for conn in saved.connections:
                self._index.add(conn)
            self._deactivated = saved.deactivated_user_ids
        else:
            self._load_seed()
            self._save()

    # ----------------------------------------------------------------------------- loading

    def _load_seed(self) -> None:
        self._index.clear()
        self._deactivated = set()
        for index, seeded in enumerate(self.seed.connections):
            self._index.add(self._from_seed(index, seeded))

    def _from_seed(self, index: int, seeded: SeedConnection) -> Connection:
        source = self.seed.orgs_by_id[seeded.source_org_id]
        creator = seeded.created_by_user_id
        if creator is None:
            default = source.default_creator()
            creator = default.id if default is not None else None
        return Connection(
            # Stable across resets and restarts when the seed gives no id.
            id=seeded.id or derived_id(4, "connection", seeded.source_org_id, seeded.sink_org_id),
            source_org_id=seeded.source_org_id,
            sink_org_id=seeded.sink_org_id,
            connection_types=list(seeded.connection_types),
            # Seeded connections without a timestamp keep the seed order in listings.
            created_at=seeded.created_at or f"2025-01-01T00:00:00.{index:06d}+00:00",
            created_by_user_id=creator,
        )

    def _save(self) -> None:
        """Write the state file, if any (caller holds the lock)."""
        if self.state_path is not None:
            write_state(self.state_path, self._index.ordered(), self._deactivated)

    def reset(self) -> None:
        """Back to the seed: its connections, every user active (and save that)."""
        with self.lock:
            self._load_seed()
            self._save()

    # ------------------------------------------------------------------------------- auth

    def authenticate(self, api_key: str | None, app_key: str | None) -> Authentication:
        """Resolve the org owning ``api_key`` and the active user owning ``app_key`` (same org)."""
        caller = Authentication()
        org = self.seed.org_by_api_key.get(api_key) if api_key else None
        if org is None:
            caller.reasons.append("missing API key" if not api_key else "unknown API key")
            return caller
        caller.org = org
        owner = self.seed.user_by_app_key.get(app_key) if app_key else None
        if owner is None:
            caller.reasons.append("missing application key" if not app_key else "unknown application key")
        elif owner[0].id != org.id:
            caller.reasons.append("application key belongs to another org")
        elif not self.is_active(owner[1].id):
            caller.reasons.append("application key of a deactivated user")
        else:
            caller.user = owner[1]
        return caller

    def is_active(self, user_id: str) -> bool:
        """Whether the user has not been deactivated since the last reset."""
        with self.lock:
            return user_id not in self._deactivated

    def default_creator(self, org: Org) -> User | None:
        """The active user credited with an out-of-band connection: the first who may write them."""
        with self.lock:
            active = [u for u in org.users if u.id not in self._deactivated]
        for user in active:
            if user.can_write_connections:
                return user
        return active[0] if active else None

    # ------------------------------------------------------------------------------ reads

    def get(self, conn_id: str) -> Connection | None:
        """The connection with this id (a copy), if any."""
        with self.lock:
            conn = self._index.get(conn_id)
            return conn.copy() if conn is not None else None

    def all(self) -> list[Connection]:
        """Every connection (copies), in list order (control endpoints only: costs O(N log N))."""
        with self.lock:
            return [c.copy() for c in self._index.ordered()]

    def list_for(
        self,
        org_id: str,
        *,
        source_org_id: str | None = None,
        sink_org_id: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> Page:
        """One page (copies) of the connections ``org_id`` takes part in, filtered by org ids.

        ``total_count`` counts every connection of the org, ``total_filtered_count`` those
        matching the filters. Costs what the org's own page costs, whatever other orgs hold.
        """
        with self.lock:
            page = self._index.page(org_id, source_org_id, sink_org_id, limit, offset)
            page.connections = [c.copy() for c in page.connections]
            return page

    # -------------------------------------------------------------------------- mutations

    def create(
        self,
        source_org_id: str,
        sink_org_id: str,
        connection_types: Sequence[str],
        created_by_user_id: str | None,
        *,
        conn_id: str | None = None,
        created_at: str | None = None,
    ) -> Connection:
        """Create a connection, or raise :class:`ApiFailure`.

        400 repeated types or to itself; 404 unknown sink, another account or another site; 409
        pair taken; 400 past the non-Enterprise limit (modelled); 403 creator deactivated.
        """
        types = _checked_types(connection_types)
        if len(set(types)) != len(types):
            raise ApiFailure(400, msg_not_allowed(source_org_id, sink_org_id))
        with self.lock:
            source = self.seed.orgs_by_id.get(source_org_id)
            if source is None:
                raise ApiFailure(404, MSG_NOT_FOUND)
            if sink_org_id == source_org_id:
                raise ApiFailure(400, msg_not_allowed(source_org_id, sink_org_id))
            sink = self.seed.orgs_by_id.get(sink_org_id)
            if sink is None or sink.account != source.account or sink.site != source.site:
                raise ApiFailure(404, MSG_NOT_FOUND)
            if self._index.by_pair(source_org_id, sink_org_id) is not None:
                raise ApiFailure(409, msg_exists(source_org_id, sink_org_id))
            shared = self._index.outgoing_count(source_org_id)
            if not source.enterprise and shared >= NON_ENTERPRISE_MAX_SINKS:
                raise sink_limit_failure(source_org_id)
            if created_by_user_id is not None and created_by_user_id in self._deactivated:
                raise ApiFailure(403, MSG_FORBIDDEN)  # deactivated while its request was in flight
            new_id = conn_id or str(uuid.uuid4())
            if self._index.get(new_id) is not None:
                raise ApiFailure(409, f"connection id {new_id} already exists")
            conn = Connection(
                id=new_id,
                source_org_id=source_org_id,
                sink_org_id=sink_org_id,
                connection_types=types,
                created_at=normalize_timestamp(created_at) if created_at else now_timestamp(),
                created_by_user_id=created_by_user_id,
            )
            self._index.add(conn)
            self._save()
            return conn.copy()

    def update(
        self, conn_id: str, connection_types: Sequence[str], *, as_org: str | None = None
    ) -> Connection:
        """Replace a connection's types.

        With ``as_org``, only the source org may update: another org gets the 404 an unknown id
        gets (the recorded PATCH text). Repeated types raise 400 ``Validation failed for input.``
        (the recorded text).
        """
        types = _checked_types(connection_types)
        if len(set(types)) != len(types):
            raise ApiFailure(400, MSG_VALIDATION)  # recorded: exactly this one message
        with self.lock:
            conn = self._index.get(conn_id)
            if conn is None or (as_org is not None and conn.source_org_id != as_org):
                raise ApiFailure(404, msg_update_not_found(conn_id))
            conn.connection_types = types
            self._save()
            return conn.copy()

    def delete(self, conn_id: str, *, as_org: str | None = None) -> Connection:
        """Delete a connection; with ``as_org`` the org must be its source or its sink (else 404)."""
        with self.lock:
            conn = self._index.get(conn_id)
            if conn is None or (as_org is not None and as_org not in (conn.source_org_id, conn.sink_org_id)):
                raise ApiFailure(404, msg_connection_not_found(conn_id))
            self._index.remove(conn_id)
            self._save()
            return conn

    def deactivate(self, user_ref: str) -> Deactivation:
        """Deactivate a user (id or name): its application keys stop working (403) and every
        connection it created is deleted, as Datadog does. Idempotent. 404 unknown user."""
        org, user = self._resolve_user(user_ref)
        with self.lock:
            was_active = user.id not in self._deactivated
            self._deactivated.add(user.id)
            # The creator is a user of the source org, so the org's own connections are enough.
            doomed = [c for c in self._index.of_org(org.id) if c.created_by_user_id == user.id]
            for conn in doomed:
                self._index.remove(conn.id)
            self._save()
            return Deactivation(org, user, was_active, doomed)

    def _resolve_user(self, ref: str) -> tuple[Org, User]:
        wanted = parse_uuid(ref) or ref
        matches = [(o, u) for o in self.seed.orgs for u in o.users if wanted in (u.id, u.name)]
        if not matches:
            raise ApiFailure(404, MSG_NOT_FOUND, f"no user with id or name {ref!r}")
        if len(matches) > 1:
            raise ApiFailure(400, f"user name {ref!r} is ambiguous: give the user id")
        return matches[0]

    # ---------------------------------------------------------------------------- render

    def render(self, conn: Connection, *, names: bool = True) -> dict[str, Any]:
        """The JSON:API resource object of a connection, as the API answers it.

        ``names=False``: the relationships carry only ``type`` and ``id``, as the recorded PATCH
        answer does; create and list answers carry the names.
        """
        source = self.seed.orgs_by_id.get(conn.source_org_id)
        sink = self.seed.orgs_by_id.get(conn.sink_org_id)
        user = source.user(conn.created_by_user_id) if source and conn.created_by_user_id else None

        def ref(kind: str, ident: str, name: str) -> dict[str, Any]:
            return {
                "data": {"type": kind, "id": ident, "name": name} if names else {"type": kind, "id": ident}
            }

        relationships: dict[str, Any] = {
            "source_org": ref("orgs", conn.source_org_id, source.name if source else ""),
            "sink_org": ref("orgs", conn.sink_org_id, sink.name if sink else ""),
        }
        if conn.created_by_user_id is not None:
            relationships["created_by"] = ref("users", conn.created_by_user_id, user.name if user else "")
        return {
            "type": "org_connection",
            "id": conn.id,
            "attributes": {"created_at": conn.created_at, "connection_types": list(conn.connection_types)},
            "relationships": relationships,
        }

    def render_many(self, conns: Iterable[Connection]) -> list[dict[str, Any]]:
        """:meth:`render` for several connections."""
        return [self.render(c) for c in conns]


def _checked_types(value: Sequence[str]) -> list[str]:
    try:
        return check_connection_types(list(value))
    except ValueError as exc:
        raise ApiFailure(400, MSG_VALIDATION, str(exc)) from None
