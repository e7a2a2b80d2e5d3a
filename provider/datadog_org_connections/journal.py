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
key) and the sink org; they expire after a week. Each entry is one small file under
`$PULUMI_HOME/datadog-org-connections/pending-creates/` (`~/.pulumi` by default) or
`$DDOC_JOURNAL_DIR`, created exclusively and removed when done: no shared file, no global lock,
so concurrent creates of different pairs never wait for each other.
"""

from __future__ import annotations

import hashlib
import os
import time
from datetime import datetime
from pathlib import Path

EXPIRY_SECONDS = 7 * 24 * 3600
CLOCK_SKEW_SECONDS = 60.0


def journal_dir() -> Path:
    """Where the journal's entries live."""
    explicit = os.environ.get("DDOC_JOURNAL_DIR")
    if explicit:
        return Path(explicit)
    home = os.environ.get("PULUMI_HOME") or os.path.join(os.path.expanduser("~"), ".pulumi")
    return Path(home) / "datadog-org-connections" / "pending-creates"


def entry_key(base_url: str, alias: str | None, api_key: str, sink_org_id: str) -> str:
    """The journal key of one (source credentials, sink) pair; holds no secret."""
    fingerprint = hashlib.sha256(api_key.encode()).hexdigest()[:12]
    return f"{base_url}|{alias or ''}|{fingerprint}|{sink_org_id.lower()}"


def _path(key: str) -> Path:
    return journal_dir() / hashlib.sha256(key.encode()).hexdigest()[:32]


def _started(path: Path) -> float | None:
    try:
        started = float(path.read_text())
    except (OSError, ValueError):
        return None
    return started if time.time() - started < EXPIRY_SECONDS else None


def begin(key: str) -> float | None:
    """Record that a create of this pair starts now.

    Returns when an earlier, unfinished create of the pair started (None if there was none); that
    entry is kept as it is, so a connection applied late from it is still recognised.
    """
    path = _path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = _started(path)
    if previous is not None:
        return previous
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(repr(time.time()))
    os.replace(tmp, path)
    return None


def end(key: str) -> None:
    """The create's outcome is known (made, adopted, or refused): forget the entry."""
    _path(key).unlink(missing_ok=True)


def pending_since(key: str) -> float | None:
    """When an unfinished create of this pair started, if one did."""
    return _started(_path(key))


def created_by_attempt(created_at: str, started: float) -> bool:
    """Whether a connection created at `created_at` (RFC 3339) can come from an attempt started then."""
    try:
        created = datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return False
    return created >= started - CLOCK_SKEW_SECONDS
