"""Fault injection: make some API requests fail the way real networks and proxies do.

Kinds:

* ``rate_limit``: answer 429 ``{"errors": ["Too many requests"]}`` with ``X-RateLimit-*`` headers;
  nothing is applied.
* ``server_error``: answer, at random, 500 (JSON), 502 (HTML page) or 503 (empty body);
  nothing is applied.
* ``timeout``: sleep ``timeout_seconds`` *first*, then process the request normally. A client
  that gave up and retried may therefore race with the delayed original.
* ``reset``: close the connection without any answer; nothing is applied.
* ``lost_response``: apply the request, then close the connection without answering (for a
  read-only method it is the same as ``reset``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FAULT_KINDS: tuple[str, ...] = ("rate_limit", "server_error", "timeout", "reset", "lost_response")
"""Every fault kind, in documentation order."""

SERVER_ERROR_STATUSES: tuple[int, ...] = (500, 502, 503)
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

_FIELDS = frozenset({"probability", "kinds", "seed", "methods", "path", "timeout_seconds", "count"})


@dataclass(frozen=True)
class FaultConfig:
    """Which requests get a fault, and which faults (see :meth:`from_json` for the JSON form)."""

    probability: float = 1.0
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int | None = None
    methods: tuple[str, ...] | None = None
    path: str | None = None
    timeout_seconds: float = 5.0
    count: int | None = None

    @classmethod
    def from_json(cls, data: object) -> FaultConfig | None:
        """Parse the body of ``POST /_emulator/faults``; ``{}`` (or ``null``) means faults off.

        Raises :class:`ValueError` naming the bad field.
        """
        if data is None:
            return None
        if not isinstance(data, Mapping):
            raise ValueError("expected a JSON object")
        unknown = sorted(set(data) - _FIELDS)
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown field (allowed: {', '.join(sorted(_FIELDS))})")
        if not data:
            return None
        probability = data.get("probability", 1.0)
        if (
            isinstance(probability, bool)
            or not isinstance(probability, (int, float))
            or not (0.0 <= probability <= 1.0)
        ):
            raise ValueError(f"probability: expected a number between 0 and 1, got {probability!r}")
        kinds_raw = data.get("kinds", list(FAULT_KINDS))
        if not isinstance(kinds_raw, list) or not kinds_raw:
            raise ValueError("kinds: expected a non-empty list")
        for kind in kinds_raw:
            if kind not in FAULT_KINDS:
                raise ValueError(f"kinds: unknown kind {kind!r} (expected some of {', '.join(FAULT_KINDS)})")
        seed = data.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed: expected an integer, got {seed!r}")
        methods_raw = data.get("methods")
        methods: tuple[str, ...] | None = None
        if methods_raw is not None:
            if not isinstance(methods_raw, list) or not all(isinstance(m, str) for m in methods_raw):
                raise ValueError("methods: expected a list of HTTP methods")
            methods = tuple(m.upper() for m in methods_raw)
            for method in methods:
                if method not in HTTP_METHODS:
                    raise ValueError(f"methods: unknown HTTP method {method!r}")
        path = data.get("path")
        if path is not None and (not isinstance(path, str) or not path.startswith("/")):
            raise ValueError(f"path: expected a path prefix starting with '/', got {path!r}")
        timeout = data.get("timeout_seconds", 5.0)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
            raise ValueError(f"timeout_seconds: expected a non-negative number, got {timeout!r}")
        count = data.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            raise ValueError(f"count: expected a non-negative integer, got {count!r}")
        return cls(
            probability=float(probability),
            kinds=tuple(kinds_raw),
            seed=seed,
            methods=methods,
            path=path,
            timeout_seconds=float(timeout),
            count=count,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON form (what ``GET /_emulator/faults`` shows)."""
        return {
            "probability": self.probability,
            "kinds": list(self.kinds),
            "seed": self.seed,
            "methods": list(self.methods) if self.methods is not None else None,
            "path": self.path,
            "timeout_seconds": self.timeout_seconds,
            "count": self.count,
        }

    def matches(self, method: str, path: str) -> bool:
        """Whether a request is eligible (method filter; path filter: that path or below it).

        ``/api/v2/org`` matches ``/api/v2/org`` and ``/api/v2/org/...``, not ``/api/v2/org_connections``.
        """
        if self.methods is not None and method.upper() not in self.methods:
            return False
        if self.path is None:
            return True
        prefix = self.path.rstrip("/")
        return path.rstrip("/") == prefix or path.startswith(prefix + "/")


@dataclass(frozen=True)
class Fault:
    """One injected fault; ``status`` is set for ``server_error`` (500, 502 or 503)."""

    kind: str
    status: int | None = None
    timeout_seconds: float = 0.0

    def label(self) -> str:
        """How the request log names it, e.g. ``server_error:502``."""
        return f"{self.kind}:{self.status}" if self.status is not None else self.kind


class FaultInjector:
    """Draws faults for eligible requests from a seeded ``random.Random`` under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config: FaultConfig | None = None
        self._random = random.Random()
        self._injected = 0

    @property
    def config(self) -> FaultConfig | None:
        """The configuration in force (``None``: off)."""
        return self._config

    @property
    def injected(self) -> int:
        """How many faults were injected since the last :meth:`configure`."""
        return self._injected

    def configure(self, config: FaultConfig | None) -> None:
        """Install a configuration (``None`` turns faults off) and reset the counter and RNG."""
        with self._lock:
            self._config = config
            self._random = random.Random(config.seed if config is not None else None)
            self._injected = 0

    def draw(self, method: str, path: str) -> Fault | None:
        """The fault for this request, if any."""
        with self._lock:
            config = self._config
            if config is None or not config.matches(method, path):
                return None
            if config.count is not None and self._injected >= config.count:
                return None
            if config.probability < 1.0 and self._random.random() >= config.probability:
                return None
            kind = self._random.choice(config.kinds)
            status = self._random.choice(SERVER_ERROR_STATUSES) if kind == "server_error" else None
            self._injected += 1
            return Fault(kind=kind, status=status, timeout_seconds=config.timeout_seconds)
