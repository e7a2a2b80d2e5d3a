"""The ``--state`` file: connections and deactivated users, kept across restarts.

Written atomically (temporary file in the same directory, then ``os.replace``); the caller holds
the store lock. The file holds no keys. Writing it is the one operation whose cost grows with the
number of connections: it only happens when a state file is configured.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .index import Connection
from .seed import Seed, SeedError

STATE_VERSION = 1


@dataclass
class SavedState:
    """What a state file holds."""

    connections: list[Connection] = field(default_factory=list)
    deactivated_user_ids: set[str] = field(default_factory=set)


def read_state(path: Path, seed: Seed) -> SavedState:
    """Read and check a state file against the seed; problems raise :class:`SeedError`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SeedError(f"{path}: cannot read state file: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("connections"), list):
        raise SeedError(f"{path}: state file must be an object with a 'connections' list")
    saved = SavedState()
    pairs: set[tuple[str, str]] = set()
    for index, raw in enumerate(data["connections"]):
        where = f"{path}: connections[{index}]"
        conn = _connection(raw, where)
        for side in ("source_org_id", "sink_org_id"):
            if getattr(conn, side) not in seed.orgs_by_id:
                raise SeedError(f"{where}.{side}: org {getattr(conn, side)} is not in the seed")
        pair = (conn.source_org_id, conn.sink_org_id)
        if pair in pairs:
            raise SeedError(f"{where}: duplicate (source, sink) pair")
        pairs.add(pair)
        saved.connections.append(conn)
    users = data.get("deactivated_user_ids", [])  # absent from files written before it existed
    if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
        raise SeedError(f"{path}: deactivated_user_ids must be a list of user ids")
    saved.deactivated_user_ids = set(users)
    return saved


def _connection(raw: Any, where: str) -> Connection:
    try:
        return Connection(
            id=str(raw["id"]),
            source_org_id=str(raw["source_org_id"]),
            sink_org_id=str(raw["sink_org_id"]),
            connection_types=[str(t) for t in raw["connection_types"]],
            created_at=str(raw["created_at"]),
            created_by_user_id=raw.get("created_by_user_id"),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise SeedError(f"{where}: malformed record ({exc})") from exc


def write_state(path: Path, connections: Iterable[Connection], deactivated_user_ids: Iterable[str]) -> None:
    """Write the state file atomically (``connections`` already in list order)."""
    payload = json.dumps(
        {
            "version": STATE_VERSION,
            "connections": [c.to_record() for c in connections],
            "deactivated_user_ids": sorted(deactivated_user_ids),
        },
        indent=2,
    )
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(payload)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
