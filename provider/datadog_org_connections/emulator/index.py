"""The connections, indexed so that no request costs more as other orgs store more.

Indexes (not thread-safe on their own: the store's one lock guards them):

- by id: ``dict``;
- by (source, sink) pair: ``dict``, which is what makes the pair unique;
- per org, three lists of ``(created_at, id)`` keys kept sorted (``bisect``): every connection the
  org takes part in, its outgoing ones, its incoming ones.

A list request of one org touches only that org's keys (and only one page of them); a request
filtered on both org ids, or on the other org, is one dictionary lookup. Create, update and
delete touch the pair and the two orgs' lists. Nothing scans the connections of other orgs.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

SortKey = tuple[str, str]


@dataclass
class Connection:
    """A connection from a source org to a sink org."""

    id: str
    source_org_id: str
    sink_org_id: str
    connection_types: list[str]
    created_at: str
    created_by_user_id: str | None = None

    def sort_key(self) -> SortKey:
        """Stable list order: creation time, then id."""
        return (self.created_at, self.id)

    def copy(self) -> Connection:
        """An independent copy (the store never hands out its own objects)."""
        return Connection(
            id=self.id,
            source_org_id=self.source_org_id,
            sink_org_id=self.sink_org_id,
            connection_types=list(self.connection_types),
            created_at=self.created_at,
            created_by_user_id=self.created_by_user_id,
        )

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
class Page:
    """One page of an org's list: the connections and the two counts the API reports."""

    connections: list[Connection]
    total_count: int
    total_filtered_count: int


class _OrgLists:
    """The sorted keys of one org's connections: all of them, outgoing, incoming."""

    __slots__ = ("all", "incoming", "outgoing")

    def __init__(self) -> None:
        self.all: list[SortKey] = []
        self.outgoing: list[SortKey] = []
        self.incoming: list[SortKey] = []


def _remove(keys: list[SortKey], key: SortKey) -> None:
    at = bisect.bisect_left(keys, key)
    if at < len(keys) and keys[at] == key:
        del keys[at]


class ConnectionIndex:
    """Connections by id, by (source, sink) pair and by org (sorted by ``(created_at, id)``)."""

    def __init__(self) -> None:
        self._by_id: dict[str, Connection] = {}
        self._by_pair: dict[tuple[str, str], Connection] = {}
        self._by_org: dict[str, _OrgLists] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def clear(self) -> None:
        """Forget every connection."""
        self._by_id.clear()
        self._by_pair.clear()
        self._by_org.clear()

    def _lists(self, org_id: str) -> _OrgLists:
        lists = self._by_org.get(org_id)
        if lists is None:
            lists = self._by_org[org_id] = _OrgLists()
        return lists

    def add(self, conn: Connection) -> None:
        """Index a connection (the caller has checked that its id and pair are free)."""
        key = conn.sort_key()
        self._by_id[conn.id] = conn
        self._by_pair[(conn.source_org_id, conn.sink_org_id)] = conn
        source, sink = self._lists(conn.source_org_id), self._lists(conn.sink_org_id)
        for keys in (source.all, source.outgoing, sink.all, sink.incoming):
            bisect.insort(keys, key)

    def remove(self, conn_id: str) -> Connection | None:
        """Drop a connection from every index; ``None`` if the id is unknown."""
        conn = self._by_id.pop(conn_id, None)
        if conn is None:
            return None
        del self._by_pair[(conn.source_org_id, conn.sink_org_id)]
        key = conn.sort_key()
        source, sink = self._lists(conn.source_org_id), self._lists(conn.sink_org_id)
        for keys in (source.all, source.outgoing, sink.all, sink.incoming):
            _remove(keys, key)
        return conn

    def get(self, conn_id: str) -> Connection | None:
        """The indexed connection with this id (the live object: the caller holds the lock)."""
        return self._by_id.get(conn_id)

    def by_pair(self, source_org_id: str, sink_org_id: str) -> Connection | None:
        """The connection of a (source, sink) pair, if any."""
        return self._by_pair.get((source_org_id, sink_org_id))

    def outgoing_count(self, org_id: str) -> int:
        """How many connections ``org_id`` is the source of."""
        lists = self._by_org.get(org_id)
        return len(lists.outgoing) if lists is not None else 0

    def of_org(self, org_id: str) -> list[Connection]:
        """Every connection ``org_id`` takes part in, in list order."""
        lists = self._by_org.get(org_id)
        return [self._by_id[key[1]] for key in lists.all] if lists is not None else []

    def ordered(self) -> Iterator[Connection]:
        """Every connection in list order (for the control endpoints and the state file only)."""
        return iter(sorted(self._by_id.values(), key=Connection.sort_key))

    def page(
        self, org_id: str, source_org_id: str | None, sink_org_id: str | None, limit: int, offset: int
    ) -> Page:
        """One page of what ``org_id`` takes part in, filtered by the org ids given."""
        lists = self._by_org.get(org_id) or _OrgLists()
        total = len(lists.all)
        if source_org_id is None and sink_org_id is None:
            keys = lists.all
        elif source_org_id == org_id and sink_org_id is None:
            keys = lists.outgoing
        elif sink_org_id == org_id and source_org_id is None:
            keys = lists.incoming
        else:  # the other org is named, so at most one pair can match: one lookup
            source = source_org_id if source_org_id is not None else org_id
            sink = sink_org_id if sink_org_id is not None else org_id
            match = self._by_pair.get((source, sink)) if org_id in (source, sink) else None
            keys = [match.sort_key()] if match is not None else []
        chosen = [self._by_id[key[1]] for key in keys[offset : offset + limit]]
        return Page(chosen, total, len(keys))
