"""Never lose or block a connection the program still declares (issue 16), through the provider protocol.

Each `ProviderHost` process is one deployment, as under the engine; `new_deployment()` starts the next
`pulumi` command's process.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from datadog_org_connections.emulator import Emulator
from support.emulator_control import EmulatorControl
from support.provider_host import ProviderError, ProviderHost
from support.seed import HUB, HUB_VIEWER_APP_KEY, SPOKE_EU, SPOKE_US


@pytest.fixture
def host(shared_emulator: Emulator) -> Iterator[ProviderHost]:
    """spoke-eu's stack, with two aliases of the same org (spoke-us) and one of another org."""
    with ProviderHost() as provider:
        config = SPOKE_EU.config(shared_emulator.url)
        us = {"apiKey": SPOKE_US.api_key, "appKey": SPOKE_US.app_key}
        config["orgConnections:orgs"] = json.dumps({"us": us, "us-prod": us, "hub": {
            "apiKey": HUB.api_key, "appKey": HUB.app_key}})  # fmt: skip
        provider.configure(config)
        yield provider


def _mutations(emulator: EmulatorControl) -> list[str]:
    return [f"{r['method']} {r['status']}" for r in emulator.mutating_requests()]


def test_rename_with_adopt_existing_hands_the_connection_over(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    news = {"sink_org_id": HUB.id, "connection_types": ["logs"]}
    old_id, old_outs = host.create(news)
    assert old_outs.get("adopted") is None  # created, not adopted (None values are not serialized)
    host.new_deployment()
    host.diff(old_id, old_outs, news)  # a later preview: the engine holds the connection
    host.new_deployment()
    emulator.clear_requests()
    # The engine's order for a rename without an alias: create the new name, then delete the old one.
    new_id, new_outs = host.create({**news, "adopt_existing": True})
    assert new_id == old_id and new_outs["adopted"] == "existing"
    host.delete(old_id, old_outs)
    assert _mutations(emulator) == ["POST 409"]  # no DELETE: the connection was handed over
    assert emulator.pairs() == [(SPOKE_EU.id, HUB.id, ("logs",))]
    # The next command is another deployment: a destroy deletes as usual.
    host.new_deployment()
    host.delete(new_id, new_outs)
    assert emulator.pairs() == []


def test_adopt_by_id_is_visible_in_the_outputs(host: ProviderHost, emulator: EmulatorControl) -> None:
    made = emulator.create(SPOKE_EU.id, HUB.id, ["logs"])
    conn_id, outs = host.create({"sink_org_id": HUB.id, "connection_types": ["logs"], "adopt_id": made["id"]})
    assert conn_id == made["id"] and outs["adopted"] == "id"
    _, read_outs = host.read(conn_id, outs)
    assert read_outs["adopted"] == "id"


def test_replacement_deletes_first(host: ProviderHost) -> None:
    olds = {
        "sink_org_id": HUB.id,
        "connection_types": ["logs"],
        "source_org": "us",
        "source_org_id": SPOKE_US.id,
    }
    diff = host.diff("x", olds, {**olds, "sink_org_id": SPOKE_EU.id})
    assert list(diff.replaces) == ["sink_org_id"] and diff.deleteBeforeReplace
    other_org = host.diff("x", olds, {**olds, "source_org": "hub"})
    assert list(other_org.replaces) == ["source_org"] and other_org.deleteBeforeReplace


def test_swapping_sinks_waits_for_the_other_replacements_delete(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    """Nothing orders one replacement's delete before the other's create, nor even the other's diff: the
    create that meets the pair still held by the other (409) waits for that resource's diff and delete,
    then creates. The engine's own order varies; here b's create comes before a's diff, the hardest."""
    a_news, b_news = (
        {"sink_org_id": HUB.id, "connection_types": ["logs"]},
        {"sink_org_id": SPOKE_US.id, "connection_types": ["metrics"]},
    )
    (a_id, a_outs), (b_id, b_outs) = host.create(a_news), host.create(b_news)
    host.new_deployment()
    a_swapped, b_swapped = {**a_news, "sink_org_id": SPOKE_US.id}, {**b_news, "sink_org_id": HUB.id}
    assert host.diff(b_id, b_outs, b_swapped).deleteBeforeReplace
    emulator.clear_requests()
    host.delete(b_id, b_outs)
    with ThreadPoolExecutor(1) as pool:
        b_new = pool.submit(host.create, b_swapped)  # the pair spoke-eu -> hub is still a's
        deadline = time.monotonic() + 30
        while "POST 409" not in _mutations(emulator) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _mutations(emulator) == ["DELETE 200", "POST 409"] and not b_new.done()
        assert host.diff(a_id, a_outs, a_swapped).deleteBeforeReplace
        host.delete(a_id, a_outs)
        b_new_id, _ = b_new.result(timeout=30)
    a_new_id, _ = host.create(a_swapped)
    assert _mutations(emulator) == ["DELETE 200", "POST 409", "DELETE 200", "POST 200", "POST 200"]
    assert sorted(emulator.pairs()) == sorted(
        [(SPOKE_EU.id, HUB.id, ("metrics",)), (SPOKE_EU.id, SPOKE_US.id, ("logs",))]
    )
    assert {a_new_id, b_new_id}.isdisjoint({a_id, b_id})


def test_a_conflict_with_a_replaced_connection_not_deleted_is_the_409(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    """The replaced connection's delete failed (here: an alias missing from the config): a create
    waiting for it gets the 409 as soon as the delete ends, not after the wait's limit (60 s)."""
    news = {"sink_org_id": HUB.id, "connection_types": ["logs"]}
    conn_id, outs = host.create(news)
    host.new_deployment()
    assert host.diff(conn_id, outs, {**news, "sink_org_id": SPOKE_US.id}).replaces
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(host.create, news)  # as if another resource now declared the pair
        with pytest.raises(ProviderError, match="no-such-alias"):
            host.delete(conn_id, {**outs, "source_org": "no-such-alias"})
        with pytest.raises(ProviderError, match="409"):
            other.result(timeout=30)
    assert emulator.pairs() == [(SPOKE_EU.id, HUB.id, ("logs",))]


def test_moving_to_another_alias_of_the_same_org_keeps_the_connection(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    news = {"sink_org_id": HUB.id, "connection_types": ["logs"], "source_org": "us"}
    conn_id, outs = host.create(news)
    host.new_deployment()
    moved = {**news, "source_org": "us-prod"}
    inputs, failures = host.check(outs, moved)
    assert failures == []
    diff = host.diff(conn_id, outs, inputs)
    assert diff.changes == diff.DIFF_SOME and list(diff.replaces) == [] and not diff.deleteBeforeReplace
    emulator.clear_requests()
    new_outs = host.update(conn_id, outs, inputs)
    assert new_outs["source_org"] == "us-prod" and new_outs["source_org_id"] == SPOKE_US.id
    assert emulator.mutating_requests() == []
    assert emulator.pairs() == [(SPOKE_US.id, HUB.id, ("logs",))]


def test_a_conflict_names_renames_first_then_adoption_then_reconcile(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    emulator.create(SPOKE_EU.id, HUB.id, ["logs"])
    with pytest.raises(ProviderError) as err:
        host.create({"sink_org_id": HUB.id, "connection_types": ["logs"]})
    text = err.value.args[0].strip().splitlines()[-1]
    # An interrupted run first (the engine's pending-operations warning precedes it: issue 21), then
    # a rename, then adoption, then reconcile to see which stack holds what.
    interrupted = text.index("was interrupted")
    rename, adopt = (text.index(w) for w in ("pulumi.Alias(name=", "adopt_existing=True"))
    reconcile = text.rindex("reconcile")
    assert "already exists" in text and interrupted < rename < adopt < reconcile


@pytest.mark.parametrize("operation", ["read", "delete"])
def test_refresh_and_destroy_with_refused_keys_say_which_keys_they_use(
    shared_emulator: Emulator, emulator: EmulatorControl, operation: str
) -> None:
    with ProviderHost() as good:
        good.configure(HUB.config(shared_emulator.url))
        conn_id, outs = good.create({"sink_org_id": SPOKE_US.id, "connection_types": ["logs"]})
    with ProviderHost() as stale:  # the keys recorded by the last `pulumi up` no longer work
        stale.configure({**HUB.config(shared_emulator.url), "datadog:appKey": HUB_VIEWER_APP_KEY})
        with pytest.raises(ProviderError) as err:
            getattr(stale, operation)(conn_id, outs)
    text = err.value.args[0]
    assert "HTTP 403" in text and "keys recorded in the state by the last `pulumi up`" in text
    assert "--run-program" in text and HUB_VIEWER_APP_KEY not in text
    assert len(emulator.connections()) == 1
