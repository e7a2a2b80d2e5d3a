"""The emulator's mutable runtime: store, faults, rate limits, latency and the request log."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from .faults import FaultInjector
from .ratelimit import DEFAULT_RATE_LIMIT, RateLimitConfig, RateLimiter
from .seed import Seed
from .store import Store

SECRET_PARAMS = frozenset({"api_key", "application_key"})
"""Query parameters that carry keys: never logged."""

REQUEST_LOG_SIZE = 100_000
"""The request log keeps the most recent entries only."""


def sanitize_query(query: dict[str, list[str]]) -> dict[str, str | list[str]]:
    """A query for the log: key parameters removed, single values unwrapped."""
    return {
        name: values[0] if len(values) == 1 else list(values)
        for name, values in query.items()
        if name not in SECRET_PARAMS
    }


class RequestLog:
    """A bounded, thread-safe list of the API requests served (control requests are not logged).

    A request is logged when it ends; one that began before the last :meth:`clear` (a reset between
    tests, while a fault still holds an earlier request) is not logged: the log holds only requests
    that arrived after it was cleared."""

    def __init__(self, size: int = REQUEST_LOG_SIZE) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self._generation = 0

    @property
    def generation(self) -> int:
        """How many times the log was cleared: pass it back to :meth:`append` for a request now starting."""
        with self._lock:
            return self._generation

    def append(self, entry: dict[str, Any], generation: int | None = None) -> None:
        """Record one request (dropped if the log was cleared since it began, at ``generation``)."""
        with self._lock:
            if generation is None or generation == self._generation:
                self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        """A copy of the log, oldest first."""
        with self._lock:
            return [dict(e) for e in self._entries]

    def clear(self) -> None:
        """Empty the log."""
        with self._lock:
            self._entries.clear()
            self._generation += 1


class Runtime:
    """Everything the HTTP handler and the control endpoints share."""

    def __init__(
        self,
        seed: Seed,
        *,
        state_path: str | None = None,
        rate_limit: RateLimitConfig | None = None,
        latency_ms: float = 0.0,
    ) -> None:
        if latency_ms < 0:
            raise ValueError(f"latency_ms: expected a non-negative number, got {latency_ms!r}")
        self.seed = seed
        self.store = Store(seed, state_path)
        self.default_rate_limit = rate_limit or DEFAULT_RATE_LIMIT
        self.default_latency_ms = float(latency_ms)
        self.limiter = RateLimiter(self.default_rate_limit)
        self.faults = FaultInjector()
        self.log = RequestLog()
        self.stopping = threading.Event()
        self._latency_lock = threading.Lock()
        self._latency_ms = float(latency_ms)

    @property
    def latency_ms(self) -> float:
        """Milliseconds added before every API answer."""
        with self._latency_lock:
            return self._latency_ms

    def set_latency_ms(self, ms: float) -> None:
        """Change the added latency."""
        if ms < 0:
            raise ValueError(f"ms: expected a non-negative number, got {ms!r}")
        with self._latency_lock:
            self._latency_ms = float(ms)

    def reset(self) -> None:
        """Back to the start: seed connections, empty log, faults off, default latency and rate limit."""
        self.store.reset()
        self.log.clear()
        self.faults.configure(None)
        self.set_latency_ms(self.default_latency_ms)
        self.limiter.configure(self.default_rate_limit)

    def settings(self) -> dict[str, Any]:
        """The fault, latency and rate limit settings in force."""
        config = self.faults.config
        return {
            "faults": config.to_json() if config is not None else None,
            "faults_injected": self.faults.injected,
            "latency_ms": self.latency_ms,
            "rate_limit": self.limiter.config.to_json(),
        }

    def sleep(self, seconds: float) -> bool:
        """Sleep, waking early when the emulator stops; ``True`` if it is stopping."""
        if seconds <= 0:
            return self.stopping.is_set()
        return self.stopping.wait(seconds)
