"""Typed errors raised by the org connections client and its helpers.

Every error is a :class:`DatadogError`. Its message is one readable line that names the
operation, the org ids involved (when known), the HTTP status (when there was an answer) and the
API's own error text, for example::

    create org connection to sink org 83999dcd-...: HTTP 409: connection between orgs ... already exists

Messages never contain an API or application key: whoever builds an error passes the keys it
knows as ``secrets`` and every piece of text is run through :func:`redact`, even text that should
not be able to hold a key (a server may echo a request back in an error body).

Hierarchy::

    DatadogError
    ├── ConfigurationError        missing keys, unknown site, bad URL
    ├── ApiError                  the API answered with an HTTP error status
    │   ├── InvalidInputError     400
    │   ├── ForbiddenError        401, 403
    │   ├── NotFoundError         404
    │   ├── ConflictError         409
    │   ├── RateLimitedError      429, after the retries ran out
    │   └── ServerError           5xx (JSON or not)
    ├── TransportError            refused/reset connections, timeouts, DNS failures
    └── ResponseFormatError       a 2xx answer whose body cannot be understood
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

__all__ = [
    "ApiError",
    "ConfigurationError",
    "ConflictError",
    "DatadogError",
    "ForbiddenError",
    "InvalidInputError",
    "NotFoundError",
    "RateLimitedError",
    "ResponseFormatError",
    "ServerError",
    "TransportError",
    "error_class",
    "one_line",
    "redact",
]

REDACTED = "***"

_MAX_DETAIL_CHARS = 600

_E = TypeVar("_E", bound="DatadogError")


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Return ``text`` with every occurrence of every non-empty secret replaced by ``***``.

    Longer secrets are replaced first, so a secret that contains another is hidden whole.
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def one_line(text: str, limit: int = _MAX_DETAIL_CHARS) -> str:
    """Collapse all whitespace runs (newlines included) to single spaces and cap the length."""
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return flat


class DatadogError(Exception):
    """Base class of every error of this package.

    Attributes:
        operation: what was being done, e.g. ``"delete org connection <id>"`` ("" when unknown).
        status: the HTTP status of the answer that caused the error, ``None`` without an answer.
        api_errors: the API's own error texts (the ``errors`` list of its body), redacted.
        org_ids: the org ids involved in the operation, when known.
        detail: the part of the message after the operation and status.
        attempts: how many HTTP attempts were made before giving up (0 if none were made).
        maybe_applied: ``True`` when a mutation may have taken effect despite the error: its
            request may have reached the server (timeout or reset after sending, 5xx) or was
            answered 2xx with an unreadable body, and nothing since proved it absent. Check the
            current state before repeating. Always ``False`` for reads.
    """

    operation: str
    status: int | None
    api_errors: list[str]
    org_ids: tuple[str, ...]
    detail: str
    attempts: int
    maybe_applied: bool

    def __init__(
        self,
        detail: str,
        *,
        operation: str = "",
        status: int | None = None,
        api_errors: Sequence[str] = (),
        org_ids: Iterable[str | None] = (),
        attempts: int = 1,
        maybe_applied: bool = False,
        secrets: Iterable[str | None] = (),
    ) -> None:
        keys = [s for s in secrets if s]
        self.operation = redact(one_line(operation, 300), keys)
        self.status = status
        self.api_errors = [redact(one_line(str(e)), keys) for e in api_errors]
        self.org_ids = tuple(redact(o, keys) for o in dict.fromkeys(o for o in org_ids if o))
        self.detail = redact(one_line(detail), keys)
        self.attempts = attempts
        self.maybe_applied = maybe_applied
        super().__init__(redact(self._compose(), keys))

    def _compose(self) -> str:
        head = self.operation
        missing = [o for o in self.org_ids if o not in head]
        if missing:
            label = "org" if len(missing) == 1 else "orgs"
            head = f"{head} ({label} {', '.join(missing)})" if head else f"{label} {', '.join(missing)}"
        body = self.detail
        if self.status is not None and not body.startswith("HTTP "):
            body = f"HTTP {self.status}: {body}" if body else f"HTTP {self.status}"
        if self.attempts > 1:
            body = f"{body} (gave up after {self.attempts} attempts)"
        if self.maybe_applied:
            body = f"{body}; the change may have been applied: check the current state before retrying"
        return f"{head}: {body}" if head else body

    def as_maybe_applied(self: _E) -> _E:
        """This error saying that the change may have been applied (a copy; ``self`` if it says so).

        For an error met while checking whether an interrupted mutation took effect: whatever the
        check hit, the mutation itself stays unresolved.
        """
        if self.maybe_applied:
            return self
        state = dict(self.__dict__)
        state["maybe_applied"] = True
        copy = _rebuild(type(self), "", state)
        # Every part is already redacted: composing them again cannot reveal a key.
        Exception.__init__(copy, copy._compose())
        return copy

    @property
    def message(self) -> str:
        """The one-line, redacted message (same as ``str(error)``)."""
        return str(self)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickle by message and attributes (exceptions with keyword-only arguments do not
        # unpickle otherwise); the message is already redacted.
        return (_rebuild, (type(self), str(self), dict(self.__dict__)))


def _rebuild(cls: type[_E], message: str, state: dict[str, object]) -> _E:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class ConfigurationError(DatadogError):
    """The client cannot be set up: a key is missing, the site is unknown or the URL is bad.

    Attributes:
        setting: which setting is at fault when known: ``"keys"`` (API or application key) or
            ``"url"`` (API URL or site); ``""`` otherwise. Front ends pick their hint from it.
    """

    def __init__(self, detail: str, *, setting: str = "", **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.setting = setting


class ApiError(DatadogError):
    """The API answered with an HTTP error status (``status`` is set)."""


class InvalidInputError(ApiError):
    """HTTP 400: the API rejected the request (bad connection types, malformed id, ...)."""


class ForbiddenError(ApiError):
    """HTTP 401/403: the keys are wrong, or the application key's user lacks the call's permission.

    The message names that permission: ``org_connections_read`` to list connections,
    ``org_connections_write`` to create, update or delete them and to list managed orgs; the older
    ``org_management`` grants both.
    """


class NotFoundError(ApiError):
    """HTTP 404: the connection (or the sink org) does not exist or is out of reach."""


class ConflictError(ApiError):
    """HTTP 409: the org pair already has a connection."""


class RateLimitedError(ApiError):
    """HTTP 429, still answered after the client's retries ran out.

    Attributes:
        retry_after: the seconds the API asked to wait (``X-RateLimit-Reset``), if it said.
    """

    retry_after: float | None = None


class ServerError(ApiError):
    """HTTP 5xx, from the API or from a proxy in front of it (the body may be HTML or empty)."""


class TransportError(DatadogError):
    """No HTTP answer: connection refused or reset, timeout, DNS failure, TLS failure."""


class ResponseFormatError(DatadogError):
    """A successful (2xx) answer whose body is not the expected JSON (truncated, wrong shape)."""


_STATUS_ERRORS: dict[int, type[ApiError]] = {
    400: InvalidInputError,
    401: ForbiddenError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitedError,
}


def error_class(status: int) -> type[ApiError]:
    """The :class:`ApiError` subclass for an HTTP error status (``ApiError`` itself for others)."""
    if status >= 500:
        return ServerError
    return _STATUS_ERRORS.get(status, ApiError)
