"""Why a request got no HTTP answer, and whether it may have reached the server.

:func:`classify` turns a ``requests`` exception into a :class:`Failure`: a one-line summary, whether
the request may have been sent (a POST that may have been applied must not be blindly repeated),
whether another attempt can help, and whether the cause is local configuration (a bad URL, an
``https://`` URL whose server speaks plain HTTP).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import requests
import urllib3.exceptions as u3

from .errors import one_line

__all__ = ["Failure", "Timeout", "classify"]

Timeout = float | tuple[float, float]


@dataclass(frozen=True)
class Failure:
    """A request that got no HTTP answer."""

    summary: str
    sent: bool  # the request may have reached the server
    retryable: bool
    config: bool = False  # a local configuration problem (bad URL, bad header)
    not_tls: bool = False  # the server answered the TLS handshake with something else (plain HTTP?)


def _chain(exc: BaseException) -> list[object]:
    """``exc`` and everything it wraps (args, urllib3 ``reason``, causes), breadth first."""
    seen: set[int] = set()
    out: list[object] = []
    todo: list[object] = [exc]
    while todo:
        item = todo.pop(0)
        if id(item) in seen or len(out) > 50:
            continue
        seen.add(id(item))
        out.append(item)
        if isinstance(item, BaseException):
            todo.extend(a for a in item.args if isinstance(a, BaseException))
            todo.extend(x for x in (getattr(item, "reason", None), item.__cause__, item.__context__) if x)
    return out


#: OpenSSL's reasons when the peer answers a ClientHello with something that is not TLS.
_NOT_TLS_REASONS = frozenset(
    [
        "WRONG_VERSION_NUMBER",
        "RECORD_LAYER_FAILURE",
        "PACKET_LENGTH_TOO_LONG",
        "HTTP_REQUEST",
        "UNKNOWN_PROTOCOL",
    ]
)

_BUILD_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.URLRequired,
)


def _tls_failure(chain: list[object]) -> Failure:
    ssl_errors = [x for x in chain if isinstance(x, ssl.SSLError)]
    if any(getattr(x, "reason", None) in _NOT_TLS_REASONS for x in ssl_errors):
        return Failure(
            "the server does not speak TLS", sent=False, retryable=False, config=True, not_tls=True
        )
    verify = next((x for x in ssl_errors if isinstance(x, ssl.SSLCertVerificationError)), None)
    if verify is not None:
        why = verify.verify_message or "certificate verify failed"
        return Failure(
            f"TLS failure: the server's certificate was refused ({why})", sent=False, retryable=False
        )
    reason = next((str(x.reason) for x in ssl_errors if getattr(x, "reason", None)), "")
    text = reason.replace("_", " ").lower() if reason else "handshake failed"
    return Failure(f"TLS failure: {text}", sent=False, retryable=False)


def _connection_failure(chain: list[object], connect_t: float) -> Failure:
    def has(kind: type[BaseException]) -> bool:
        return any(isinstance(x, kind) for x in chain)

    if has(u3.NameResolutionError):
        return Failure("could not resolve the API host (DNS failure)", sent=False, retryable=True)
    if has(u3.NewConnectionError):
        why = "connection refused" if has(ConnectionRefusedError) else "could not connect"
        return Failure(why, sent=False, retryable=True)
    if has(u3.ConnectTimeoutError):
        return Failure(f"timed out connecting (connect timeout {connect_t:g}s)", sent=False, retryable=True)
    if has(ConnectionResetError):
        return Failure("connection reset by the server before an answer arrived", sent=True, retryable=True)
    return Failure("connection closed by the server before an answer arrived", sent=True, retryable=True)


def classify(exc: requests.RequestException, timeout: Timeout) -> Failure:
    """Describe a ``requests`` exception and say whether the request may have been sent."""
    connect_t, read_t = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    if isinstance(exc, _BUILD_ERRORS):
        return Failure(
            f"request could not be built ({type(exc).__name__})", sent=False, retryable=False, config=True
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return Failure(f"timed out connecting (connect timeout {connect_t:g}s)", sent=False, retryable=True)
    if isinstance(exc, requests.exceptions.SSLError):
        return _tls_failure(_chain(exc))
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return Failure(f"no answer within the read timeout of {read_t:g}s", sent=True, retryable=True)
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return Failure(
            "the connection broke while the answer was being read (body cut off)", sent=True, retryable=True
        )
    if isinstance(exc, requests.exceptions.ProxyError):
        return Failure(f"proxy failure: {_short(exc)}", sent=True, retryable=True)
    if isinstance(exc, requests.exceptions.ConnectionError):
        return _connection_failure(_chain(exc), connect_t)
    if isinstance(exc, requests.exceptions.Timeout):
        return Failure("timed out", sent=True, retryable=True)
    return Failure(f"request failed: {_short(exc)}", sent=True, retryable=False)


def _short(exc: BaseException) -> str:
    return one_line(f"{type(exc).__name__}: {exc}", 240)
