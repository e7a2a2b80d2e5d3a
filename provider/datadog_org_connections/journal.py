"""A journal of creates the engine may not hold yet, so that the next `pulumi up` finishes them.

Pulumi records a create only when the provider's answer reaches the engine and the engine writes
its checkpoint. Between the POST and that checkpoint, a `pulumi up` can die (SIGKILL, an OOM kill,
a CI runner going away) or the answer can be lost; the connection then exists while the state does
not know it, and the next `up` meets HTTP 409. To converge instead, the provider keeps one small
entry per (source org, sink org) pair:

- ``pending``: when the earliest create of the pair whose outcome is unknown started (written
  *before* the POST is sent, so a kill at any later moment leaves it behind);
- ``conn_id``: the connection the last answered create made or adopted, kept until the engine is
  known to hold it: this provider later diffs, reads, updates or deletes that id.

On a 409 for the pair, the existing connection is ours when its id is ``conn_id``, or when it was
created at or after ``pending`` *in the server's clock* (the client converts the local start time
with the ``Date`` header of the API's answers: no local clock margin). A connection made by hand or
by another machine before the attempt still conflicts. Entries expire after :data:`EXPIRY_SECONDS`.

Entries are scoped by API URL, a short one-way fingerprint of the API key (never the key) and the
resource that declares the connection (`project/stack/name`), and hold no secret: only the resource
whose create was interrupted gets its connection back, never another stack, nor a renamed resource
(whose rename gets the usual 409 and its advice). Each is one file under
`$PULUMI_HOME/datadog-org-connections/pending-creates/` (`~/.pulumi` by default) or
`$DDOC_JOURNAL_DIR`, replaced atomically: no shared file, no global lock. The journal is per
machine: on a fresh CI runner, `dd-org-connections reconcile` finds what a killed run left behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

__all__ = ["EXPIRY_SECONDS", "Entry", "Journal", "created_at_or_after", "journal_dir"]

EXPIRY_SECONDS = 7 * 24 * 3600


def journal_dir() -> Path:
    """Where the journal's entries live."""
    explicit = os.environ.get("DDOC_JOURNAL_DIR")
    if explicit:
        return Path(explicit)
    home = os.environ.get("PULUMI_HOME") or os.path.join(os.path.expanduser("~"), ".pulumi")
    return Path(home) / "datadog-org-connections" / "pending-creates"


@dataclass(frozen=True)
class Entry:
    """What the journal knows of one pair's creates."""

    conn_id: str | None = None  # made or adopted by the last answered create; engine not known to hold it
    pending: float | None = None  # local wall-clock start of the earliest create with an unknown outcome
    updated: float = 0.0

    def claims(self, conn_id: str, created_at: str, server_time: float | None) -> bool:
        """Whether the pair's existing connection comes from one of the creates recorded here.

        ``server_time`` is ``pending`` converted to the server's clock (``None``: not known, so an
        interrupted attempt cannot be proven to have made it).
        """
        if self.conn_id is not None and self.conn_id == conn_id.lower():
            return True
        return (
            self.pending is not None
            and server_time is not None
            and created_at_or_after(created_at, server_time)
        )


def created_at_or_after(created_at: str, moment: float) -> bool:
    """Whether an RFC 3339 ``created_at`` is at or after ``moment`` (epoch seconds)."""
    try:
        created = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return False
    return created.tzinfo is not None and created.timestamp() >= moment


class Journal:
    """The entries of one source org (one API URL and API key) within one Pulumi project."""

    def __init__(
        self, base_url: str, api_key: str, project: str | None = None, directory: Path | None = None
    ) -> None:
        fingerprint = hashlib.sha256(api_key.encode()).hexdigest()[:12]
        self._scope = f"{base_url}|{fingerprint}|{project if project is not None else os.environ.get('PULUMI_PROJECT', '')}"
        self._dir = directory if directory is not None else journal_dir()

    def _path(self, sink_org_id: str) -> Path:
        digest = hashlib.sha256(f"{self._scope}|{sink_org_id.lower()}".encode()).hexdigest()[:32]
        return self._dir / f"{digest}.json"

    def read(self, sink_org_id: str) -> Entry | None:
        """The pair's entry, if one is there and not expired."""
        try:
            data = json.loads(self._path(sink_org_id).read_text())
            entry = Entry(data.get("conn_id"), data.get("pending"), float(data["updated"]))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return entry if time.time() - entry.updated < EXPIRY_SECONDS else None

    def _write(self, sink_org_id: str, entry: Entry) -> None:
        path = self._path(sink_org_id)
        if entry.conn_id is None and entry.pending is None:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        record = {"conn_id": entry.conn_id, "pending": entry.pending, "updated": time.time()}
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)

    def begin(self, sink_org_id: str) -> Entry | None:
        """A create of the pair starts now: record it before the POST. Returns the entry as it was."""
        previous = self.read(sink_org_id)
        pending = previous.pending if previous is not None and previous.pending is not None else time.time()
        self._write(sink_org_id, Entry(previous.conn_id if previous else None, pending))
        return previous

    def answered(self, sink_org_id: str, conn_id: str) -> None:
        """The create made (or adopted) ``conn_id``: remember it until the engine is known to hold it."""
        self._write(sink_org_id, Entry(conn_id.lower(), None))

    def refused(self, sink_org_id: str) -> None:
        """The create made nothing: forget the attempt (a connection answered earlier stays remembered)."""
        previous = self.read(sink_org_id)
        self._write(sink_org_id, Entry(previous.conn_id if previous else None, None))

    def settled(self, sink_org_id: str, conn_id: str) -> None:
        """The engine holds ``conn_id``: it no longer needs remembering."""
        previous = self.read(sink_org_id)
        if previous is not None and previous.conn_id == conn_id.lower():
            self._write(sink_org_id, Entry(None, previous.pending))

    def forget(self, sink_org_id: str) -> None:
        """Drop the pair's entry."""
        with contextlib.suppress(OSError):
            self._path(sink_org_id).unlink()
