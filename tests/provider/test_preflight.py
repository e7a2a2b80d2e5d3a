"""The preflight (issue 20) through the provider protocol: who the keys are, what they may do, what is said.

Each `ProviderHost` is one provider process started as the engine starts it, with a `FakeEngine`'s
address: the warnings the provider sends through `Engine.Log` are what `pulumi preview` and
`pulumi up` print (tests/e2e/test_keys_preflight.py shows them with the real CLI).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from datadog_org_connections.emulator import Emulator
from datadog_org_connections.preflight import SUMMARY_WORDS
from support.emulator_control import EmulatorControl
from support.fake_engine import FakeEngine
from support.fake_server import Canned, FakeServer, Recorded
from support.provider_host import ProviderError, ProviderHost
from support.seed import (
    HUB,
    HUB_BOT,
    HUB_READER_APP_KEY,
    SPOKE_EU,
    SPOKE_US,
    USERS,
    Org,
    service_account_of,
)

NEWS = {"sink_org_id": SPOKE_US.id, "connection_types": ["logs"], "__owner": "p/dev/hub-to-us"}
HUB_READER = next(u for u in USERS.values() if u.app_key == HUB_READER_APP_KEY)


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    with FakeEngine() as fake:
        yield fake


def _config(url: str, keys: Org, aliases: dict[str, Org] | None = None) -> dict[str, str]:
    config = keys.config(url)
    orgs = {a: {"apiKey": o.api_key, "appKey": o.app_key} for a, o in (aliases or {}).items()}
    config["orgConnections:orgs"] = json.dumps(orgs)
    return config


def _host(engine: FakeEngine, url: str, keys: Org, aliases: dict[str, Org] | None = None) -> ProviderHost:
    host = ProviderHost(engine=engine.address)
    host.configure(_config(url, keys, aliases))
    return host


def _calls(emulator: EmulatorControl) -> list[str]:
    return [f"{r['method']} {r['path']}" for r in emulator.requests()]


# --- a person's keys ------------------------------------------------------------------------------


def test_a_persons_keys_warn_once_per_process_and_a_service_accounts_do_not(
    shared_emulator: Emulator, emulator: EmulatorControl, engine: FakeEngine
) -> None:
    with _host(engine, shared_emulator.url, HUB) as host:  # the hub's admin: a person
        for sink in (SPOKE_US.id, SPOKE_EU.id):
            assert host.check({}, {**NEWS, "sink_org_id": sink, "__owner": f"p/dev/{sink}"})[1] == []
        (warning,) = engine.warnings()
        assert HUB.user_name in warning and "datadog:apiKey/appKey" in warning
        assert (
            "Datadog removes every connection a user made when that user's account is deactivated" in warning
        )
        assert "service account" in warning and "datadog:appKey" in warning
        assert _calls(emulator).count("GET /api/v2/current_user") == 1
        host.new_deployment()  # the next command says it again, once
        host.check({}, NEWS)
        assert len(engine.warnings()) == 2
    engine.clear()
    with _host(engine, shared_emulator.url, HUB.as_user(HUB_BOT)) as host:
        assert host.check({}, NEWS)[1] == []
        _, outs = host.create(NEWS)
    assert engine.warnings() == []
    assert outs["created_by_service_account"] is True and outs["created_by"] == HUB_BOT.name


def test_one_warning_per_person_across_aliases_naming_the_alias_config(
    shared_emulator: Emulator, emulator: EmulatorControl, engine: FakeEngine
) -> None:
    aliases = {"eu": SPOKE_EU, "eu-again": SPOKE_EU, "us": SPOKE_US.as_user(service_account_of(SPOKE_US))}
    with _host(engine, shared_emulator.url, HUB.as_user(HUB_BOT), aliases) as host:
        for alias, sink in (("eu", HUB.id), ("eu-again", SPOKE_US.id), ("us", HUB.id)):
            host.check({}, {**NEWS, "sink_org_id": sink, "source_org": alias, "__owner": f"p/dev/{alias}"})
    (warning,) = engine.warnings()  # the spoke-eu admin, whichever alias came first; none for the bots
    assert SPOKE_EU.user_name in warning and "orgConnections:orgs.eu.apiKey/.appKey" in warning
    assert "orgConnections:orgs.eu.appKey" in warning


def test_without_an_engine_the_warning_goes_to_stderr(
    shared_emulator: Emulator, emulator: EmulatorControl
) -> None:
    with ProviderHost() as host:  # started with an address where nothing listens
        host.configure(_config(shared_emulator.url, HUB))
        assert host.check({}, NEWS)[1] == []
        assert (
            f"warning: the keys of the stack's org (datadog:apiKey/appKey) are those of a person, {HUB.user_name}"
            in (host.stderr())
        )


# --- keys that cannot write -----------------------------------------------------------------------


def test_read_only_keys_pass_the_preview_with_a_warning_and_up_is_refused_before_sending(
    shared_emulator: Emulator, emulator: EmulatorControl, engine: FakeEngine
) -> None:
    existing = emulator.create(HUB.id, SPOKE_EU.id, ["logs"])
    held = {"sink_org_id": SPOKE_EU.id, "connection_types": ["logs"], "__owner": "p/dev/hub-to-eu"}
    with _host(engine, shared_emulator.url, HUB.as_user(HUB_READER)) as host:
        # The connection the stack holds, unchanged: nothing planned, no write warning.
        assert host.check(held, held)[1] == []
        assert host.diff(existing["id"], held, held).changes == 1  # DIFF_NONE
        assert not [w for w in engine.warnings() if "would be refused" in w]
        # A new connection planned: the preview passes, and says `up` would be refused.
        assert host.check({}, NEWS)[1] == []
        assert host.diff(existing["id"], held, {**held, "connection_types": ["logs", "metrics"]}).changes == 2
        (refusal,) = [w for w in engine.warnings() if "would be refused" in w]
        for warning in engine.warnings():  # never the words of Pulumi's summary ("+ 1 created"...)
            assert not [word for word in SUMMARY_WORDS if word in warning.lower()], warning
        assert (
            HUB_READER.name in refusal and "org_connections_write" in refusal and "org_management" in refusal
        )
        assert "datadog:appKey" in refusal and "A preview only reads" in refusal
        assert _calls(emulator) == ["GET /api/v2/current_user"]  # not even /api/v2/org (it would be refused)
        # `pulumi up`: create, update and delete refuse before sending anything.
        for step in (
            lambda: host.create(NEWS),
            lambda: host.update(existing["id"], held, {**held, "connection_types": ["metrics"]}),
            lambda: host.delete(existing["id"], held),
        ):
            with pytest.raises(ProviderError) as err:
                step()
            assert "holds neither org_connections_write nor the older org_management" in err.value.args[0]
            assert "Nothing was sent" in err.value.args[0] and HUB_READER.name in err.value.args[0]
    assert emulator.mutating_requests() == []
    assert [c["id"] for c in emulator.connections()] == [existing["id"]]


# --- keys that authenticate as nobody -------------------------------------------------------------


@pytest.mark.parametrize("alias", [None, "hub"])
def test_keys_refused_everywhere_fail_the_preview_at_once_naming_the_config_keys(
    shared_emulator: Emulator, emulator: EmulatorControl, engine: FakeEngine, alias: str | None
) -> None:
    bad = Org(HUB.name, HUB.id, HUB.api_key, "f" * 40, HUB.account)
    keys, aliases = (bad, None) if alias is None else (HUB.as_user(HUB_BOT), {"hub": bad})
    with _host(engine, shared_emulator.url, keys, aliases) as host:
        with pytest.raises(ProviderError) as err:
            host.check({}, {**NEWS, "source_org": alias})
        with pytest.raises(ProviderError) as again:  # the next resource: no new request
            host.check({}, {**NEWS, "source_org": alias, "__owner": "p/dev/other"})
    text = err.value.args[0]
    setting = "datadog:apiKey/appKey" if alias is None else "orgConnections:orgs.hub.apiKey/.appKey"
    where = "the stack's org" if alias is None else "org 'hub'"
    assert f"the keys of {where} ({setting}) authenticate as nobody" in text
    assert (
        "GET /api/v2/current_user answered 403" in text and "GET /api/v2/org_connections answered 403" in text
    )
    assert "f" * 40 not in text and HUB.api_key not in text and again.value.args[0] == text
    refused = [c for c in emulator.requests() if c["status"] == 403]
    assert [f"{r['method']} {r['path']}" for r in refused] == [
        "GET /api/v2/current_user",
        "GET /api/v2/org_connections",
    ]
    assert emulator.mutating_requests() == []


def _scoped_key(current_user_status: int) -> FakeServer:
    """An API whose current_user answers `current_user_status`, while the list and the POST work: a
    key scoped to fewer permissions, or a current_user endpoint in trouble."""

    def answer(rec: Recorded) -> Canned:
        if rec.path == "/api/v2/current_user":
            return Canned(
                current_user_status, {"errors": ["Forbidden" if current_user_status == 403 else "no"]}
            )
        if rec.path == "/api/v2/org_connections" and rec.method == "GET":
            return Canned(200, {"data": [], "meta": {"page": {"total_count": 0, "total_filtered_count": 0}}})
        return Canned(403, {"errors": ["Forbidden"]})

    return FakeServer(handler=answer).start()


@pytest.mark.parametrize("status", [403, 404, 500])
def test_one_refused_or_failing_endpoint_proves_nothing_and_blocks_nothing(
    engine: FakeEngine, status: int
) -> None:
    server = _scoped_key(status)
    try:
        with _host(engine, server.url, HUB) as host:
            assert host.check({}, NEWS)[1] == []  # nothing blocked, nothing said
            host.check({}, {**NEWS, "__owner": "p/dev/other", "sink_org_id": SPOKE_EU.id})
        assert engine.warnings() == []
        asked = [r.path for r in server.requests]
        # One lookup for both resources (a 5xx is retried once: PROBE_POLICY); the list only after a 403.
        assert asked.count("/api/v2/current_user") == (2 if status == 500 else 1)
        assert asked.count("/api/v2/org_connections") == (1 if status == 403 else 0)
    finally:
        server.stop()


# --- the request floors, and the outputs ------------------------------------------------------------


def test_an_unchanged_stack_previews_with_one_request_per_org_and_changes_stay_one_request_each(
    shared_emulator: Emulator, emulator: EmulatorControl, engine: FakeEngine
) -> None:
    aliases = {"eu": SPOKE_EU}
    with _host(engine, shared_emulator.url, HUB, aliases) as host:
        made = []
        for alias, sink in ((None, SPOKE_US.id), (None, SPOKE_EU.id), ("eu", SPOKE_US.id)):
            news = {**NEWS, "sink_org_id": sink, "source_org": alias, "__owner": f"p/dev/{alias}-{sink}"}
            inputs, _ = host.check({}, news)
            made.append((inputs, *host.create(inputs)))
        host.new_deployment()  # `pulumi preview` of the unchanged stack
        emulator.clear_requests()
        for inputs, conn_id, outs in made:
            host.check(outs, inputs)
            host.diff(conn_id, outs, inputs)
        assert sorted(_calls(emulator)) == ["GET /api/v2/current_user"] * 2  # one per org
        # `pulumi up` of a change: the preflight is known, the change is one request.
        emulator.clear_requests()
        inputs, conn_id, outs = made[0]
        changed = {**inputs, "connection_types": ["logs", "metrics"]}
        host.update(conn_id, outs, changed)
        host.delete(made[1][1], made[1][2])
        assert _calls(emulator) == [
            f"PATCH /api/v2/org_connections/{conn_id}",
            f"DELETE /api/v2/org_connections/{made[1][1]}",
        ]


def test_names_and_the_creators_kind_survive_an_update_and_a_refresh_changes_nothing(
    shared_emulator: Emulator, emulator: EmulatorControl, engine: FakeEngine
) -> None:
    with _host(engine, shared_emulator.url, HUB) as host:
        inputs, _ = host.check({}, NEWS)
        conn_id, outs = host.create(inputs)
        assert outs["created_by_service_account"] is False  # the hub's admin, a person (current_user)
        updated = host.update(conn_id, outs, {**inputs, "connection_types": ["logs", "metrics"]})
        assert emulator.requests()[-1]["method"] == "PATCH"
        for key in (
            "source_org_name",
            "sink_org_name",
            "created_by",
            "created_by_id",
            "created_by_service_account",
        ):
            assert updated[key] == outs[key] and updated[key] not in ("", None), key
        host.new_deployment()  # `pulumi refresh`: the list answers with `included`
        read_id, refreshed = host.read(conn_id, updated)
    assert read_id == conn_id and refreshed == updated


def test_an_adopted_connection_takes_its_creators_kind_from_the_list(
    shared_emulator: Emulator, emulator: EmulatorControl, engine: FakeEngine
) -> None:
    by_bot = emulator.create(HUB.id, SPOKE_US.id, ["logs"], created_by=HUB_BOT.name)
    emulator.create(HUB.id, SPOKE_EU.id, ["logs"])  # by the hub's admin, a person
    with _host(engine, shared_emulator.url, HUB) as host:  # a person's keys adopt both
        bot = host.create({**NEWS, "adopt_id": by_bot["id"]})[1]
        admin = host.create(
            {**NEWS, "sink_org_id": SPOKE_EU.id, "adopt_existing": True, "__owner": "p/dev/b"}
        )[1]
    assert bot["created_by_service_account"] is True and bot["created_by"] == HUB_BOT.name
    assert admin["created_by_service_account"] is False and admin["adopted"] == "existing"


# --- where the keys' org cannot be learnt, the identity checks fail open and say so ----------------


def test_a_connection_taken_as_gone_without_knowing_the_keys_org_says_so(
    shared_emulator: Emulator, emulator: EmulatorControl, engine: FakeEngine
) -> None:
    """current_user failing (5xx) and /api/v2/org refused (a read-only key): the org is unknown, so a
    connection missing from the listing leaves the state as before, with a warning naming why."""
    conn_id = emulator.create(SPOKE_EU.id, HUB.id, ["logs"])["id"]
    emulator.delete(conn_id)
    outs = {**NEWS, "source_org_id": SPOKE_EU.id, "source_org_name": "spoke-eu", "sink_org_name": "hub"}
    keys = SPOKE_EU.as_user(USERS["ci-reader@spoke-eu.acme.test"])
    with _host(engine, shared_emulator.url, keys) as host:
        emulator.faults(kinds=["server_error"], probability=1, path="/api/v2/current_user")
        assert host.read(conn_id, outs) == ("", {})
    (warning,) = [w for w in engine.warnings() if conn_id in w]
    assert "is taken as gone" in warning and "could not be learnt" in warning
