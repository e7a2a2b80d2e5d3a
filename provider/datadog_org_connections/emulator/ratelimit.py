"""Fixed-window rate limiting per (org, endpoint name), with Datadog's ``X-RateLimit-*`` headers."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimitConfig:
    """``limit`` requests per ``period`` seconds."""

    limit: int = 6000
    period: float = 60.0

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1:
            raise ValueError(f"limit: expected a positive integer, got {self.limit!r}")
        if isinstance(self.period, bool) or not isinstance(self.period, (int, float)) or self.period <= 0:
            raise ValueError(f"period: expected a positive number of seconds, got {self.period!r}")

    @classmethod
    def parse(cls, text: str) -> RateLimitConfig:
        """Parse ``"R/P"`` (e.g. ``"100/60"``, ``"5/0.5"``)."""
        limit_text, sep, period_text = text.partition("/")
        if not sep:
            raise ValueError(f"expected LIMIT/PERIOD_SECONDS such as 100/60, got {text!r}")
        try:
            limit = int(limit_text)
            period = float(period_text)
        except ValueError:
            raise ValueError(f"expected LIMIT/PERIOD_SECONDS such as 100/60, got {text!r}") from None
        return cls(limit=limit, period=period)

    def period_text(self) -> str:
        """The period as the ``X-RateLimit-Period`` header shows it (integer when whole)."""
        return str(int(self.period)) if float(self.period).is_integer() else str(self.period)

    def to_json(self) -> dict[str, float | int]:
        """``{"limit": R, "period": P}``."""
        return {"limit": self.limit, "period": self.period}


DEFAULT_RATE_LIMIT = RateLimitConfig()
"""6000 requests per 60 s: generous enough that ordinary tests never hit it."""


@dataclass(frozen=True)
class RateLimitDecision:
    """Whether a request may proceed, and the headers to send either way."""

    allowed: bool
    headers: dict[str, str]


class RateLimiter:
    """Fixed windows per bucket; a window opens with the first request of the bucket."""

    def __init__(
        self, config: RateLimitConfig = DEFAULT_RATE_LIMIT, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}

    @property
    def config(self) -> RateLimitConfig:
        """The limit in force."""
        return self._config

    def configure(self, config: RateLimitConfig) -> None:
        """Change the limit; every window starts afresh."""
        with self._lock:
            self._config = config
            self._windows.clear()

    def reset(self) -> None:
        """Forget every window."""
        with self._lock:
            self._windows.clear()

    def _window(self, key: tuple[str, str], now: float) -> tuple[float, int]:
        start, count = self._windows.get(key, (now, 0))
        if now >= start + self._config.period:
            start, count = now, 0
        return start, count

    def _headers(self, name: str, start: float, count: int, now: float) -> dict[str, str]:
        reset = max(1, math.ceil(start + self._config.period - now))
        return {
            "X-RateLimit-Limit": str(self._config.limit),
            "X-RateLimit-Period": self._config.period_text(),
            "X-RateLimit-Remaining": str(max(0, self._config.limit - count)),
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Name": name,
        }

    def hit(self, bucket: str, name: str) -> RateLimitDecision:
        """Count one request of ``bucket`` (an org id) on endpoint ``name``."""
        with self._lock:
            now = self._clock()
            key = (bucket, name)
            start, count = self._window(key, now)
            allowed = count < self._config.limit
            if allowed:
                count += 1
            self._windows[key] = (start, count)
            return RateLimitDecision(allowed, self._headers(name, start, count, now))

    def exhausted_headers(self, bucket: str, name: str) -> dict[str, str]:
        """Headers of a forced 429 (fault injection): remaining 0, the current window's reset."""
        with self._lock:
            now = self._clock()
            start, _ = self._window((bucket, name), now)
            return self._headers(name, start, self._config.limit, now)
