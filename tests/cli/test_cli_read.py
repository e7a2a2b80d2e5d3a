"""`list` and `orgs`, the help text and the version, through the installed entry point."""

from __future__ import annotations

import json
import re

from cli_helpers import run, table_rows

from support.emulator_control import EmulatorControl
from support.seed import GLOBEX, HUB, HUB_READER_APP_KEY, SPOKE_AP, SPOKE_EU, SPOKE_US, service_account_of

JSON_KEYS = [
    "id",
    "direction",
    "other_org_id",
    "other_org_name",
    "source_org_id",
    "source_org_name",
    "sink_org_id",
    "sink_org_name",
    "connection_types",
    "created_at",
    "created_by_id",
    "created_by_name",
    "created_by_service_account",
    "at_risk",
]


def test_help_needs_no_keys_and_documents_exit_codes_and_env() -> None:
    result = run("--help", org=None)
    assert result.code == 0, result
    for text in ("DD_API_KEY", "DD_APP_KEY", "DD_SITE", "DD_HOST", "shell history", "Exit status"):
        assert text in result.out, text
    for code in range(6):
        assert re.search(rf"^ +{code}  \w", result.out, re.MULTILINE), code
    for command in ("list", "orgs", "export", "revoke", "emulator"):
        assert command in result.out
    assert run("list", "--help", org=None).code == 0
    version = run("--version", org=None)
    assert version.code == 0 and version.out.startswith("dd-org-connections, version ")


def test_list_empty(emulator: EmulatorControl) -> None:
    result = run("list", url=emulator.url)
    assert (result.code, result.out) == (0, "no connections\n"), result
    result = run("list", "--json", url=emulator.url)
    assert (result.code, json.loads(result.out)) == (0, []), result


def test_list_table_shows_outgoing_and_incoming(emulator: EmulatorControl) -> None:
    out_conn = emulator.create(HUB.name, SPOKE_EU.id, ["metrics", "logs"])  # by the hub's admin, a person
    in_conn = emulator.create(SPOKE_US.name, HUB.id, ["audit"], created_by=service_account_of(SPOKE_US).name)
    emulator.create(SPOKE_EU.name, SPOKE_AP.id, ["logs"])  # the hub takes no part: not listed

    result = run("list", url=emulator.url)
    assert result.code == 0, result
    rows = {r["ID"]: r for r in table_rows(result.out)}
    assert set(rows) == {out_conn["id"], in_conn["id"]}
    assert rows[out_conn["id"]] == {
        "ID": out_conn["id"],
        "DIRECTION": "outgoing",
        "OTHER ORG": "spoke-eu",
        "OTHER ORG ID": SPOKE_EU.id,
        "TYPES": "logs,metrics",
        "CREATED AT": rows[out_conn["id"]]["CREATED AT"],
        "CREATED BY": "admin@hub.acme.test (person: at risk)",
    }
    assert result.err.startswith("note: 1 connection(s) made by a person (at risk): Datadog removes every")
    assert rows[out_conn["id"]]["CREATED AT"].endswith(" UTC")
    assert out_conn["attributes"]["created_at"][:10] in rows[out_conn["id"]]["CREATED AT"]
    incoming = rows[in_conn["id"]]
    assert (incoming["DIRECTION"], incoming["OTHER ORG"], incoming["OTHER ORG ID"]) == (
        "incoming",
        "spoke-us",
        SPOKE_US.id,
    )
    assert (incoming["TYPES"], incoming["CREATED BY"]) == ("audit", "connections-bot@spoke-us.acme.test")


