"""The CLI tells the same truth as the API: per-command permissions, org ids, URLs and key settings.

Every test runs the installed entry point (`run` also checks that no key and no traceback is
printed).
"""

from __future__ import annotations

import json

import pytest
from cli_helpers import one_error_line_of, run, table_rows

from support.emulator_control import EmulatorControl
from support.fake_server import Canned, FakeServer
from support.seed import (
    HUB,
    HUB_READER_APP_KEY,
    HUB_VIEWER_APP_KEY,
    HUB_WRITER_APP_KEY,
    SPOKE_EU,
    SPOKE_US,
)

OLDER = "the older org_management permission grants it too"


# ------------------------------------------------------------------------------ permissions


def test_read_only_keys_list_but_orgs_and_export_name_write(emulator: EmulatorControl) -> None:
    conn = emulator.create(HUB.name, SPOKE_EU.id, ["logs"])
    listed = run("list", "--json", url=emulator.url, app_key=HUB_READER_APP_KEY)
    assert listed.code == 0, listed
    assert [c["id"] for c in json.loads(listed.out)] == [conn["id"]]
    # export must know the current org: GET /api/v2/org needs write; current_user needs nothing.
    assert run("export", url=emulator.url, app_key=HUB_READER_APP_KEY).code == 0
    # When current_user fails too, one connection does not tell.
    emulator.faults(kinds=["server_error"], path="/api/v2/current_user")
    export = run("--max-attempts", "1", "export", url=emulator.url, app_key=HUB_READER_APP_KEY)
    assert export.code == 5, export
    line = one_error_line_of(export)
    assert "cannot tell which org these keys belong to" in line and "nothing exported" in line
    assert "lacks the org_connections_write permission" in line
    # Two connections with one org in common tell it: export works with read-only keys then.
    emulator.create(SPOKE_US.name, HUB.id, ["logs"])
    assert run("--max-attempts", "1", "export", url=emulator.url, app_key=HUB_READER_APP_KEY).code == 0
    emulator.faults()

    orgs = run("orgs", url=emulator.url, app_key=HUB_READER_APP_KEY)
    assert orgs.code == 5, orgs
    line = one_error_line_of(orgs)
    assert "list managed orgs: HTTP 403" in line
    assert "lacks the org_connections_write permission" in line and OLDER in line


def test_orgs_needs_write_not_org_management(emulator: EmulatorControl) -> None:
    result = run("orgs", "--json", url=emulator.url, app_key=HUB_WRITER_APP_KEY)
    assert result.code == 0, result
    first = json.loads(result.out)[0]
    assert (first["id"], first["current"]) == (HUB.id, True)


def test_list_without_read_names_read(emulator: EmulatorControl) -> None:
    result = run("list", url=emulator.url, app_key=HUB_VIEWER_APP_KEY)
    assert result.code == 5, result
    line = one_error_line_of(result)
    assert "lacks the org_connections_read permission" in line and OLDER in line
    assert "org_connections_write" not in line


def test_revoke_names_write_and_what_the_prompt_needs(emulator: EmulatorControl) -> None:
    conn = emulator.create(HUB.name, SPOKE_EU.id, ["logs"])
    # --yes: one DELETE, which needs write; read-only keys get a 403 naming write.
    result = run("revoke", conn["id"], "--yes", url=emulator.url, app_key=HUB_READER_APP_KEY)
    assert result.code == 5, result
    line = one_error_line_of(result)
    assert f"delete org connection {conn['id']}: HTTP 403" in line
    assert "lacks the org_connections_write permission" in line and "revoke needs" not in line
    # Without --yes the connection is looked up first: a 403 there names both permissions.
    result = run("revoke", conn["id"], url=emulator.url, app_key=HUB_VIEWER_APP_KEY, input="y\n")
    assert result.code == 5, result
    line = one_error_line_of(result)
    assert "lacks the org_connections_read permission" in line
    assert line.endswith(
        "; revoke needs org_connections_read to show the connection and org_connections_write to delete it"
    )
    assert [c["id"] for c in emulator.connections()] == [conn["id"]]  # nothing deleted


def test_help_names_the_current_permissions_first() -> None:
    out = run("--help", org=None).out
    flat = " ".join(out.split())
    assert (
        "org_connections_read for list, org_connections_write for orgs and revoke, and both for export"
        in flat
    )
    assert flat.index("org_connections_read") < flat.index("org_management")
    assert "5 forbidden: wrong keys, or the app key's user lacks the command's permission" in flat
    assert "lacks org_management" not in flat
    orgs_help = " ".join(run("orgs", "--help", org=None).out.split())
    assert "Needs org_connections_write (or org_management)" in orgs_help
    assert "a child org's keys list only the child itself" in orgs_help


