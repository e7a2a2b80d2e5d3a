"""The error hierarchy and its messages (no network)."""

from __future__ import annotations

import pickle

from datadog_org_connections.errors import (
    ApiError,
    ConfigurationError,
    ConflictError,
    DatadogError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    ResponseFormatError,
    ServerError,
    TransportError,
    redact,
)


def test_hierarchy() -> None:
    for cls in (
        InvalidInputError,
        ForbiddenError,
        NotFoundError,
        ConflictError,
        RateLimitedError,
        ServerError,
    ):
        assert issubclass(cls, ApiError)
    for cls in (ConfigurationError, ApiError, TransportError, ResponseFormatError):
        assert issubclass(cls, DatadogError)
    assert issubclass(DatadogError, Exception)


def test_redact() -> None:
    assert redact("key=abc123 and abc123!", ["abc123", None, ""]) == "key=*** and ***!"
    assert redact("secret-long", ["secret", "secret-long"]) == "***"
    assert redact("nothing here", []) == "nothing here"


def test_message_is_one_line_with_operation_orgs_status_and_api_text() -> None:
    err = NotFoundError(
        "org connection with id:x not found\nnot found",
        operation="delete org connection x",
        status=404,
        api_errors=["org connection with id:x not found not found"],
        org_ids=["org-a", None],
    )
    assert (
        str(err)
        == "delete org connection x (org org-a): HTTP 404: org connection with id:x not found not found"
    )
    assert "\n" not in str(err)
    assert (err.operation, err.status, err.org_ids, err.attempts) == (
        "delete org connection x",
        404,
        ("org-a",),
        1,
    )


def test_org_ids_already_named_are_not_repeated() -> None:
    err = ConflictError("exists", operation="create org connection to sink org S", status=409, org_ids=["S"])
    assert str(err) == "create org connection to sink org S: HTTP 409: exists"


def test_attempts_and_maybe_applied_are_stated() -> None:
    err = ServerError(
        "HTTP 502 with a non-JSON (text/html) body",
        operation="op",
        status=502,
        attempts=3,
        maybe_applied=True,
    )
    assert str(err).startswith("op: HTTP 502 with a non-JSON (text/html) body (gave up after 3 attempts)")
    assert "may have been applied" in str(err)


def test_secrets_are_scrubbed_everywhere() -> None:
    key = "0123456789abcdef0123456789abcdef"
    err = ForbiddenError(
        f"bad key {key}",
        operation=f"op {key}",
        status=403,
        api_errors=[f"echo {key}"],
        org_ids=[key],
        secrets=[key, "another"],
    )
    for text in (str(err), err.detail, err.operation, *err.api_errors, *err.org_ids, repr(err)):
        assert key not in text


def test_errors_pickle() -> None:
    err = RateLimitedError(
        "slow down", operation="list org connections", status=429, api_errors=["slow down"]
    )
    err.retry_after = 2.5
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is RateLimitedError
    assert (str(back), back.status, back.retry_after, back.api_errors) == (str(err), 429, 2.5, ["slow down"])
