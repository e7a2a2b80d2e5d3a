"""Creates the engine never recorded are finished by the next run; connections made by others still conflict.

Through the provider protocol against the emulator (the journal is the provider's, in the host's
`DDOC_JOURNAL_DIR`), and in process against a scripted server whose clock is far from ours.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
import requests
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config

from datadog_org_connections.journal import Journal, settle_held
from datadog_org_connections.provider import OrgConnectionError, OrgConnectionProvider
from support.emulator_control import EmulatorControl
from support.fake_server import Canned, FakeServer
from support.provider_host import ProviderError, ProviderHost
from support.seed import HUB, SPOKE_EU, SPOKE_EU_ENGINEER, SPOKE_US

NEWS = {"sink_org_id": HUB.id, "connection_types": ["logs"]}


@pytest.fixture
def host(shared_emulator: Any) -> Any:
    with ProviderHost() as provider:
        provider.configure(SPOKE_EU.config(shared_emulator.url))
        yield provider


def _journal(host: ProviderHost, url: str) -> Journal:
    return Journal(url, SPOKE_EU.api_key, directory=Path(host.journal_dir))


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="microseconds")


def test_an_answered_create_the_engine_never_recorded_is_adopted(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    made_id, _ = host.create(NEWS)  # answered, then the run dies before the engine's checkpoint
    journal = _journal(host, emulator.url)
    assert journal.read(HUB.id).conn_id == made_id  # type: ignore[union-attr]
    host.new_deployment()
    emulator.clear_requests()
    conn_id, outs = host.create(NEWS)
    assert conn_id == made_id and outs["adopted"] == "earlier-create"
    assert [(r["method"], r["status"]) for r in emulator.mutating_requests()] == [("POST", 409)]
    # The engine now holds it: the next diff settles the entry, and the journal is empty.
    host.new_deployment()
    host.diff(conn_id, outs, NEWS)
    assert journal.read(HUB.id) is None and not list(Path(host.journal_dir).glob("*.json"))


def test_a_create_killed_before_its_answer_is_adopted_by_the_next_run(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    journal = _journal(host, emulator.url)
    journal.begin(HUB.id)  # what a run killed while its POST was in flight leaves behind
    late = emulator.create(SPOKE_EU.id, HUB.id, ["logs"])  # ... and that POST applied
    conn_id, outs = host.create(NEWS)
    assert conn_id == late["id"] and outs["adopted"] == "earlier-create"
    assert journal.read(HUB.id).pending is None  # type: ignore[union-attr]
    assert len(emulator.connections()) == 1


def test_a_connection_made_by_hand_20_seconds_before_the_attempt_conflicts(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    """Before: anything created up to 60 s before the attempt was taken as ours, and its types PATCHed."""
    hand_made = _iso(time.time() - 20)
    emulator._call(
        "POST",
        "connections",
        {"source": SPOKE_EU.id, "sink": HUB.id, "connection_types": ["metrics"], "created_at": hand_made},
    )
    journal = _journal(host, emulator.url)
    journal.begin(HUB.id)  # a create of ours that timed out after the hand-made connection existed
    with pytest.raises(ProviderError) as err:
        host.create(NEWS)
    assert "already exists" in err.value.args[0]
    assert emulator.pairs() == [(SPOKE_EU.id, HUB.id, ("metrics",))]  # untouched: no PATCH
    assert journal.read(HUB.id) is None  # the outcome is known: nothing of ours to finish


def test_a_second_declaration_of_a_pair_made_in_this_run_is_not_adopted(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    host.create(NEWS)
    with pytest.raises(ProviderError) as err:
        host.create(NEWS)  # another resource of the same deployment declaring the same pair
    assert "already exists" in err.value.args[0]


def test_another_stack_on_the_same_machine_does_not_take_over_a_connection(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    """The journal is kept per resource: what stack `first` made conflicts for stack `second`, and for
    another name in `first` (a rename, or a second declaration of the pair)."""
    made_id, _ = host.create({**NEWS, "__owner": "datadog-orgs/first/to-hub"})  # journaled, not settled yet
    host.new_deployment()
    for other in ("datadog-orgs/second/to-hub", "datadog-orgs/first/hub-conn"):
        with pytest.raises(ProviderError) as err:
            host.create({**NEWS, "__owner": other})
        assert "already exists" in err.value.args[0]
    # The resource itself, killed before its checkpoint, still gets its connection back.
    conn_id, outs = host.create({**NEWS, "__owner": "datadog-orgs/first/to-hub"})
    assert conn_id == made_id and outs["adopted"] == "earlier-create"


def test_a_refused_create_leaves_nothing_behind(host: ProviderHost, emulator: EmulatorControl) -> None:
    with pytest.raises(ProviderError):
        host.create({**NEWS, "sink_org_id": "00000000-0000-1000-8000-000000000000"})  # 404
    assert not list(Path(host.journal_dir).glob("*.json"))


# --- the server's clock, in process, against a scripted server an hour behind us ----------------


def _provider(url: str, journal_dir: Path, monkeypatch: pytest.MonkeyPatch) -> OrgConnectionProvider:
    monkeypatch.setenv("DDOC_JOURNAL_DIR", str(journal_dir))
    monkeypatch.delenv("PULUMI_PROJECT", raising=False)
    provider = OrgConnectionProvider()
    config = {"datadog:apiKey": SPOKE_EU.api_key, "datadog:appKey": SPOKE_EU.app_key, "datadog:apiUrl": url}
    provider.configure(ConfigureRequest(Config(config, "test")))  # what the provider host passes
    return provider


def _answers(server: FakeServer, created_at: str, server_now: float) -> None:
    date = formatdate(server_now, usegmt=True)
    conn = {
        "type": "org_connection",
        "id": "7e9d4a43-4224-4bdd-8e14-66037db578b1",
        "attributes": {"created_at": created_at, "connection_types": ["logs"]},
        "relationships": {
            "source_org": {"data": {"type": "orgs", "id": SPOKE_EU.id, "name": "spoke-eu"}},
            "sink_org": {"data": {"type": "orgs", "id": HUB.id, "name": "hub"}},
        },
    }
    server.enqueue(
        Canned(409, {"errors": ["connection between orgs a and b already exists"]}, date=date),
        Canned(
            200, {"data": [conn], "meta": {"page": {"total_count": 1, "total_filtered_count": 1}}}, date=date
        ),
    )


@pytest.mark.parametrize(("after_attempt", "adopted"), [(5.0, True), (-20.0, False)])
def test_attempt_times_are_compared_in_the_servers_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after_attempt: float, adopted: bool
) -> None:
    skew = -3600.0  # the server's clock is an hour behind ours
    with FakeServer() as server:
        provider = _provider(server.url, tmp_path, monkeypatch)
        started = time.time()
        Journal(server.url, SPOKE_EU.api_key, directory=tmp_path).begin(HUB.id)
        created = started + skew + after_attempt  # in the server's clock
        _answers(server, _iso(created), started + skew + 1)
        if adopted:
            result = provider.create(NEWS)
            assert result.outs["adopted"] == "earlier-create"
        else:
            with pytest.raises(OrgConnectionError, match="already exists"):
                provider.create(NEWS)
    assert SPOKE_US.id not in str(server.requests)


# --- an entry never outlives the engine holding its id (issue 19) ---------------------------------


def test_a_renamed_stack_holding_the_id_settles_the_entry_of_the_old_name(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    """`pulumi stack rename r1 r1-old`, `up`, then a new stack `r1`: the new stack must not be handed
    the connection r1-old holds (before: the entry was settled only under the name the engine saw now)."""
    made_id, outs = host.create({**NEWS, "__owner": "p/r1/us-to-hub"})
    host.new_deployment()
    host.diff(made_id, outs, {**NEWS, "__owner": "p/r1-old/us-to-hub"})  # r1-old's up holds it
    host.new_deployment()
    with pytest.raises(ProviderError) as err:
        host.create({**NEWS, "__owner": "p/r1/us-to-hub"})  # the new stack r1
    assert "already exists" in err.value.args[0] and made_id in err.value.args[0]
    assert not list(Path(host.journal_dir).glob("*.json"))


def test_the_program_settles_an_entry_once_the_engine_answered_its_registration(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    """The engine answers a registration only after the checkpoint holding it: `settle_held` from the
    program (OrgConnection does it when its id resolves) leaves nothing for another stack to claim."""
    made_id, _ = host.create({**NEWS, "__owner": "p/r1/us-to-hub"})
    settle_held(made_id, Path(host.journal_dir))
    assert not list(Path(host.journal_dir).rglob("*.json"))
    host.new_deployment()
    with pytest.raises(ProviderError, match="already exists"):
        host.create({**NEWS, "__owner": "p/r1/us-to-hub"})


def test_a_pending_attempt_claims_nothing_created_after_its_retry_budget(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    journal = _journal(host, emulator.url)
    journal.begin(HUB.id, budget=10.0)
    _move_pending(host, journal, -3600)  # the attempt started an hour ago; its POST could retry 10 s
    emulator.create(SPOKE_EU.id, HUB.id, ["logs"])  # made now: by someone else
    with pytest.raises(ProviderError, match="already exists"):
        host.create(NEWS)


def test_a_pending_attempt_claims_nothing_another_user_created(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    journal = _journal(host, emulator.url)
    journal.begin(HUB.id)
    engineer = SPOKE_EU.as_user(SPOKE_EU_ENGINEER)  # same org, another user made it meanwhile
    url = f"{emulator.url}/api/v2/org_connections"
    body = {"data": {"type": "org_connection", "attributes": {"connection_types": ["logs"]},
            "relationships": {"sink_org": {"data": {"type": "orgs", "id": HUB.id}}}}}  # fmt: skip
    assert requests.post(url, json=body, headers=engineer.headers(), timeout=10).status_code == 200
    host.check({}, NEWS)  # the preview learnt who the keys are
    with pytest.raises(ProviderError, match="already exists"):
        host.create(NEWS)


def _move_pending(host: ProviderHost, journal: Journal, seconds: float) -> None:
    path = journal._path(HUB.id)
    data = json.loads(path.read_text())
    data["pending"] += seconds
    path.write_text(json.dumps(data))


# --- on another runner: the repair reconcile prints (stack config orgConnections:adopt) ----------


def test_a_connection_named_in_orgconnections_adopt_is_taken_over_on_409(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    """A fresh CI runner has no journal: the stack config names the connection its killed run made."""
    made = emulator.create(SPOKE_EU.id, HUB.id, ["logs"])
    other = emulator.create(SPOKE_EU.id, SPOKE_US.id, ["logs"])
    config = {**SPOKE_EU.config(emulator.url)}
    config["orgConnections:adopt"] = json.dumps({"eu-to-hub": made["id"], "eu-to-us": other["id"].upper()})
    host.configure(config)
    emulator.clear_requests()
    conn_id, outs = host.create({**NEWS, "__owner": "p/dev/eu-to-hub"})
    assert conn_id == made["id"] and outs["adopted"] == "config"
    assert [(r["method"], r["status"]) for r in emulator.mutating_requests()] == [("POST", 409)]
    # Another resource of the pair is not the one named: the usual 409, whose advice names the repair
    # (the provider cannot see the engine's pending-operations warning: the advice says "if").
    with pytest.raises(ProviderError, match="already exists") as conflict:
        host.create({**NEWS, "sink_org_id": SPOKE_US.id, "__owner": "p/dev/someone-else"})
    assert (
        "interrupted (Pulumi warned of pending operations above), `dd-org-connections reconcile --stack dev`"
        in (str(conflict.value))
    )


def test_a_bad_orgconnections_adopt_entry_names_the_key(
    host: ProviderHost, emulator: EmulatorControl
) -> None:
    host.configure({**SPOKE_EU.config(emulator.url), "orgConnections:adopt": json.dumps({"x": "nope"})})
    with pytest.raises(ProviderError, match=r"orgConnections:adopt\.x must be a connection id"):
        host.create({**NEWS, "__owner": "p/dev/x"})
