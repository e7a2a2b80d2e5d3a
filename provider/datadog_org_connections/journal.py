"""A journal of creates whose outcome is unknown, so that a later `pulumi up` can finish them.

Pulumi records nothing for a create that failed. If the POST reached Datadog but its answer was
lost for good (the client's lookups after the failure could not see the connection yet, or the
request was applied after the client gave up), the connection exists while the state does not know
it, and the next `up` meets a 409. To converge instead, the provider writes an entry here before
each create and removes it once the outcome is known; an entry left behind by a failed create
says "this stack tried to make this pair's connection at time T". On a 409 for that pair, a
connection created at or after T (less a clock-skew margin) is ours: the provider adopts it.
A connection made by hand before the attempt still gets the usual conflict error.

Entries are keyed by API URL, org alias, a short one-way fingerprint of the API key (never the
key) and the sink org; they expire after a week. The file lives in
`$PULUMI_HOME/datadog-org-connections/pending-creates.json` (`~/.pulumi` by default), or in
`$DDOC_JOURNAL_DIR`, and is guarded by a lock file across processes and a lock across threads.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

EXPIRY_SECONDS = 7 * 24 * 3600
CLOCK_SKEW_SECONDS = 60.0

_LOCK = threading.Lock()


def journal_dir() -> Path:
    """Where the journal lives."""
    explicit = os.environ.get("DDOC_JOURNAL_DIR")
    if explicit:
        return Path(explicit)
    home = os.environ.get("PULUMI_HOME") or os.path.join(os.path.expanduser("~"), ".pulumi")
    return Path(home) / "datadog-org-connections"


def entry_key(base_url: str, alias: str | None, api_key: str, sink_org_id: str) -> str:
    """The journal key of one (source credentials, sink) pair; holds no secret."""
    fingerprint = hashlib.sha256(api_key.encode()).hexdigest()[:12]
    return f"{base_url}|{alias or ''}|{fingerprint}|{sink_org_id.lower()}"


@contextlib.contextmanager
def _locked() -> Iterator[Path]:
    directory = journal_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with _LOCK, open(directory / "pending-creates.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield directory / "pending-creates.json"
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    now = time.time()
    return {
        k: v
        for k, v in data.items()
        if isinstance(v, dict) and now - float(v.get("started", 0)) < EXPIRY_SECONDS
    }


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def begin(key: str) -> float:
    """Record that a create of this pair starts now; return the start time (epoch seconds).

    An entry already there (an earlier failed attempt) keeps its older start time, so a
    connection applied late from that attempt is still recognised.
    """
    now = time.time()
    with _locked() as path:
        data = _read(path)
        entry = data.setdefault(key, {"started": now})
        _write(path, data)
        return float(entry["started"])


def end(key: str) -> None:
    """The create's outcome is known (made, adopted, or refused): forget the entry."""
    with _locked() as path:
        data = _read(path)
        if data.pop(key, None) is not None:
            _write(path, data)


def pending_since(key: str) -> float | None:
    """When an unfinished create of this pair started, if one did."""
    with _locked() as path:
        entry = _read(path).get(key)
    return float(entry["started"]) if entry else None


def created_by_attempt(created_at: str, started: float) -> bool:
    """Whether a connection created at `created_at` (RFC 3339) can come from an attempt started then."""
    try:
        created = datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return False
    return created >= started - CLOCK_SKEW_SECONDS