# --------------------------------------------------------------------------------- org ids


@pytest.mark.parametrize("option", ["--sink-org-id", "--source-org-id"])
@pytest.mark.parametrize("value", ["hub", "a1b10002", "0badc0de" * 4 + "x"])
def test_list_filter_must_be_a_uuid(emulator: EmulatorControl, option: str, value: str) -> None:
    emulator.clear_requests()
    result = run("list", option, value, url=emulator.url)
    assert result.code == 2, result
    assert f"Invalid value for '{option}': expected an org UUID" in result.err
    assert value not in result.err and result.out == ""  # never echoed (it may be a pasted key)
    assert emulator.requests() == []  # refused before any call


def test_list_filter_accepts_any_uuid_spelling(emulator: EmulatorControl) -> None:
    conn = emulator.create(HUB.name, SPOKE_EU.id, ["logs"])
    result = run("list", "--json", "--sink-org-id", SPOKE_EU.id.upper(), url=emulator.url)
    assert result.code == 0, result
    assert [c["id"] for c in json.loads(result.out)] == [conn["id"]]
    sent = [r for r in emulator.requests() if r["path"] == "/api/v2/org_connections"]
    assert sent and all(SPOKE_EU.id in json.dumps(r["query"]) for r in sent)


# ---------------------------------------------------------------------------- API URL / keys


def test_host_without_scheme_on_a_plain_http_endpoint_is_one_clear_line(emulator: EmulatorControl) -> None:
    host = emulator.url.removeprefix("http://")
    for command in ("list", "orgs"):
        result = run(command, env={"DD_HOST": host})
        assert result.code == 3, result
        line = one_error_line_of(result)
        assert line.endswith(
            f"the API at {host} does not speak https (https:// was assumed because the API URL has "
            f"no scheme): for a plain-HTTP endpoint write http://{host}"
        ), line
        for noise in ("SSL", "HTTPSConnectionPool", "Max retries", "hint:"):
            assert noise not in line
    # Written as told, it works.
    assert run("list", env={"DD_HOST": f"http://{host}"}).code == 0


def test_missing_keys_name_environment_and_flags_not_pulumi() -> None:
    result = run("list", org=None, env={"DD_HOST": "http://127.0.0.1:9"})
    assert result.code == 3, result
    line = one_error_line_of(result)
    assert line.startswith(
        "error: no Datadog API key: set DD_API_KEY (or DATADOG_API_KEY), or pass --api-key; "
        "no Datadog application key: set DD_APP_KEY (or DATADOG_APP_KEY), or pass --app-key; hint:"
    ), line
    assert "pulumi" not in line and "datadog:apiKey" not in line
    result = run("--api-key", HUB.api_key, "orgs", org=None, env={"DD_HOST": "http://127.0.0.1:9"})
    line = one_error_line_of(result)
    assert "no Datadog application key" in line and "pass --app-key" in line and "API key:" not in line


# ------------------------------------------------------------------------------ current org


def test_orgs_marks_the_current_org_from_data_id_not_position() -> None:
    """The API lists the current org anywhere among the managed ones: `*` follows `data.id`."""
    current, first = SPOKE_US.id, HUB.id
    body = {
        "data": {
            "id": current,
            "type": "managed_orgs",
            "relationships": {
                "current_org": {"data": {"id": current, "type": "orgs"}},
                "managed_orgs": {"data": [{"id": first, "type": "orgs"}, {"id": current, "type": "orgs"}]},
            },
        },
        "included": [
            {"id": first, "type": "orgs", "attributes": {"name": "listed-first", "public_id": "p1"}},
            {"id": current, "type": "orgs", "attributes": {"name": "the-current", "public_id": "p2"}},
        ],
    }
    with FakeServer(handler=lambda req: Canned(200, body)) as server:
        result = run("orgs", url=server.url)
        assert result.code == 0, result
        assert [(r["CURRENT"], r["ID"], r["NAME"]) for r in table_rows(result.out)] == [
            ("*", current, "the-current"),
            ("", first, "listed-first"),
        ]
        assert [r.path for r in server.requests] == ["/api/v2/org"]


def test_child_keys_list_only_the_child(emulator: EmulatorControl) -> None:
    result = run("orgs", url=emulator.url, org=SPOKE_EU)
    assert result.code == 0, result
    assert [(r["CURRENT"], r["ID"]) for r in table_rows(result.out)] == [("*", SPOKE_EU.id)]
