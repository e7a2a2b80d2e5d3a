"""Replacements within one deployment: lets a create wait for the delete that frees its pair.

Two connections of a stack that swap sinks are two replacements, each deleting first. Nothing orders one
resource's delete before the other's create: the engine diffs and steps each resource as the program
registers it, so a create can meet its pair still held by the other resource's old connection (HTTP 409),
and even before that resource has been diffed. A create that meets a 409 therefore asks this record
whether the holder is being replaced in this deployment and, if so, waits for its delete, then POSTs again.

Only a deployment that has diffed a replacement waits at all, and each wait is bounded: a conflict with a
connection nothing here replaces (made by hand, another stack's) ends in the 409 as before.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

#: How long a conflicting create waits for the holder's diff to reach this provider (the program may
#: still be registering it). Spent only when the deployment replaces something and the holder is new here.
DIFF_WAIT_SECONDS = 20.0

#: How long it waits for the holder's delete once its diff said "replace". A delete that never comes
#: (retain_on_delete, a failed step) ends in the 409.
DELETE_WAIT_SECONDS = 60.0


@dataclass
class _Fate:
    """What this deployment decided about one existing connection."""

    diffed: threading.Event = field(default_factory=threading.Event)
    replaced: bool = False
    delete_ended: threading.Event = field(default_factory=threading.Event)
    deleted: bool = False


class Replacements:
    """The diffs and deletes of one deployment, by connection id (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fates: dict[str, _Fate] = {}
        self._any_replaced = False

    def _fate(self, conn_id: str) -> _Fate:
        with self._lock:
            return self._fates.setdefault(conn_id.lower(), _Fate())

    def diffed(self, conn_id: str, replaced: bool) -> None:
        """Diff answered for `conn_id`: replace it (deleting first), or keep it."""
        fate = self._fate(conn_id)
        with self._lock:
            fate.replaced = replaced
            self._any_replaced |= replaced
        fate.diffed.set()

    def delete_ended(self, conn_id: str, deleted: bool) -> None:
        """The engine's delete of `conn_id` ended (`deleted`: the connection is gone)."""
        with self._lock:
            fate = self._fates.get(conn_id.lower())
            if fate is None:
                return
            fate.deleted = deleted
        fate.delete_ended.set()

    def freed(self, conn_id: str) -> bool:
        """Whether `conn_id` is replaced in this deployment and its delete has now succeeded.

        Waits, within the bounds above, for its diff and then its delete."""
        with self._lock:
            if not self._any_replaced:
                return False
        fate = self._fate(conn_id)
        if not fate.diffed.wait(DIFF_WAIT_SECONDS) or not fate.replaced:
            return False
        if not fate.delete_ended.wait(DELETE_WAIT_SECONDS):
            return False
        with self._lock:
            return fate.deleted
