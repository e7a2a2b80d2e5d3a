"""Bad input, bad configuration and broken answers: each gives one clear error, and nothing changes.

Table-driven, through the provider protocol (a real `python -m pulumi.dynamic` process). Inputs are
rejected by `check`, i.e. at `pulumi preview`, with a failure naming the property; configuration and
reachability problems fail `check` too, with one line naming the setting; what only the API can
judge fails at create. Cases rejected before apply must leave no mutating call in the request log.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from support.emulator_control import EmulatorControl
from support.fake_server import Canned, FakeServer
from support.provider_host import ProviderError, ProviderHost
from support.seed import ALL_KEYS, GLOBEX, HUB, HUB_VIEWER_APP_KEY, SPOKE_EU

GOOD = {"sink_org_id": HUB.id, "connection_types": ["logs"]}
NO_ORG = "00000000-0000-1000-8000-000000000000"
FAST = {"orgConnections:maxRetrySeconds": "0.5", "orgConnections:requestTimeoutSeconds": "2"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Case:
    """One row: the stack config and inputs, and where and how it must fail."""

    name: str
    news: dict[str, Any] = field(default_factory=lambda: dict(GOOD))
    config: Callable[[str], dict[str, str]] = lambda url: SPOKE_EU.config(url)
    prop: str | None = None  # a check failure on this property
    error: str | None = None  # or an error at this phase
    phase: str = "check"
    server: list[Canned] | None = None  # answer from a scripted server instead of the emulator


def _with(**overrides: Any) -> dict[str, Any]:
    return {**GOOD, **overrides}


def parent_keys(url: str) -> dict[str, str]:
    """The keys of the account's parent org (hub), whose org listing covers the account."""
    return HUB.config(url)


CASES = [
    # sink_org_id
    Case("malformed uuid", _with(sink_org_id="not-a-uuid"), prop="sink_org_id"),
    Case("short uuid", _with(sink_org_id=HUB.id[:-1]), prop="sink_org_id"),
    Case("uuid with extra text", _with(sink_org_id=HUB.id + "-x"), prop="sink_org_id"),
    Case("empty uuid", _with(sink_org_id=""), prop="sink_org_id"),
    Case("blank uuid", _with(sink_org_id="   "), prop="sink_org_id"),
    Case("missing sink", {"connection_types": ["logs"]}, prop="sink_org_id"),
    Case("numeric sink", _with(sink_org_id=12345), prop="sink_org_id"),
    Case("list as sink", _with(sink_org_id=[HUB.id]), prop="sink_org_id"),
    Case("source org as its own sink", _with(sink_org_id=SPOKE_EU.id), prop="sink_org_id"),
    # A parent org's keys see the whole account: a sink outside it is refused at preview.
    Case("sink in another account", _with(sink_org_id=GLOBEX.id), config=parent_keys, prop="sink_org_id"),
    Case("sink unknown to the account", _with(sink_org_id=NO_ORG), config=parent_keys, prop="sink_org_id"),
    # A child org's keys see only the child: the preview passes and the API's 404 speaks at create.
    Case(
        "sink in another account, child keys",
        _with(sink_org_id=GLOBEX.id),
        error="same Datadog account",
        phase="create",
    ),
    Case(
        "sink unknown to the account, child keys",
        _with(sink_org_id=NO_ORG),
        error="same Datadog account",
        phase="create",
    ),
    # connection_types
    Case("unknown type", _with(connection_types=["logs", "traces"]), prop="connection_types"),
    Case("wrong case type", _with(connection_types=["Logs"]), prop="connection_types"),
    Case("duplicate types", _with(connection_types=["logs", "logs"]), prop="connection_types"),
    Case("empty types", _with(connection_types=[]), prop="connection_types"),
    Case("types as a string", _with(connection_types="logs"), prop="connection_types"),
    Case("non-string type", _with(connection_types=["logs", 7]), prop="connection_types"),
    Case("missing types", {"sink_org_id": HUB.id}, prop="connection_types"),
    # other inputs
    Case("unknown org alias", _with(source_org="spoke-zz"), prop="source_org"),
    Case("non-string org alias", _with(source_org=5), prop="source_org"),
    Case("malformed adopt_id", _with(adopt_id="1234"), prop="adopt_id"),
    Case("adopt_id and adopt_existing", _with(adopt_id=HUB.id, adopt_existing=True), prop="adopt_id"),
    Case("non-bool adopt_existing", _with(adopt_existing="yes"), prop="adopt_existing"),
    Case("non-bool validate_sink", _with(validate_sink="no"), prop="validate_sink"),
    # configuration and credentials
    Case("missing keys", config=lambda url: {"datadog:apiUrl": url}, error="DD_API_KEY"),
    Case(
        "missing app key",
        config=lambda url: {"datadog:apiUrl": url, "datadog:apiKey": SPOKE_EU.api_key},
        error="DD_APP_KEY",
    ),
    Case(
        "wrong api key",
        config=lambda url: {**SPOKE_EU.config(url), "datadog:apiKey": "0" * 32},
        error="authenticate as nobody",  # current_user and the list refuse it: proven at check
    ),
    Case(
        "keys of two orgs",
        config=lambda url: {**SPOKE_EU.config(url), "datadog:appKey": HUB.app_key},
        error="authenticate as nobody",
    ),
    Case(
        "key without any org connections permission",
        config=lambda url: {
            **SPOKE_EU.config(url),
            "datadog:apiKey": HUB.api_key,
            "datadog:appKey": HUB_VIEWER_APP_KEY,
        },
        news=_with(sink_org_id=SPOKE_EU.id),
        error="org_connections_write",
        phase="create",
    ),
    Case(
        "unknown site",
        config=lambda url: {**SPOKE_EU.config(""), "datadog:apiUrl": "", "datadog:site": "datadoghq.moon"},
        error="datadoghq.eu",
    ),
    Case("url with a path", config=lambda url: {**SPOKE_EU.config(url + "/api/v2")}, error="apiUrl"),
    Case(
        "unreachable url",
        config=lambda url: {**SPOKE_EU.config(f"http://127.0.0.1:{_free_port()}"), **FAST},
        error="reachable",
    ),
    Case(
        "bad timeout setting",
        config=lambda url: {**SPOKE_EU.config(url), "orgConnections:requestTimeoutSeconds": "soon"},
        error="requestTimeoutSeconds",
    ),
    Case(
        "org aliases not an object",
        config=lambda url: {**SPOKE_EU.config(url), "orgConnections:orgs": "[1, 2]"},
        news=_with(source_org="x"),
        prop="source_org",
        error="must be an object",
    ),
    # broken answers (a scripted server stands in for the API)
    Case(
        "non-JSON body",
        error="invalid JSON",
        phase="create",
        server=[Canned(200, "<html>hello</html>", headers={"Content-Type": "text/html"})],
    ),
    Case(
        "truncated body",
        error="JSON",
        phase="create",
        server=[Canned(200, '{"data": {"type": "org_conn', headers={"Content-Type": "application/json"})],
    ),
    Case(
        "HTML 502 from a proxy",
        error="502",
        phase="create",
        server=[
            Canned(
                502,
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
                headers={"Content-Type": "text/html"},
            )
        ],
    ),
]


