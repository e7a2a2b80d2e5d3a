"""Prove identity before acting (issue 19), through the provider protocol against the emulator.

The keys of a stack (or of an org alias) can come to belong to another org of the account: a read,
an update or a delete with them must not take "not visible to these keys" for "gone", and a diff must
not let the next `up` create the connection from the wrong org. Each `ProviderHost` process is one
deployment, as under the engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from datadog_org_connections.emulator import Emulator
from support.emulator_control import EmulatorControl
from support.provider_host import ProviderError, ProviderHost
from support.seed import HUB, SPOKE_AP, SPOKE_EU, SPOKE_US, Org

NEWS = {"sink_org_id": HUB.id, "connection_types": ["logs"], "__owner": "p/dev/eu-to-hub"}


def _config(url: str, keys: Org, aliases: dict[str, Org] | None = None) -> dict[str, str]:
    config = keys.config(url)
    orgs = {a: {"apiKey": o.api_key, "appKey": o.app_key} for a, o in (aliases or {}).items()}
    config["orgConnections:orgs"] = json.dumps(orgs)
    return config


@pytest.fixture
def host(shared_emulator: Emulator) -> Iterator[ProviderHost]:
    with ProviderHost() as provider:
        provider.configure(_config(shared_emulator.url, SPOKE_EU))
        yield provider


def _with_keys(host: ProviderHost, url: str, keys: Org, aliases: dict[str, Org] | None = None) -> None:
    """The next command runs with other keys (a new provider process configured with them)."""
    host.new_deployment()
    host.configure(_config(url, keys, aliases))


def test_refresh_with_keys_of_another_org_keeps_the_connection(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    conn_id, outs = host.create(NEWS)
    _with_keys(host, emulator.url, SPOKE_AP)  # datadog:apiKey/appKey now hold spoke-ap's keys
    with pytest.raises(ProviderError) as err:
        host.read(conn_id, outs)
    text = err.value.args[0]
    assert "now belong to org spoke-ap" in text and SPOKE_EU.id in text and HUB.id in text
    assert "Nothing was changed" in text and "--run-program" in text
    assert emulator.pairs() == [(SPOKE_EU.id, HUB.id, ("logs",))]


def test_refresh_with_the_keys_of_a_party_drops_a_connection_gone_out_of_band(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    conn_id, outs = host.create(NEWS)
    emulator.delete(conn_id)
    _with_keys(host, emulator.url, HUB)  # the sink's keys are a party: their listing is the truth
    assert host.read(conn_id, outs) == ("", {})


def test_destroy_with_keys_of_another_org_deletes_nothing_and_says_so(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    conn_id, outs = host.create(NEWS)
    _with_keys(host, emulator.url, SPOKE_AP)
    emulator.clear_requests()
    with pytest.raises(ProviderError) as err:
        host.delete(conn_id, outs)  # before: the DELETE's 404 counted as "already deleted"
    assert "now belong to org spoke-ap" in err.value.args[0]
    assert [(r["method"], r["status"]) for r in emulator.mutating_requests()] == [("DELETE", 404)]
    assert emulator.pairs() == [(SPOKE_EU.id, HUB.id, ("logs",))]


def test_a_delete_answered_404_is_gone_once_a_partys_listing_confirms_it(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    conn_id, outs = host.create(NEWS)
    emulator.delete(conn_id)
    host.new_deployment()
    emulator.clear_requests()
    host.delete(conn_id, outs)
    methods = [(r["method"], r["path"].split("?")[0], r["status"]) for r in emulator.requests()]
    assert ("DELETE", f"/api/v2/org_connections/{conn_id}", 404) in methods
    assert methods[-1][:2] == ("GET", "/api/v2/org_connections")  # the confirmation


def test_the_sinks_keys_may_delete_it(host: ProviderHost, emulator: EmulatorControl) -> None:
    conn_id, outs = host.create(NEWS)
    _with_keys(host, emulator.url, HUB)
    host.delete(conn_id, outs)
    assert emulator.pairs() == []


def test_an_update_with_keys_of_another_org_does_not_say_deleted(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    conn_id, outs = host.create(NEWS)
    _with_keys(host, emulator.url, SPOKE_AP)
    with pytest.raises(ProviderError) as err:
        host.update(conn_id, outs, {**NEWS, "connection_types": ["logs", "metrics"]})
    assert "now belong to org spoke-ap" in err.value.args[0]
    assert "deleted outside Pulumi" not in err.value.args[0]


def test_a_preview_with_keys_of_another_org_fails_naming_both_orgs(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    conn_id, outs = host.create(NEWS)
    _with_keys(host, emulator.url, SPOKE_AP)
    emulator.clear_requests()
    with pytest.raises(ProviderError) as err:
        host.diff(conn_id, outs, NEWS)
    text = err.value.args[0]
    assert "now belong to org spoke-ap" in text and f"put the keys of org spoke-eu ({SPOKE_EU.id})" in text
    assert emulator.mutating_requests() == []


def test_an_alias_repointed_to_another_org_is_refused_at_preview_and_never_dropped(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    _with_keys(host, emulator.url, SPOKE_EU, {"first": SPOKE_US})
    news = {**NEWS, "source_org": "first"}
    conn_id, outs = host.create(news)
    _with_keys(host, emulator.url, SPOKE_EU, {"first": SPOKE_AP})  # `first` now holds spoke-ap's keys
    with pytest.raises(ProviderError) as err:
        host.diff(conn_id, outs, news)
    assert "keys of org 'first'" in err.value.args[0] and "spoke-ap" in err.value.args[0]
    with pytest.raises(ProviderError):
        host.read(conn_id, outs)  # refresh: not dropped
    assert emulator.pairs() == [(SPOKE_US.id, HUB.id, ("logs",))]


def test_two_aliases_of_one_org_declaring_one_pair_are_refused_naming_both(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    _with_keys(host, emulator.url, SPOKE_EU, {"first": SPOKE_US, "second": SPOKE_US})
    _, failures = host.check({}, {**NEWS, "source_org": "first", "__owner": "p/dev/x-a"})
    assert failures == []
    _, failures = host.check({}, {**NEWS, "source_org": "second", "__owner": "p/dev/x-b"})
    assert [f[0] for f in failures] == ["sink_org_id"]
    assert "'x-b' and OrgConnection 'x-a' both declare" in failures[0][1]
    # The same resource checked again (the update after the preview) is not a second declaration.
    assert host.check({}, {**NEWS, "source_org": "first", "__owner": "p/dev/x-a"})[1] == []


def test_a_new_declaration_checked_before_the_holder_of_its_pair_neither_adopts_nor_creates(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    """Renamed with an alias, then a new resource with the old name: the engine may check the new one
    first. The holder then passes its check (refused there, its diff would never run and nothing would
    tell the provider it holds the connection), its diff refuses it after recording it as the holder,
    and the new resource neither creates nor adopts (adopt_existing, the 409's advice)."""
    conn_id, outs = host.create(NEWS)
    host.new_deployment()
    renamed = {**NEWS, "__owner": "p/dev/eu-to-hub-renamed"}
    new = {**NEWS, "adopt_existing": True}  # the old name again
    assert host.check({}, new)[1] == []  # first come: nothing to compare with yet
    assert host.check(outs, renamed)[1] == []  # the state holds it: not refused here...
    with pytest.raises(ProviderError) as err:
        host.diff(conn_id, outs, renamed)  # ...but here, once the provider knows it holds conn_id
    assert "'eu-to-hub-renamed' and OrgConnection 'eu-to-hub' both declare" in err.value.args[0]
    emulator.clear_requests()
    with pytest.raises(ProviderError) as err:
        host.create(new)
    assert "both declare" in err.value.args[0]
    assert emulator.mutating_requests() == []
    assert [c["id"] for c in emulator.connections()] == [conn_id]


def test_adopt_existing_never_takes_a_connection_another_resource_holds(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    conn_id, outs = host.create(NEWS)
    host.new_deployment()
    host.diff(conn_id, outs, NEWS)  # the engine holds it for eu-to-hub
    with pytest.raises(ProviderError) as err:
        host.create({**NEWS, "adopt_existing": True, "__owner": "p/dev/other"})
    assert "held by OrgConnection 'eu-to-hub'" in err.value.args[0]


def test_adopt_id_left_in_place_through_a_replacement_creates_the_new_connection(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    made = emulator.create(SPOKE_EU.id, HUB.id, ["logs"])
    news = {**NEWS, "adopt_id": made["id"]}
    conn_id, outs = host.create(news)
    assert conn_id == made["id"] and outs["adopted"] == "id"
    host.new_deployment()
    moved = {**news, "sink_org_id": SPOKE_US.id}  # adopt_id still names the old connection
    assert list(host.diff(conn_id, outs, moved).replaces) == ["sink_org_id"]
    host.delete(conn_id, outs)
    new_id, new_outs = host.create(moved)
    assert new_id != conn_id and new_outs.get("adopted") is None
    assert emulator.pairs() == [(SPOKE_EU.id, SPOKE_US.id, ("logs",))]


def test_adopt_id_of_another_pair_fails_the_preview_before_anything_is_deleted(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    conn_id, outs = host.create(NEWS)
    elsewhere = emulator.create(SPOKE_EU.id, SPOKE_AP.id, ["logs"])
    host.new_deployment()
    emulator.clear_requests()
    with pytest.raises(ProviderError) as err:
        host.diff(conn_id, outs, {**NEWS, "sink_org_id": SPOKE_US.id, "adopt_id": elsewhere["id"]})
    assert f"adopt_id {elsewhere['id']} is not a connection" in err.value.args[0]
    assert emulator.mutating_requests() == []


def test_refresh_returns_the_inputs_the_api_holds(host: ProviderHost, emulator: EmulatorControl) -> None:
    """What makes `ignore_changes=["connection_types"]` keep a value changed out of band."""
    conn_id, outs = host.create(NEWS)
    emulator.patch(conn_id, ["logs", "metrics"])
    host.new_deployment()
    _, refreshed, inputs = host.read_with_inputs(conn_id, outs)
    assert refreshed["connection_types"] == ["logs", "metrics"]
    assert inputs is not None and inputs["connection_types"] == ["logs", "metrics"]
    assert inputs["sink_org_id"] == HUB.id and inputs["__owner"] == NEWS["__owner"]
    # Without ignore_changes the program's declared types come back as news: the diff is an update.
    diff = host.diff(conn_id, refreshed, NEWS)
    assert diff.changes == diff.DIFF_SOME and not diff.replaces


def test_secret_inputs_are_masked_in_errors_and_derived_outputs_stored_as_secrets(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    secret = {**NEWS, "__secrets": ["sink_org_id"]}
    resp = host.create_raw(secret)
    name = resp.properties.fields["sink_org_name"]
    assert name.struct_value.fields["value"].string_value == "hub"  # wrapped: stored as a secret
    with pytest.raises(ProviderError) as err:
        host.create({**secret, "__owner": "p/dev/second"})  # 409
    assert HUB.id not in err.value.args[0] and "[secret]" in err.value.args[0]
    assert "Traceback" not in err.value.args[0]  # masked, still the one line
