"""HTTP transport to the Datadog API: one logical request, retried within a budget, errors built once.

Modelled on ``datadog_api_client/rest.py`` (``RESTClientObject.request`` sends and maps a status to
a typed exception; ``ClientRetry`` holds the retry rules), on ``requests``, with the rules the
callers' safety needs (``docs/client.md`` states them for users):

* :class:`Operation`: what a call does (text, org ids, mutation, the permission a 403 names, if
  any).
* :class:`RetryPolicy`: attempts, wall-time budget, backoff with jitter, ``X-RateLimit-Reset``.
* :func:`~.network_failures.classify` (its own module): a ``requests`` failure as a ``Failure``.
* :class:`ServerClock`: the server's clock, from the ``Date`` header of every answer.
* :class:`Call`: one logical request (attempts, deadline, ambiguity) and the one error factory,
  :meth:`Call.error` (operation, orgs, attempts, ``maybe_applied``, redaction of the keys).
* :class:`Transport`: session and key headers, one attempt (:meth:`~Transport.send`), the retry
  loop (:meth:`~Transport.request`: 429 waits; 5xx and sent-but-unanswered attempts retried unless
  ``retry_sent=False``, then :class:`MaybeApplied`; unsent attempts retried; other 4xx raised) and
  body parsing (:meth:`~Transport.parse`).

Nothing here knows org connections: the API calls and the create/delete safety rules are in
:mod:`.client`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from typing import Any, TypeVar

import requests
import requests.adapters
import requests.utils

from ._version import __version__
from .errors import (
    ApiError,
    ConfigurationError,
    DatadogError,
    ForbiddenError,
    RateLimitedError,
    ResponseFormatError,
    TransportError,
    error_class,
)
from .models import describe_error_body, parse_http_date, parse_json
from .network_failures import Failure, Timeout, classify
from .settings import Credentials
from .users import ORG_CONNECTIONS_READ, ORG_CONNECTIONS_WRITE

__all__ = [
    "READ_PERMISSION",
    "SERVER_TIME_RESOLUTION",
    "USER_AGENT",
    "WRITE_PERMISSION",
    "Call",
    "Failure",
    "MaybeApplied",
    "Operation",
    "RetryPolicy",
    "ServerClock",
    "Timeout",
    "Transport",
    "classify",
]

log = logging.getLogger("datadog_org_connections.client.transport")

USER_AGENT = f"datadog-org-connections/{__version__}"

#: The permissions Datadog's API reference names, for 403 messages (``org_management``, the
#: older permission, grants both).
READ_PERMISSION = ORG_CONNECTIONS_READ
WRITE_PERMISSION = ORG_CONNECTIONS_WRITE

#: Resolution of the server times this module reports: the HTTP ``Date`` header counts whole
#: seconds. See :meth:`ServerClock.server_time` for the bounds of an estimate.
SERVER_TIME_RESOLUTION = 1.0

_T = TypeVar("_T")
_E = TypeVar("_E", bound=DatadogError)


@dataclass(frozen=True)
class Operation:
    """What a call is doing, for its errors and log lines."""

    text: str
    org_ids: tuple[str, ...] = ()
    mutation: bool = False
    #: What a 403 says the key's user needs; ``None``: the call needs no permission beyond valid
    #: keys, so a 403 says the keys were refused.
    permission: str | None = READ_PERMISSION


class MaybeApplied(Exception):
    """A request not to repeat once sent may have reached the server (``retry_sent=False``).

    ``error`` is what to raise if the caller cannot resolve it (``maybe_applied`` is ``True``).
    """

    def __init__(self, error: DatadogError) -> None:
        super().__init__(str(error))
        self.error = error


# --------------------------------------------------------------------------------- retry policy


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts, how long in all, and how long to wait between two attempts."""

    max_attempts: int = 6
    max_retry_seconds: float = 120.0
    #: The longest one wait may be, whatever ``X-RateLimit-Reset`` says.
    max_single_wait: float = 60.0
    #: First backoff step in seconds, doubled per attempt (with jitter) up to ``backoff_cap``.
    backoff_base: float = 0.5
    backoff_cap: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.max_retry_seconds < 0:
            raise ValueError("max_retry_seconds must not be negative")

    @staticmethod
    def retries_status(status: int) -> bool:
        """Whether an answer with this 5xx status is worth another attempt (not 501/505)."""
        return status >= 500 and status not in (501, 505)

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with jitter: a random wait in [d/2, d], d = base * 2^(attempt-1)."""
        step = min(self.backoff_cap, self.backoff_base * (2.0 ** min(attempt - 1, 30)))
        return step / 2 + rng.uniform(0, step / 2)

    def wait(self, attempt: int, asked: float | None, rng: random.Random) -> float:
        """The wait after failed attempt number ``attempt``: what the server asked, else backoff."""
        wait = self.backoff(attempt, rng) if asked is None else asked
        return max(0.0, min(wait, self.max_single_wait))


def rate_limit_reset(resp: requests.Response) -> float | None:
    """``X-RateLimit-Reset`` in seconds, or ``None`` when absent or not a sane number."""
    raw = resp.headers.get("X-RateLimit-Reset")
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value


# ------------------------------------------------------------------------------- answers


def content_type(resp: requests.Response) -> str:
    """The media type of an answer, lower case, without parameters ("" when absent)."""
    return (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()


def forbidden_hint(permission: str | None) -> str:
    """What a 401/403 means for a call that needs ``permission`` (``None``: only valid keys)."""
    if permission is None:
        return (
            "the Datadog API key or application key was refused: check that both are valid keys of "
            "this org and that the application key's user is active (this call needs no permission "
            "beyond valid keys; an application key restricted to scopes may be refused too)"
        )
    return (
        "the Datadog API key or application key is wrong, or the application key's user lacks the "
        f"{permission} permission (the older org_management permission grants it too)"
    )


# --------------------------------------------------------------------------- server clock


class ServerClock:
    """The offset between the server's clock and the local wall clock, from ``Date`` headers.

    Every answer carrying a readable ``Date`` replaces the offset (the latest answer wins).
    Thread-safe.
    """

    def __init__(self) -> None:
        self._offset: float | None = None
        self._lock = threading.Lock()

    def observe(self, date: str | None, local_epoch: float) -> float | None:
        """Record an answer's ``Date`` received at ``local_epoch``; return its time, if readable."""
        server = parse_http_date(date)
        if server is not None:
            with self._lock:
                self._offset = server - local_epoch
        return server

    def server_time(self, local_epoch: float) -> float | None:
        """The server's time (epoch seconds) when the local wall clock read ``local_epoch``.

        ``None`` until an answer with a ``Date`` header arrived. The estimate is never later
        than the server's true time, and earlier by less than :data:`SERVER_TIME_RESOLUTION`
        plus the latency of the answer it was measured from (``Date`` counts whole seconds and
        is stamped before the answer travels).
        """
        with self._lock:
            offset = self._offset
        return None if offset is None else local_epoch + offset


