"""`revoke`: delete a connection, typically from the sink side, with or without confirmation."""

from __future__ import annotations

from cli_helpers import run

from support.emulator_control import EmulatorControl
from support.seed import HUB, SPOKE_AP, SPOKE_EU, SPOKE_US

UNKNOWN_ID = "7e9d4a43-4224-4bdd-8e14-66037db578b1"


def ids(emulator: EmulatorControl) -> set[str]:
    return {c["id"] for c in emulator.connections()}


def test_revoke_from_the_sink_side(emulator: EmulatorControl) -> None:
    # The hub receives spoke-eu's data; the hub (the sink) cuts it off.
    conn = emulator.create(SPOKE_EU.name, HUB.id, ["logs"])
    kept = emulator.create(SPOKE_US.name, HUB.id, ["logs"])
    result = run("revoke", conn["id"], "--yes", url=emulator.url, org=HUB)
    assert result.code == 0, result
    assert result.out == f"revoked connection {conn['id']}\n"
    assert ids(emulator) == {kept["id"]}
    deletes = [r for r in emulator.mutating_requests() if r["method"] == "DELETE"]
    assert [(r["path"], r["org_id"], r["status"]) for r in deletes] == [
        (f"/api/v2/org_connections/{conn['id']}", HUB.id, 200)
    ]


def test_revoke_from_the_source_side_after_confirming(emulator: EmulatorControl) -> None:
    conn = emulator.create(HUB.name, SPOKE_AP.id, ["audit"])
    result = run("revoke", conn["id"].upper(), url=emulator.url, input="y\n")
    assert result.code == 0, result
    assert "Revoke connection" in result.err and "spoke-ap" in result.err  # what is about to go
    assert ids(emulator) == set()


def test_declined_prompt_deletes_nothing(emulator: EmulatorControl) -> None:
    conn = emulator.create(SPOKE_EU.name, HUB.id, ["logs"])
    result = run("revoke", conn["id"], url=emulator.url, input="n\n")
    assert result.code == 1, result
    assert "[y/N]" in result.err and "error: not confirmed: nothing revoked" in result.err
    assert result.out == ""
    # No answer at all (stdin closed, as in a script): usage error, nothing deleted.
    result = run("revoke", conn["id"], url=emulator.url, input="")
    assert result.code == 2, result
    assert "--yes" in result.err.splitlines()[-1]
    assert ids(emulator) == {conn["id"]}
    assert [r for r in emulator.mutating_requests() if r["method"] == "DELETE"] == []


def test_unknown_or_foreign_connection_is_not_found(emulator: EmulatorControl) -> None:
    for args in (("--yes",), ()):
        result = run("revoke", UNKNOWN_ID, *args, url=emulator.url)
        assert result.code == 4, result
        assert result.err == f"error: no connection {UNKNOWN_ID} visible to this org\n"
    # spoke-ap takes no part in hub -> spoke-eu: for it, that connection does not exist.
    conn = emulator.create(HUB.name, SPOKE_EU.id, ["logs"])
    result = run("revoke", conn["id"], "--yes", url=emulator.url, org=SPOKE_AP)
    assert result.code == 4, result
    assert ids(emulator) == {conn["id"]}


def test_malformed_id_is_a_usage_error_that_does_not_echo_it(emulator: EmulatorControl) -> None:
    result = run("revoke", HUB.app_key, "--yes", url=emulator.url)  # a key pasted in the wrong place
    assert result.code == 2, result
    assert "UUID" in result.err
    assert emulator.requests() == []
