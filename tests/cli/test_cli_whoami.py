"""`whoami`, and the at-risk mark of `reconcile` and `graph` (connections made by a person), through
the installed entry point. (`list`'s mark is in test_cli_read.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli_helpers import FAKE_APP_KEY, one_error_line_of, run

from support.emulator_control import EmulatorControl
from support.fake_server import Canned, FakeServer, Recorded
from support.seed import HUB, HUB_BOT, HUB_READER_APP_KEY, HUB_VIEWER_APP_KEY, SPOKE_EU, SPOKE_US

WHOAMI_KEYS = ["org", "user", "permissions", "can_read", "can_write", "at_risk", "stack"]


def fields(out: str) -> dict[str, str]:
    """``label: value`` lines of the text output."""
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


def test_whoami_of_a_person_says_the_risk(emulator: EmulatorControl) -> None:
    result = run("whoami", url=emulator.url)
    assert result.code == 0, result
    shown = fields(result.out)
    assert shown["org"] == f"hub ({HUB.id})"
    assert shown["user"] == f"{HUB.user_name} ({HUB.user_id})"
    assert shown["kind"].startswith("person") and "removes every connection a user made" in shown["kind"]
    assert shown["permissions"] == "org_connections_read: no, org_connections_write: no, org_management: yes"
    assert shown["a stack can"].startswith("preview, up (create, update, delete), refresh and destroy")
    assert "at risk (created by a person)" in shown["a stack can"]
    assert [(r["method"], r["path"]) for r in emulator.requests()] == [("GET", "/api/v2/current_user")]


def test_whoami_json_of_a_service_account_and_of_read_only_keys(emulator: EmulatorControl) -> None:
    bot = run("whoami", "--json", url=emulator.url, app_key=HUB_BOT.app_key)
    assert bot.code == 0, bot
    doc = json.loads(bot.out)
    assert list(doc) == WHOAMI_KEYS
    assert doc["org"] == {"id": HUB.id, "name": "hub"}
    assert doc["user"]["id"] == HUB_BOT.id and doc["user"]["service_account"] is True
    assert doc["permissions"] == {
        "org_connections_read": True,
        "org_connections_write": True,
        "org_management": False,
    }
    assert (doc["can_read"], doc["can_write"], doc["at_risk"]) == (True, True, False)
    assert "at risk" not in doc["stack"]
    reader = json.loads(run("whoami", "--json", url=emulator.url, app_key=HUB_READER_APP_KEY).out)
    assert (reader["can_read"], reader["can_write"], reader["at_risk"]) == (True, False, True)
    assert (
        reader["stack"].startswith("preview and refresh only") and "org_connections_write" in reader["stack"]
    )
    viewer = fields(run("whoami", url=emulator.url, app_key=HUB_VIEWER_APP_KEY).out)
    assert viewer["a stack can"].startswith("preview only: refresh, up and destroy are refused")


def test_whoami_of_keys_of_nobody_exits_5_after_asking_a_second_endpoint(emulator: EmulatorControl) -> None:
    result = run("whoami", url=emulator.url, app_key=FAKE_APP_KEY)
    assert result.code == 5, result
    line = one_error_line_of(result)
    assert "these keys authenticate as nobody" in line and "DD_SITE" in line
    assert [(r["path"], r["status"]) for r in emulator.requests()] == [
        ("/api/v2/current_user", 403),
        ("/api/v2/org_connections", 403),
    ]
    assert run("whoami", org=None, url=emulator.url).code == 3  # no keys at all


def test_whoami_of_a_key_current_user_refuses_but_the_list_accepts() -> None:
    def answer(rec: Recorded) -> Canned:
        if rec.path == "/api/v2/current_user":
            return Canned(403, {"errors": ["Forbidden"]})
        return Canned(200, {"data": [], "meta": {"page": {"total_count": 0, "total_filtered_count": 0}}})

    server = FakeServer(handler=answer).start()
    try:
        result = run("whoami", "--json", url=server.url)
    finally:
        server.stop()
    assert result.code == 0, result
    doc = json.loads(result.out)
    assert (doc["user"], doc["org"], doc["can_read"], doc["can_write"]) == (None, None, True, None)
    assert doc["stack"].startswith("read connections (refresh)")


def _export(path: Path, conns: list[dict[str, Any]]) -> Path:
    """A minimal `pulumi stack export` holding ``conns`` (as the emulator's control API returns them)."""
    kind = "pulumi-python:dynamic/datadog:OrgConnection"
    resources = [
        {
            "urn": f"urn:pulumi:dev::proj::{kind}::c{n}",
            "type": kind,
            "id": c["id"],
            "outputs": {
                "source_org_id": c["relationships"]["source_org"]["data"]["id"],
                "sink_org_id": c["relationships"]["sink_org"]["data"]["id"],
                "connection_types": c["attributes"]["connection_types"],
            },
        }
        for n, c in enumerate(conns)
    ]
    path.write_text(json.dumps({"version": 3, "deployment": {"resources": resources}}))
    return path


def test_reconcile_and_graph_mark_connections_made_by_a_person(
    emulator: EmulatorControl, tmp_path: Path
) -> None:
    by_person = emulator.create(HUB.name, SPOKE_EU.id, ["logs"])
    by_bot = emulator.create(HUB.name, SPOKE_US.id, ["metrics"], created_by=HUB_BOT.name)
    export = _export(tmp_path / "dev.json", [by_person, by_bot])

    report = run("reconcile", str(export), url=emulator.url)
    assert report.code == 0, report  # in sync: the risk is not drift
    section = report.out.split("AT RISK: made by a person", 1)[1].split("\n\n", 1)[0]
    assert by_person["id"] in section and f"{HUB.user_name} (person: at risk)" in section
    assert by_bot["id"] not in section
    doc = json.loads(run("reconcile", str(export), "--json", url=emulator.url).out)
    assert [(c["id"], c["at_risk"]) for c in doc["at_risk"]] == [(by_person["id"], True)]

    graph = json.loads(run("graph", str(export), "--json", url=emulator.url).out)
    assert {c["id"]: c["at_risk"] for c in graph["connections"]} == {
        by_person["id"]: True,
        by_bot["id"]: False,
    }
    mermaid = run("graph", url=emulator.url).out
    assert '-->|"logs (at risk: made by a person)"|' in mermaid and '-->|"metrics"|' in mermaid
