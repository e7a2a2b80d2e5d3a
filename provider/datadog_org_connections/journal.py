"""A journal of creates the engine may not hold yet, so that the next `pulumi up` finishes them.

Pulumi records a create only when the provider's answer reaches the engine and the engine writes
its checkpoint. Between the POST and that checkpoint, a `pulumi up` can die (SIGKILL, an OOM kill,
a CI runner going away) or the answer can be lost; the connection then exists while the state does
not know it, and the next `up` meets HTTP 409. To converge instead, the provider keeps one small
entry per (declaring resource, source org, sink org):

- ``pending``: when the earliest create of the pair whose outcome is unknown started (written
  *before* the POST is sent, so a kill at any later moment leaves it behind), and ``budget``, how
  long that create could go on retrying;
- ``conn_id``: the connection the last answered create made or adopted, kept until the engine is
  known to hold it.

On a 409 for the pair, the existing connection is the resource's own when its id is ``conn_id``, or
when it was created within ``[pending, pending + budget]`` *in the server's clock* (the client
converts the local start time with the ``Date`` header of the API's answers: no local clock margin)
and, when both are known, by the user the keys belong to. A connection made by hand or by another
machine before the attempt, or long after it, still conflicts. Entries expire after
:data:`EXPIRY_SECONDS`.

An entry never outlives the engine holding its id, whatever resource, stack or name holds it now
(a stack rename, an alias rename, `pulumi state move`): an index by connection id lets
:func:`settle_held` forget it from anywhere, and it is called

- by the provider whenever it diffs, reads, updates or deletes a connection (any owner), and
- by the program (`OrgConnection`) as soon as the engine hands it the resource's id: the engine
  answers a registration only after the checkpoint holding the result is written.

So only an answer the engine never checkpointed survives: the case the journal is for.

Entries are scoped by API URL, a short one-way fingerprint of the API key (never the key) and the
resource that declares the connection (`project/stack/name`), and hold no secret. Each is one file
under `$PULUMI_HOME/datadog-org-connections/pending-creates/` (`~/.pulumi` by default) or
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

__all__ = ["EXPIRY_SECONDS", "Entry", "Journal", "created_within", "journal_dir", "settle_held"]

EXPIRY_SECONDS = 7 * 24 * 3600

#: Added to a create's retry budget when bounding what it can have made (the server's own latency).
CLAIM_MARGIN_SECONDS = 60.0


def journal_dir() -> Path:
    """Where the journal's entries live."""
    explicit = os.environ.get("DDOC_JOURNAL_DIR")
    if explicit:
        return Path(explicit)
    home = os.environ.get("PULUMI_HOME") or os.path.join(os.path.expanduser("~"), ".pulumi")
    return Path(home) / "datadog-org-connections" / "pending-creates"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _write_atomically(path: Path, data: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _held_index(directory: Path, conn_id: str) -> Path:
    return directory / "by-id" / f"{_digest(conn_id.lower())}.json"


@dataclass(frozen=True)
class Entry:
    """What the journal knows of one pair's creates."""

    conn_id: str | None = None  # made or adopted by the last answered create; engine not known to hold it
    pending: float | None = None  # local wall-clock start of the earliest create with an unknown outcome
    updated: float = 0.0
    budget: float | None = None  # how long that create could retry (None: unknown, no upper bound)

    def claims(self, conn_id: str, created_at: str, server_time: float | None) -> bool:
        """Whether the pair's existing connection comes from one of the creates recorded here.

        ``server_time`` is ``pending`` converted to the server's clock (``None``: not known, so an
        interrupted attempt cannot be proven to have made it).
        """
        if self.conn_id is not None and self.conn_id == conn_id.lower():
            return True
        if self.pending is None or server_time is None:
            return False
        until = None if self.budget is None else server_time + self.budget + CLAIM_MARGIN_SECONDS
        return created_within(created_at, server_time, until)


def created_within(created_at: str, start: float, until: float | None = None) -> bool:
    """Whether an RFC 3339 ``created_at`` is at or after ``start`` (and at or before ``until``)."""
    try:
        created = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return False
    if created.tzinfo is None:
        return False
    moment = created.timestamp()
    return moment >= start and (until is None or moment <= until)


def settle_held(conn_id: str, directory: Path | None = None) -> None:
    """The engine holds ``conn_id``: forget it in whatever entry remembers it (any owner, any stack)."""
    directory = directory if directory is not None else journal_dir()
    index = _held_index(directory, conn_id)
    try:
        entry_name = json.loads(index.read_text())["entry"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    path = directory / str(entry_name)
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
        data = json.loads(path.read_text())
        if str(data.get("conn_id") or "").lower() == conn_id.lower():
            if data.get("pending") is None:
                path.unlink(missing_ok=True)
            else:
                _write_atomically(path, {**data, "conn_id": None, "updated": time.time()})
    index.unlink(missing_ok=True)


class Journal:
    """The entries of one source org (one API URL and API key) for one declaring resource."""

    def __init__(
        self, base_url: str, api_key: str, owner: str | None = None, directory: Path | None = None
    ) -> None:
        fingerprint = hashlib.sha256(api_key.encode()).hexdigest()[:12]
        owner = owner if owner is not None else os.environ.get("PULUMI_PROJECT", "")
        self._scope = f"{base_url}|{fingerprint}|{owner}"
        self._dir = directory if directory is not None else journal_dir()

    def _path(self, sink_org_id: str) -> Path:
        return self._dir / f"{_digest(f'{self._scope}|{sink_org_id.lower()}')}.json"

    def read(self, sink_org_id: str) -> Entry | None:
        """The pair's entry, if one is there and not expired."""
        try:
            data = json.loads(self._path(sink_org_id).read_text())
            budget = data.get("budget")
            entry = Entry(
                data.get("conn_id"),
                data.get("pending"),
                float(data["updated"]),
                float(budget) if budget is not None else None,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return entry if time.time() - entry.updated < EXPIRY_SECONDS else None

    def _write(self, sink_org_id: str, entry: Entry) -> None:
        path = self._path(sink_org_id)
        if entry.conn_id is None and entry.pending is None:
            path.unlink(missing_ok=True)
            return
        record: dict[str, object] = {
            "conn_id": entry.conn_id,
            "pending": entry.pending,
            "budget": entry.budget,
            "updated": time.time(),
        }
        _write_atomically(path, record)
        if entry.conn_id is not None:
            _write_atomically(_held_index(self._dir, entry.conn_id), {"entry": path.name})

    def begin(self, sink_org_id: str, budget: float | None = None) -> Entry | None:
        """A create of the pair starts now and may retry for ``budget`` seconds: record it before the
        POST. Returns the entry as it was."""
        previous = self.read(sink_org_id)
        if previous is not None and previous.pending is not None:
            pending, budget = previous.pending, _longest(previous.budget, budget)
        else:
            pending = time.time()
        self._write(sink_org_id, Entry(previous.conn_id if previous else None, pending, budget=budget))
        return previous

    def answered(self, sink_org_id: str, conn_id: str) -> None:
        """The create made (or adopted) ``conn_id``: remember it until the engine is known to hold it."""
        self._write(sink_org_id, Entry(conn_id.lower(), None))

    def refused(self, sink_org_id: str) -> None:
        """The create made nothing: forget the attempt (a connection answered earlier stays remembered)."""
        previous = self.read(sink_org_id)
        self._write(sink_org_id, Entry(previous.conn_id if previous else None, None))

    def forget(self, sink_org_id: str) -> None:
        """Drop the pair's entry."""
        with contextlib.suppress(OSError):
            self._path(sink_org_id).unlink()


def _longest(a: float | None, b: float | None) -> float | None:
    """The longer of two budgets; unknown (None) wins: no bound can be proven."""
    return None if a is None or b is None else max(a, b)