def test_matrix_is_large_enough() -> None:
    assert len(CASES) >= 25


@pytest.fixture
def scripted() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, emulator: EmulatorControl, scripted: FakeServer) -> None:
    url = emulator.url
    if case.server is not None:
        url = scripted.url
        orgs = {  # the child's listing: itself only (GET /api/v2/org)
            "data": {
                "id": SPOKE_EU.id,
                "type": "managed_orgs",
                "relationships": {
                    "current_org": {"data": {"id": SPOKE_EU.id, "type": "orgs"}},
                    "managed_orgs": {"data": []},
                },
            },
            "included": [{"id": SPOKE_EU.id, "type": "orgs", "attributes": {"name": "spoke-eu"}}],
        }
        scripted.handler = lambda rec: Canned(200, orgs) if rec.path == "/api/v2/org" else case.server[0]  # type: ignore[index]
    config = {**case.config(url), **(FAST if case.server is not None else {})}
    config = {k: v for k, v in config.items() if v != ""}
    with ProviderHost() as host:
        host.configure(config)
        message = ""
        try:
            inputs, failures = host.check({}, case.news)
            if case.prop is not None:
                assert [p for p, _ in failures] == [case.prop], failures
                message = failures[0][1]
                # The reason names the property, or the setting behind it.
                assert any(word in message for word in (case.prop, "adopt", "validate_sink", "stack config"))
            else:
                assert failures == [], failures
                assert case.phase == "create", "expected a failure at check"
                with pytest.raises(ProviderError) as err:
                    host.create(inputs)
                message = err.value.args[0]
        except ProviderError as err:
            assert case.phase == "check", f"failed at check, expected at {case.phase}: {err}"
            message = err.args[0]
        print(f"{case.name}: {message}")
        if case.error is not None:
            assert case.error in message
        assert len(message.strip().splitlines()) == 1, "one line"
        for key in ALL_KEYS:
            assert key not in message
    if case.phase == "check":
        assert emulator.mutating_requests() == []
        assert not [r for r in scripted.requests if r.method != "GET"]
