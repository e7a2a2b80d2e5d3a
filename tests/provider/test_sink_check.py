"""The preview-time sink check through the provider protocol: it refuses only what it can prove wrong.

`check` lists the orgs the stack's keys see (`GET /api/v2/org`). The current org is `data.id`;
a parent org's keys list the whole account (the parent and its children), a child's keys only
the child, and keys without `org_connections_write` / `org_management` may not list at all. A sink
is refused only when it is the org itself, or missing from a listing that covers the account.
Otherwise the check passes and create's own answer (404 for a sink outside the account) speaks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from datadog_org_connections.emulator import Emulator
from support.emulator_control import EmulatorControl
from support.provider_host import ProviderError, ProviderHost
from support.seed import GLOBEX, HUB, HUB_READER_APP_KEY, SPOKE_EU, SPOKE_EU_READER_APP_KEY, SPOKE_US, Org

UNKNOWN_ORG = "00000000-7f97-11f0-8de1-1ecf66f1aa85"
Start = Callable[..., ProviderHost]


@pytest.fixture
def provider_for(shared_emulator: Emulator) -> Iterator[Callable[..., ProviderHost]]:
    """A factory of provider processes configured with one org's keys (and optionally another app key)."""
    hosts: list[ProviderHost] = []

    def start(org: Org, app_key: str | None = None) -> ProviderHost:
        host = ProviderHost()
        hosts.append(host)
        config = org.config(shared_emulator.url)
        if app_key is not None:
            config["datadog:appKey"] = app_key
        host.configure(config)
        return host

    yield start
    for host in hosts:
        host.close()


def _check(host: ProviderHost, sink: str) -> list[tuple[str, str]]:
    return host.check({}, {"sink_org_id": sink, "connection_types": ["logs"]})[1]


def _paths(emulator: EmulatorControl) -> list[str]:
    return [r["path"] for r in emulator.requests()]


def test_parent_keys_refuse_a_sink_outside_the_account_naming_the_valid_ones(
    provider_for: Start, emulator: EmulatorControl
) -> None:
    hub = provider_for(HUB)
    [(prop, reason)] = _check(hub, GLOBEX.id)
    assert prop == "sink_org_id" and "not an org of this Datadog account" in reason
    assert f"spoke-eu ({SPOKE_EU.id})" in reason and f"spoke-us ({SPOKE_US.id})" in reason
    assert _check(hub, SPOKE_EU.id) == []  # a child of the account
    [(_, itself)] = _check(hub, HUB.id)
    assert "itself" in itself
    assert "/api/v1/org" not in _paths(emulator)
    assert emulator.mutating_requests() == []


def test_child_keys_pass_what_they_cannot_see_and_create_answers_404(
    provider_for: Start, emulator: EmulatorControl
) -> None:
    eu = provider_for(SPOKE_EU)
    # The child's listing holds only itself: another account's org cannot be proven wrong here.
    assert _check(eu, GLOBEX.id) == []
    assert _check(eu, UNKNOWN_ORG) == []
    [(_, itself)] = _check(eu, SPOKE_EU.id)
    assert "itself" in itself
    with pytest.raises(ProviderError) as err:
        eu.create({"sink_org_id": GLOBEX.id, "connection_types": ["logs"]})
    text = err.value.args[0]
    assert "HTTP 404" in text and "same Datadog account" in text and GLOBEX.id in text
    assert emulator.pairs() == []


def test_child_to_parent_connection_passes_and_is_made(
    provider_for: Start, emulator: EmulatorControl
) -> None:
    eu = provider_for(SPOKE_EU)
    inputs, failures = eu.check({}, {"sink_org_id": HUB.id, "connection_types": ["logs", "metrics"]})
    assert failures == []
    _, outs = eu.create(inputs)
    assert outs["source_org_id"] == SPOKE_EU.id and outs["sink_org_name"] == "hub"
    assert emulator.pairs() == [(SPOKE_EU.id, HUB.id, ("logs", "metrics"))]
    assert "/api/v1/org" not in _paths(emulator)


@pytest.mark.parametrize(("org", "reader"), [(HUB, HUB_READER_APP_KEY), (SPOKE_EU, SPOKE_EU_READER_APP_KEY)])
def test_read_only_keys_preview_without_failing(
    provider_for: Start, emulator: EmulatorControl, org: Org, reader: str
) -> None:
    """A pull-request preview in CI with org_connections_read only: check passes. current_user says the
    user cannot write, so /api/v2/org (which would answer 403) is not even asked."""
    host = provider_for(org, reader)
    assert _check(host, GLOBEX.id) == []
    assert _check(host, SPOKE_US.id) == []
    assert [r["path"] for r in emulator.requests()] == ["/api/v2/current_user"]
    # The same keys may read: a refresh works; a create is refused before sending, naming the permission.
    with pytest.raises(ProviderError) as err:
        host.create({"sink_org_id": SPOKE_US.id, "connection_types": ["logs"]})
    assert (
        "holds neither org_connections_write" in err.value.args[0] and "Nothing was sent" in err.value.args[0]
    )
    assert emulator.mutating_requests() == [] and emulator.pairs() == []
