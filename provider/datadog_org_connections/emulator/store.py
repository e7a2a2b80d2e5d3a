"""The emulator's data: orgs from the seed and the connections between them.

One lock guards every read and mutation, so the uniqueness of a (source, sink) pair holds under
any concurrency. With a state file, the connections are written atomically (temporary file +
``os.replace``) after every mutation, while the lock is held, and read back at start.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .seed import (
    CONNECTION_TYPES,
    Org,
    Seed,
    SeedConnection,
    SeedError,
    User,
    derived_id,
    normalize_timestamp,
)

STATE_VERSION = 1

MSG_FORBIDDEN = "Forbidden"
MSG_NOT_FOUND = "Not found"
MSG_VALIDATION = "Validation failed for input."
MSG_BAD_UUID = "connection id must be a valid uuid"


def msg_not_allowed(source: str, sink: str) -> str:
    """The recorded 400 text for repeated types (also used for a connection to the org itself)."""
    return f"connection between orgs {source} and {sink} is not allowed"


def msg_exists(source: str, sink: str) -> str:
    """The recorded 409 text when the (source, sink) pair already has a connection."""
    return f"connection between orgs {source} and {sink} already exists"


def msg_connection_not_found(conn_id: str) -> str:
    """The recorded 404 text for an unknown connection id (the doubled "not found" is real)."""
    return f"org connection with id:{conn_id} not found not found"


class ApiError(Exception):
    """An API failure: HTTP status plus the strings of the ``{"errors": [...]}`` body."""

    def __init__(self, status: int, *messages: str) -> None:
        super().__init__(f"{status}: {'; '.join(messages)}")
        self.status = status
        self.messages: list[str] = list(messages)

    def body(self) -> dict[str, Any]:
        """The JSON body of the error answer."""
        return {"errors": list(self.messages)}


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
class Connection:
    """A connection from a source org to a sink org."""

    id: str
    source_org_id: str
    sink_org_id: str
    connection_types: list[str]
    created_at: str
    created_by_user_id: str | None = None

    def sort_key(self) -> tuple[str, str]:
        """Stable list order: creation time, then id."""
        return (self.created_at, self.id)

    def to_record(self) -> dict[str, Any]:
        """The persisted form (state file)."""
        return {
            "id": self.id,
            "source_org_id": self.source_org_id,
            "sink_org_id": self.sink_org_id,
            "connection_types": list(self.connection_types),
            "created_at": self.created_at,
            "created_by_user_id": self.created_by_user_id,
        }


@dataclass
class Authentication:
    """The result of authenticating a request's keys."""

    org: Org | None = None
    user: User | None = None
    reasons: list[str] = field(default_factory=list)

    @property
    def valid_keys(self) -> bool:
        """Both keys known and belonging to the same org."""
        return self.org is not None and self.user is not None


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
    """Thread-safe store of orgs (read-only, from the seed) and connections (mutable)."""

    def __init__(self, seed: Seed, state_path: str | Path | None = None) -> None:
        self.seed = seed
        self.state_path: Path | None = Path(state_path) if state_path is not None else None
        self.lock = threading.RLock()
        self._connections: dict[str, Connection] = {}
        self._pairs: dict[tuple[str, str], str] = {}
        if self.state_path is not None and self.state_path.exists():
            self._load_state(self.state_path)
        else:
            self._load_seed_connections()
            self._save()

    # ----------------------------------------------------------------------------- loading

    def _install(self, conn: Connection) -> None:
        self._connections[conn.id] = conn
        self._pairs[(conn.source_org_id, conn.sink_org_id)] = conn.id

    def _load_seed_connections(self) -> None:
        self._connections.clear()
        self._pairs.clear()
        for index, seeded in enumerate(self.seed.connections):
            self._install(self._from_seed(index, seeded))

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

    def _load_state(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise SeedError(f"{path}: cannot read state file: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("connections"), list):
            raise SeedError(f"{path}: state file must be an object with a 'connections' list")
        for index, raw in enumerate(data["connections"]):
            where = f"{path}: connections[{index}]"
            try:
                conn = Connection(
                    id=str(raw["id"]),
                    source_org_id=str(raw["source_org_id"]),
                    sink_org_id=str(raw["sink_org_id"]),
                    connection_types=[str(t) for t in raw["connection_types"]],
                    created_at=str(raw["created_at"]),
                    created_by_user_id=raw.get("created_by_user_id"),
                )
            except (KeyError, TypeError) as exc:
                raise SeedError(f"{where}: malformed record ({exc})") from exc
            for side in ("source_org_id", "sink_org_id"):
                if getattr(conn, side) not in self.seed.orgs_by_id:
                    raise SeedError(f"{where}.{side}: org {getattr(conn, side)} is not in the seed")
            if (conn.source_org_id, conn.sink_org_id) in self._pairs:
                raise SeedError(f"{where}: duplicate (source, sink) pair")
            self._install(conn)

    def _save(self) -> None:
        """Write the connections to the state file atomically (caller holds the lock)."""
        if self.state_path is None:
            return
        records = [c.to_record() for c in sorted(self._connections.values(), key=Connection.sort_key)]
        payload = json.dumps({"version": STATE_VERSION, "connections": records}, indent=2)
        directory = self.state_path.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.state_path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
            os.replace(tmp, self.state_path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def reset(self) -> None:
        """Back to the seed's connections (and save them to the state file)."""
        with self.lock:
            self._load_seed_connections()
            self._save()

    # ------------------------------------------------------------------------------- auth

    def authenticate(self, api_key: str | None, app_key: str | None) -> Authentication:
        """Resolve the org owning ``api_key`` and the user owning ``app_key`` (must be the same org)."""
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
        else:
            caller.user = owner[1]
        return caller

    # ------------------------------------------------------------------------------ reads

    def get(self, conn_id: str) -> Connection | None:
        """The connection with this id (a copy), if any."""
        with self.lock:
            conn = self._connections.get(conn_id)
            return _copy(conn) if conn is not None else None

    def all(self) -> list[Connection]:
        """Every connection (copies), in list order."""
        with self.lock:
            return [_copy(c) for c in sorted(self._connections.values(), key=Connection.sort_key)]

    def list_for(
        self,
        org_id: str,
        *,
        source_org_id: str | None = None,
        sink_org_id: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> tuple[list[Connection], int, int]:
        """One page of the connections ``org_id`` takes part in.

        Returns ``(page, total_count, total_filtered_count)``: ``total_count`` counts every
        connection of the org, ``total_filtered_count`` those matching the org id filters.
        """
        with self.lock:
            mine = [c for c in self._connections.values() if org_id in (c.source_org_id, c.sink_org_id)]
            filtered = [
                c
                for c in mine
                if (source_org_id is None or c.source_org_id == source_org_id)
                and (sink_org_id is None or c.sink_org_id == sink_org_id)
            ]
            filtered.sort(key=Connection.sort_key)
            page = [_copy(c) for c in filtered[offset : offset + limit]]
            return page, len(mine), len(filtered)

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
        """Create a connection; raises :class:`ApiError` (404 unknown/foreign sink, 400 self, 409 pair)."""
        types = _checked_types(connection_types)
        if len(set(types)) != len(types):
            raise ApiError(400, msg_not_allowed(source_org_id, sink_org_id))
        with self.lock:
            source = self.seed.orgs_by_id.get(source_org_id)
            if source is None:
                raise ApiError(404, MSG_NOT_FOUND)
            if sink_org_id == source_org_id:
                raise ApiError(400, msg_not_allowed(source_org_id, sink_org_id))
            sink = self.seed.orgs_by_id.get(sink_org_id)
            if sink is None or sink.account != source.account:
                raise ApiError(404, MSG_NOT_FOUND)
            if (source_org_id, sink_org_id) in self._pairs:
                raise ApiError(409, msg_exists(source_org_id, sink_org_id))
            new_id = conn_id or str(uuid.uuid4())
            if new_id in self._connections:
                raise ApiError(409, f"connection id {new_id} already exists")
            conn = Connection(
                id=new_id,
                source_org_id=source_org_id,
                sink_org_id=sink_org_id,
                connection_types=types,
                created_at=normalize_timestamp(created_at) if created_at else now_timestamp(),
                created_by_user_id=created_by_user_id,
            )
            self._install(conn)
            self._save()
            return _copy(conn)

    def update(
        self, conn_id: str, connection_types: Sequence[str], *, as_org: str | None = None
    ) -> Connection:
        """Replace a connection's types.

        With ``as_org``, only the source org may update: another org gets the 404 an unknown id
        gets. Types must already be validated (repeats raise 400 ``Validation failed for input.``).
        """
        types = _checked_types(connection_types)
        if len(set(types)) != len(types):
            raise ApiError(400, MSG_VALIDATION)  # recorded: exactly this one message
        with self.lock:
            conn = self._connections.get(conn_id)
            if conn is None or (as_org is not None and conn.source_org_id != as_org):
                raise ApiError(404, msg_connection_not_found(conn_id))
            conn.connection_types = types
            self._save()
            return _copy(conn)

    def delete(self, conn_id: str, *, as_org: str | None = None) -> Connection:
        """Delete a connection; with ``as_org`` the org must be its source or its sink (else 404)."""
        with self.lock:
            conn = self._connections.get(conn_id)
            if conn is None or (as_org is not None and as_org not in (conn.source_org_id, conn.sink_org_id)):
                raise ApiError(404, msg_connection_not_found(conn_id))
            del self._connections[conn_id]
            del self._pairs[(conn.source_org_id, conn.sink_org_id)]
            self._save()
            return conn

    # ---------------------------------------------------------------------------- render

    def render(self, conn: Connection) -> dict[str, Any]:
        """The JSON:API resource object of a connection, as the API answers it."""
        source = self.seed.orgs_by_id.get(conn.source_org_id)
        sink = self.seed.orgs_by_id.get(conn.sink_org_id)
        relationships: dict[str, Any] = {
            "source_org": {
                "data": {"type": "orgs", "id": conn.source_org_id, "name": source.name if source else ""}
            },
            "sink_org": {"data": {"type": "orgs", "id": conn.sink_org_id, "name": sink.name if sink else ""}},
        }
        user = source.user(conn.created_by_user_id) if source and conn.created_by_user_id else None
        if conn.created_by_user_id is not None:
            relationships["created_by"] = {
                "data": {"type": "users", "id": conn.created_by_user_id, "name": user.name if user else ""}
            }
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
        raise ApiError(400, MSG_VALIDATION, str(exc)) from None


def _copy(conn: Connection) -> Connection:
    return Connection(
        id=conn.id,
        source_org_id=conn.source_org_id,
        sink_org_id=conn.sink_org_id,
        connection_types=list(conn.connection_types),
        created_at=conn.created_at,
        created_by_user_id=conn.created_by_user_id,
    )
