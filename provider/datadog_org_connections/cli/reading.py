"""Reading many orgs at once, for ``reconcile`` and ``graph``: a bounded pool, progress on stderr.

Each key set is read by :func:`~.sources.fetch_view` with a client of its own (its own connection
pool, retries and backoff: one org waiting out its 429s holds up only itself), at most ``parallel``
at a time. The outcomes come back in the order of the key sets whatever the order they finished in,
so the reports do not depend on timing. Progress goes to stderr only (never to stdout, where the
report or the JSON goes): rewritten in place on a terminal, one line per org otherwise.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from typing import IO

from .sources import KeySet, OrgView, fetch_view

__all__ = ["DEFAULT_PARALLEL", "MAX_PARALLEL", "Outcome", "Progress", "read_views", "short_name"]

#: Orgs read at once by default, and the most ``--parallel`` accepts.
DEFAULT_PARALLEL, MAX_PARALLEL = 8, 64

#: What reading one key set gave: its view, or the error (``BaseException``: a bug, re-raised).
Outcome = OrgView | BaseException


def short_name(keys: KeySet) -> str:
    """A key set's name for the progress line: its alias, else whose keys they are."""
    if keys.alias is not None:
        return keys.alias
    return "datadog:apiKey" if "datadog:apiKey" in keys.label else "DD_API_KEY"


class Progress:
    """``reading orgs: 3/10 (waiting for hub, spoke-eu, +2 more)`` on ``stream``.

    ``live``: a terminal, where the line is rewritten in place and cleared at the end; otherwise
    one line per change (a CI log).
    """

    def __init__(self, stream: IO[str], names: Sequence[str], *, live: bool) -> None:
        self.stream, self.names, self.live = stream, list(names), live
        self.done: set[int] = set()
        self.started = time.monotonic()

    def _line(self) -> str:
        waiting = [n for i, n in enumerate(self.names) if i not in self.done]
        line = f"reading orgs: {len(self.done)}/{len(self.names)}"
        if waiting:
            shown = ", ".join(waiting[:3]) + (f", +{len(waiting) - 3} more" if len(waiting) > 3 else "")
            line += f" (waiting for {shown})"
        else:
            line += f" in {time.monotonic() - self.started:.1f} s"
        return line

    def _write(self) -> None:
        if self.live:
            self.stream.write(f"\r\x1b[K{self._line()}")
        else:
            self.stream.write(f"{self._line()}\n")
        self.stream.flush()

    def begin(self) -> None:
        """The first line, before any answer."""
        self._write()

    def finished(self, index: int) -> None:
        """Key set ``index`` was read (or failed)."""
        self.done.add(index)
        self._write()

    def end(self) -> None:
        """On a terminal, clear the line (the report follows)."""
        if self.live:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _next(done: queue.SimpleQueue[tuple[int, Outcome]]) -> tuple[int, Outcome]:
    while True:
        try:  # with a timeout, so that Ctrl-C is seen at once whatever the platform
            return done.get(timeout=0.5)
        except queue.Empty:
            continue


def read_views(
    sets: Sequence[KeySet],
    timeout: float,
    max_attempts: int,
    *,
    parallel: int = DEFAULT_PARALLEL,
    progress: Progress | None = None,
) -> list[Outcome]:
    """Read every key set, ``parallel`` at a time; the outcomes in the order of ``sets``.

    The workers are daemon threads: an interrupted command (Ctrl-C) ends without waiting for the
    reads in flight. ``parallel=1`` reads the key sets one after another, in order.
    """
    outcomes: list[Outcome | None] = [None] * len(sets)
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(len(sets)):
        todo.put(index)
    done: queue.SimpleQueue[tuple[int, Outcome]] = queue.SimpleQueue()

    def worker() -> None:
        while True:
            try:
                index = todo.get_nowait()
            except queue.Empty:
                return
            outcome: Outcome
            try:
                outcome = fetch_view(sets[index], timeout, max_attempts)
            except BaseException as exc:  # handed to the main thread, which decides
                outcome = exc
            done.put((index, outcome))

    for n in range(min(max(1, parallel), len(sets))):
        threading.Thread(target=worker, name=f"read-org-{n}", daemon=True).start()
    if progress is not None:
        progress.begin()
    try:
        for _ in sets:
            index, result = _next(done)
            outcomes[index] = result
            if progress is not None:
                progress.finished(index)
    except BaseException:
        for got in outcomes:
            if isinstance(got, OrgView):
                got.client.close()
        raise
    finally:
        if progress is not None:
            progress.end()
    return [o for o in outcomes if o is not None]