# ------------------------------------------------------------------------------ one call


class Call:
    """One logical request: attempt count, time budget, ambiguity, and the errors it raises."""

    def __init__(
        self,
        transport: Transport,
        op: Operation,
        deadline: float | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.transport = transport
        self.op = op
        self.policy = policy or transport.policy
        self.count = 0
        self.deadline = transport.clock() + self.policy.max_retry_seconds if deadline is None else deadline
        self.ambiguous = False  # an attempt may have reached the server without a clear answer
        self.answered_at: float | None = None  # server time (Date) of the latest answer

    def begin(self) -> int:
        """Count one more attempt and return its number."""
        self.count += 1
        return self.count

    def may_have_applied(self, this_attempt: bool = False) -> bool:
        """Whether a mutation may have taken effect: an earlier attempt or this one was ambiguous."""
        return self.op.mutation and (self.ambiguous or this_attempt)

    def wait_or_raise(self, error: DatadogError, asked: float | None) -> None:
        """After a failed attempt, sleep before the next one, or raise ``error`` if out of budget."""
        transport = self.transport
        if self.count >= self.policy.max_attempts:
            raise error
        wait = self.policy.wait(self.count, asked, transport.rng)
        if transport.clock() + wait > self.deadline:
            raise error
        log.debug("retrying in %.3fs after: %s", wait, error)
        transport.sleep(wait)

    def error(
        self,
        cls: type[_E],
        detail: str,
        *,
        status: int | None = None,
        api_errors: Sequence[str] = (),
        org_ids: Sequence[str] | None = None,
        maybe_applied: bool | None = None,
    ) -> _E:
        """The one error factory of a call: operation, orgs, attempts, ``maybe_applied``, redaction.

        ``org_ids`` defaults to the operation's; ``maybe_applied`` to :meth:`may_have_applied`,
        and is never ``True`` for a read.
        """
        applied = self.may_have_applied() if maybe_applied is None else self.op.mutation and maybe_applied
        return cls(
            detail,
            operation=self.op.text,
            status=status,
            api_errors=api_errors,
            org_ids=self.op.org_ids if org_ids is None else org_ids,
            attempts=self.count,
            maybe_applied=applied,
            secrets=self.transport.secrets,
        )

    def api_error(self, resp: requests.Response, *, maybe_applied: bool | None = None) -> ApiError:
        """The error for an HTTP error answer (3xx included: redirects are never followed)."""
        status = resp.status_code
        if 300 <= status < 400:
            target = urllib.parse.urlsplit(resp.headers.get("Location") or "").hostname or "?"
            detail = (
                f"HTTP {status}: unexpected redirect to host {target}, not followed (it would carry "
                "the keys elsewhere): check the API URL / site"
            )
            return self.error(ApiError, detail, status=status, maybe_applied=maybe_applied)
        detail, texts = describe_error_body(status, resp.content or b"", content_type(resp))
        cls = error_class(status)
        if cls is ForbiddenError:
            detail = f"{detail}: {forbidden_hint(self.op.permission)}"
        err = self.error(cls, detail, status=status, api_errors=texts, maybe_applied=maybe_applied)
        if isinstance(err, RateLimitedError):
            err.retry_after = rate_limit_reset(resp)
        return err

    def failure_error(self, failure: Failure) -> DatadogError:
        """The error for an attempt that got no answer."""
        transport = self.transport
        if failure.not_tls:
            return self.error(ConfigurationError, transport.not_tls_text())
        if failure.config:
            return self.error(ConfigurationError, f"{failure.summary}: check the API URL and keys")
        return self.error(
            TransportError,
            f"{failure.summary} ({transport.base_url})",
            maybe_applied=self.may_have_applied(failure.sent),
        )


# ------------------------------------------------------------------------------ transport


def _new_session(base_url: str) -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    # Read the environment once, not on every request (requests' trust_env re-reads it per call,
    # ~0.1 ms): proxies for this host (HTTPS_PROXY, NO_PROXY...) and a custom CA bundle. .netrc is
    # deliberately ignored: authentication is the key headers only.
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if ca_bundle:
        session.verify = ca_bundle
    return session


class Transport:
    """Sends requests to one API base URL with one pair of keys (see the module docstring).

    The arguments are :class:`~.client.OrgConnectionsClient`'s, ``policy`` gathering the retry
    settings. One ``requests.Session`` (pool of 32), no per-call state, cookies disabled: one
    transport can be shared by many threads.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        timeout: Timeout = (5.0, 30.0),
        policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = credentials.base_url.rstrip("/")
        self.scheme_assumed = credentials.scheme_assumed
        self.secrets = (credentials.api_key, credentials.app_key)
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.clock = clock
        self.wall_clock = wall_clock
        self.rng = random.Random()
        self.server_clock = ServerClock()
        self._owns_session = session is None
        self.session = session if session is not None else _new_session(credentials.base_url)
        self._headers = {
            "DD-API-KEY": credentials.api_key,
            "DD-APPLICATION-KEY": credentials.app_key,
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }

    def close(self) -> None:
        """Close the transport's own session (a session passed in is left open)."""
        if self._owns_session:
            self.session.close()

    def call(self, op: Operation, deadline: float | None = None, policy: RetryPolicy | None = None) -> Call:
        """Start one logical request (its own budget unless it shares ``deadline``; ``policy``: not the default)."""
        return Call(self, op, deadline, policy)

    def not_tls_text(self) -> str:
        """The message for an https URL whose server does not speak TLS."""
        host = self.base_url.split("://", 1)[1]
        if self.scheme_assumed:
            return (
                f"the API at {host} does not speak https (https:// was assumed because the API URL has "
                f"no scheme): for a plain-HTTP endpoint write http://{host}"
            )
        return f"the API at {self.base_url} does not speak https (TLS): for a plain-HTTP endpoint write http://{host}"

    def request(
        self,
        call: Call,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        ok_statuses: Sequence[int] = (),
        retry_sent: bool = True,
    ) -> requests.Response:
        """Send with retries; return the answer if it is 2xx or in ``ok_statuses``.

        With ``retry_sent=False`` (POST), a failure after which the request may have been applied
        raises :class:`MaybeApplied` instead of retrying. ``call.ambiguous`` tells the caller
        whether some attempt may have been applied without a clear answer.
        """
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        while True:
            out = self.send(method, path, params, data, call.begin())
            if isinstance(out, Failure):
                self._after_failure(call, out, retry_sent)
                continue
            call.answered_at = self.server_clock.observe(out.headers.get("Date"), self.wall_clock())
            if 200 <= out.status_code < 300 or out.status_code in ok_statuses:
                return out
            self._after_error_status(call, out, retry_sent)

    def _after_failure(self, call: Call, failure: Failure, retry_sent: bool) -> None:
        """Wait before the next attempt after a failure without answer, or raise."""
        err = call.failure_error(failure)
        if not failure.retryable:
            raise err
        if failure.sent and not retry_sent:
            raise MaybeApplied(err)
        call.ambiguous = call.ambiguous or failure.sent
        call.wait_or_raise(err, None)

    def _after_error_status(self, call: Call, resp: requests.Response, retry_sent: bool) -> None:
        """Wait before the next attempt after an HTTP error answer, or raise."""
        status = resp.status_code
        retried_5xx = self.policy.retries_status(status)
        err = call.api_error(resp, maybe_applied=call.may_have_applied(retried_5xx))
        if status == 429:
            call.wait_or_raise(err, rate_limit_reset(resp))
            return
        if not retried_5xx:
            raise err
        if not retry_sent:
            raise MaybeApplied(err)
        call.ambiguous = True
        call.wait_or_raise(err, None)

    def send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None,
        data: bytes | None,
        attempt: int,
    ) -> requests.Response | Failure:
        """One HTTP attempt; failures without an answer come back as :class:`Failure`, never raised."""
        headers = dict(self._headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        shown = path + ("?" + urllib.parse.urlencode(params) if params else "")
        started = self.clock()
        try:
            resp = self.session.request(
                method,
                self.base_url + path,
                params=params,
                data=data,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            failure = classify(exc, self.timeout)
            took = self.clock() - started
            log.debug("%s %s -> %s (attempt %d, %.3fs)", method, shown, failure.summary, attempt, took)
            return failure
        took = self.clock() - started
        log.debug("%s %s -> %d (attempt %d, %.3fs)", method, shown, resp.status_code, attempt, took)
        return resp

    def parse(self, call: Call, resp: requests.Response, parser: Callable[[Any], _T]) -> _T:
        """Parse a 2xx body; an unreadable one raises :class:`ResponseFormatError`.

        For a mutation the error says ``maybe_applied``: the server answered 2xx, so it acted.
        """
        try:
            return parser(parse_json(resp.content))
        except ResponseFormatError as exc:
            ctype = content_type(resp)
            if ctype and "json" not in ctype:
                detail = f"HTTP {resp.status_code} with a non-JSON ({ctype}) body"
            else:
                detail = f"HTTP {resp.status_code} with an unexpected body: {exc.detail}"
            raise call.error(
                ResponseFormatError, detail, status=resp.status_code, maybe_applied=True
            ) from None
