"""The transport's own rules: classification of failures, the wrong-scheme case, the retry policy."""

from __future__ import annotations

import random
import ssl
from collections.abc import Callable

import pytest
import requests
import urllib3.exceptions as u3
from client_payloads import API_KEY, APP_KEY

from datadog_org_connections.client import OrgConnectionsClient
from datadog_org_connections.errors import ConfigurationError
from datadog_org_connections.settings import Credentials, resolve_credentials
from datadog_org_connections.transport import RetryPolicy, classify
from support.fake_server import FakeServer, SleepRecorder

MakeClient = Callable[..., OrgConnectionsClient]


def _tls_error(inner: ssl.SSLError) -> requests.exceptions.SSLError:
    """What requests raises for a failed handshake: SSLError(MaxRetryError(reason=SSLError(inner)))."""
    retry = u3.MaxRetryError(None, "/api/v2/org", reason=u3.SSLError(inner))  # type: ignore[arg-type]
    return requests.exceptions.SSLError(retry)


def test_bare_host_on_a_plain_http_server_says_to_write_http(
    server: FakeServer, sleeps: SleepRecorder
) -> None:
    host = server.url.removeprefix("http://")
    creds = resolve_credentials(env={"DD_API_KEY": API_KEY, "DD_APP_KEY": APP_KEY, "DD_HOST": host})
    assert (creds.base_url, creds.scheme_assumed) == (f"https://{host}", True)
    with OrgConnectionsClient(creds, sleep=sleeps) as client, pytest.raises(ConfigurationError) as info:
        client.list_connections()
    assert str(info.value) == (
        f"list org connections: the API at {host} does not speak https (https:// was assumed because "
        f"the API URL has no scheme): for a plain-HTTP endpoint write http://{host}"
    )
    assert info.value.attempts == 1 and sleeps.waits == []  # a configuration error: not retried
    assert server.requests == []  # the TLS hello is no HTTP request


def test_explicit_https_on_a_plain_http_server(server: FakeServer, sleeps: SleepRecorder) -> None:
    host = server.url.removeprefix("http://")
    creds = Credentials(API_KEY, APP_KEY, f"https://{host}")
    assert not creds.scheme_assumed
    with OrgConnectionsClient(creds, sleep=sleeps) as client, pytest.raises(ConfigurationError) as info:
        client.create_connection("9a5c0e2e-7f97-11f0-8de1-1ecf66f1aa85", ["logs"])
    message = str(info.value)
    assert f"the API at https://{host} does not speak https (TLS)" in message
    assert f"write http://{host}" in message and "assumed" not in message
    assert not info.value.maybe_applied  # the request never left


def test_certificate_failure_is_one_short_line() -> None:
    inner = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    inner.verify_message = "self-signed certificate"
    failure = classify(_tls_error(inner), (5.0, 30.0))
    assert failure.summary == "TLS failure: the server's certificate was refused (self-signed certificate)"
    assert (failure.sent, failure.retryable, failure.config, failure.not_tls) == (False, False, False, False)


def test_wrong_version_number_is_not_tls() -> None:
    inner = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    inner.reason = "WRONG_VERSION_NUMBER"  # type: ignore[misc]
    failure = classify(_tls_error(inner), 5.0)
    assert failure.not_tls and failure.config and not failure.sent and not failure.retryable


def test_other_tls_failures_name_the_reason_without_a_dump() -> None:
    inner = ssl.SSLError(1, "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version")
    inner.reason = "TLSV1_ALERT_PROTOCOL_VERSION"  # type: ignore[misc]
    failure = classify(_tls_error(inner), 5.0)
    assert failure.summary == "TLS failure: tlsv1 alert protocol version"
    assert "MaxRetryError" not in failure.summary and "HTTPSConnectionPool" not in failure.summary


def test_retry_policy_validates_and_caps() -> None:
    with pytest.raises(ValueError, match="max_attempts must be at least 1"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="max_retry_seconds must not be negative"):
        RetryPolicy(max_retry_seconds=-1)
    policy = RetryPolicy()
    assert [policy.retries_status(s) for s in (500, 501, 502, 503, 504, 505, 429, 404)] == [
        True, False, True, True, True, False, False, False,
    ]  # fmt: skip
    rng = random.Random(7)
    assert policy.wait(1, 3600.0, rng) == 60.0  # one wait is capped
    assert policy.wait(1, -5.0, rng) == 0.0
    assert all(15.0 <= policy.wait(40, None, rng) <= 30.0 for _ in range(20))  # backoff capped at 30 s
