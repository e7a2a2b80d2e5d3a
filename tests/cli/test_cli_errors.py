"""Exit codes and error lines: one `error: ...` line on stderr, never a key, never a traceback.

(`run` itself checks every output of every test for keys and tracebacks.)
"""

from __future__ import annotations

import pytest
from cli_helpers import FAKE_API_KEY, FAKE_APP_KEY, closed_port_url, run

from support.emulator_control import EmulatorControl
from support.seed import HUB, HUB_VIEWER_APP_KEY

COMMANDS = [("list",), ("orgs",), ("export",), ("revoke", "7e9d4a43-4224-4bdd-8e14-66037db578b1", "--yes")]


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_missing_keys_exit_3(args: tuple[str, ...]) -> None:
    result = run(*args, org=None, env={"DD_HOST": "http://127.0.0.1:9"})
    assert result.code == 3, result
    line = one_error_line(result.err)
    assert "DD_API_KEY" in line and "DD_APP_KEY" in line and "hint:" in line


def test_one_missing_key_and_aliases() -> None:
    result = run("list", org=None, env={"DATADOG_API_KEY": HUB.api_key, "DD_HOST": "http://127.0.0.1:9"})
    assert result.code == 3, result
    line = one_error_line(result.err)
    assert "application key" in line and "no Datadog API key" not in line


def test_unknown_site_and_bad_url_exit_3() -> None:
    result = run("list", env={"DD_SITE": "datadoghq.moon"})
    assert result.code == 3, result
    line = one_error_line(result.err)
    assert "datadoghq.moon" in line and "datadoghq.eu" in line
    assert run("--site", "nowhere.example", "orgs").code == 3
    result = run("--api-url", "ftp://127.0.0.1:9", "orgs")
    assert result.code == 3 and "scheme" in one_error_line(result.err), result


def test_bad_keys_exit_5(emulator: EmulatorControl) -> None:
    result = run("list", url=emulator.url, env={"DD_API_KEY": FAKE_API_KEY, "DD_APP_KEY": FAKE_APP_KEY})
    assert result.code == 5, result
    assert "403" in one_error_line(result.err) and "org_management" in result.err
    # Keys given as flags win over the environment, and are not printed either.
    result = run("--api-key", FAKE_API_KEY, "--app-key", HUB.app_key, "orgs", url=emulator.url)
    assert result.code == 5, result


def test_viewer_without_org_management_exit_5(emulator: EmulatorControl) -> None:
    result = run("list", url=emulator.url, app_key=HUB_VIEWER_APP_KEY)
    assert result.code == 5, result
    assert "org_management" in one_error_line(result.err)
    result = run(
        "revoke",
        "7e9d4a43-4224-4bdd-8e14-66037db578b1",
        "--yes",
        url=emulator.url,
        app_key=HUB_VIEWER_APP_KEY,
    )
    assert result.code == 5, result


def test_unreachable_api_exit_1() -> None:
    url = closed_port_url()
    result = run("--max-attempts", "1", "list", url=url)
    assert result.code == 1, result
    line = one_error_line(result.err)
    assert "connection refused" in line and url in line


def test_server_errors_exit_1(emulator: EmulatorControl) -> None:
    emulator.faults(kinds=["server_error"], path="/api/v2/org_connections")
    result = run("--max-attempts", "2", "--timeout", "5", "export", url=emulator.url)
    assert result.code == 1, result
    assert "gave up after 2 attempts" in one_error_line(result.err)


def test_usage_errors_exit_2() -> None:
    assert run("no-such-command", org=None).code == 2
    assert run("list", "--bogus", org=None).code == 2
    assert run("revoke", org=None).code == 2
    assert run("--max-attempts", "0", "list", org=None).code == 2