def test_list_json_has_stable_keys(emulator: EmulatorControl) -> None:
    out_conn = emulator.create(HUB.name, SPOKE_EU.id, ["logs", "metrics"])
    in_conn = emulator.create(SPOKE_US.name, HUB.id, ["audit"])
    result = run("list", "--json", url=emulator.url)
    assert result.code == 0, result
    items = {c["id"]: c for c in json.loads(result.out)}
    for item in items.values():
        assert list(item) == JSON_KEYS
    assert items[out_conn["id"]] == {
        "id": out_conn["id"],
        "direction": "outgoing",
        "other_org_id": SPOKE_EU.id,
        "other_org_name": "spoke-eu",
        "source_org_id": HUB.id,
        "source_org_name": "hub",
        "sink_org_id": SPOKE_EU.id,
        "sink_org_name": "spoke-eu",
        "connection_types": ["logs", "metrics"],
        "created_at": out_conn["attributes"]["created_at"],
        "created_by_id": out_conn["relationships"]["created_by"]["data"]["id"],
        "created_by_name": "admin@hub.acme.test",
        "created_by_service_account": False,
        "at_risk": True,
    }
    assert items[in_conn["id"]]["direction"] == "incoming"
    assert items[in_conn["id"]]["other_org_id"] == SPOKE_US.id

    # Seen from the sink, the hub's outgoing connection is incoming.
    as_eu = json.loads(run("list", "--json", url=emulator.url, org=SPOKE_EU).out)
    assert [(c["id"], c["direction"], c["other_org_name"]) for c in as_eu] == [
        (out_conn["id"], "incoming", "hub")
    ]


def test_list_filters(emulator: EmulatorControl) -> None:
    to_eu = emulator.create(HUB.name, SPOKE_EU.id, ["logs"])
    emulator.create(HUB.name, SPOKE_AP.id, ["logs"])
    from_us = emulator.create(SPOKE_US.name, HUB.id, ["logs"])

    def ids(*args: str) -> list[str]:
        result = run("list", "--json", *args, url=emulator.url)
        assert result.code == 0, result
        return [c["id"] for c in json.loads(result.out)]

    assert ids("--sink-org-id", SPOKE_EU.id) == [to_eu["id"]]
    assert ids("--source-org-id", SPOKE_US.id) == [from_us["id"]]
    assert len(ids("--source-org-id", HUB.id)) == 2
    result = run("list", "--sink-org-id", GLOBEX.id, url=emulator.url)
    assert (result.code, result.out) == (0, "no connections match the filters\n"), result


def test_direction_when_the_org_list_fails(emulator: EmulatorControl) -> None:
    # GET /api/v2/org fails: current_user (no permission needed) names the org.
    first = emulator.create(HUB.name, SPOKE_EU.id, ["logs"])
    emulator.faults(kinds=["server_error"], path="/api/v2/org")
    [item] = json.loads(run("--max-attempts", "1", "list", "--json", url=emulator.url).out)
    assert (item["direction"], item["other_org_id"]) == ("outgoing", SPOKE_EU.id)
    # Keys that may not list orgs, and current_user failing too: with one connection the current org
    # cannot be told ("?"); with several, the org common to all of them is the current org.
    emulator.faults(kinds=["server_error"], path="/api/v2/current_user")
    result = run("--max-attempts", "1", "list", "--json", url=emulator.url, app_key=HUB_READER_APP_KEY)
    assert result.code == 0, result
    [item] = json.loads(result.out)
    assert (item["direction"], item["other_org_id"]) == ("?", None)
    table = run("--max-attempts", "1", "list", url=emulator.url, app_key=HUB_READER_APP_KEY)
    [row] = table_rows(table.out)
    assert (row["DIRECTION"], row["OTHER ORG"]) == ("?", "hub -> spoke-eu")

    second = emulator.create(SPOKE_US.name, HUB.id, ["logs"])
    items = json.loads(
        run("--max-attempts", "1", "list", "--json", url=emulator.url, app_key=HUB_READER_APP_KEY).out
    )
    assert {c["id"]: c["direction"] for c in items} == {first["id"]: "outgoing", second["id"]: "incoming"}


def test_orgs_table_and_json(emulator: EmulatorControl) -> None:
    result = run("orgs", url=emulator.url)
    assert result.code == 0, result
    rows = table_rows(result.out)
    assert [(r["CURRENT"], r["ID"], r["NAME"]) for r in rows] == [
        ("*", HUB.id, "hub"),
        ("", SPOKE_EU.id, "spoke-eu"),
        ("", SPOKE_US.id, "spoke-us"),
        ("", SPOKE_AP.id, "spoke-ap"),
    ]
    assert all(r["PUBLIC ID"] for r in rows)

    # A child org's keys list only the child itself (the API promises no more).
    as_eu = run("orgs", "--json", url=emulator.url, org=SPOKE_EU)
    items = json.loads(as_eu.out)
    assert [list(o) for o in items] == [["id", "public_id", "name", "current"]]
    assert [(o["id"], o["current"]) for o in items] == [(SPOKE_EU.id, True)]
    assert GLOBEX.id not in as_eu.out  # another account
