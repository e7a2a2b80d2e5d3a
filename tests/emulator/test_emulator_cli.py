"""Persistence with a state file, and the ``python -m datadog_org_connections.emulator`` command line."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from emulator_helpers import CONNECTIONS, HUB, SPOKE_EU, SPOKE_US, Api

from datadog_org_connections.emulator import Emulator, SeedError

LISTENING = re.compile(r"^listening on http://127\.0\.0\.1:(\d+)$")


def test_state_file_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "sub" / "state.json"
    with Emulator.start(state_path=state) as emu:
        created = Api(emu.url, HUB).create(SPOKE_EU, ["logs", "audit"]).json()["data"]
        kept = Api(emu.url, HUB).create(SPOKE_US).json()["data"]
        Api(emu.url, HUB).delete(kept["id"])
    saved = json.loads(state.read_text())
    assert [c["id"] for c in saved["connections"]] == [created["id"]]
    for secret in (HUB.api_key, HUB.app_key):
        assert secret not in state.read_text()
    assert not [p for p in state.parent.iterdir() if p.name.endswith(".tmp")]  # no temp file left
    with Emulator.start(state_path=state) as emu:
        assert Api(emu.url, HUB).list().json()["data"] == [created]
        assert Api(emu.url, HUB).create(SPOKE_EU).status_code == 409
        # reset goes back to the seed and saves that.
        requests.post(emu.url + "/_emulator/reset", timeout=5)
    assert json.loads(state.read_text())["connections"] == []


def test_state_file_with_an_unknown_org_is_rejected(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    record = {
        "id": "7e9d4a43-4224-4bdd-8e14-66037db578b1",
        "source_org_id": HUB.id,
        "sink_org_id": "00000000-7f97-11f0-8de1-1ecf66f1aa85",
        "connection_types": ["logs"],
        "created_at": "2025-08-25T18:13:19.375125+00:00",
        "created_by_user_id": None,
    }
    state.write_text(json.dumps({"version": 1, "connections": [record]}))
    with pytest.raises(SeedError, match="sink_org_id"):
        Emulator(state_path=state)
    state.write_text("{broken")
    with pytest.raises(SeedError, match="cannot read state file"):
        Emulator(state_path=state)


@contextmanager
def run_cli(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start the CLI, wait for its listening line, yield (process, url), stop it with SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, "-m", "datadog_org_connections.emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().rstrip("\n")
        match = LISTENING.match(line)
        assert match, (
            f"unexpected first line {line!r}; stderr: {process.stderr.read() if process.stderr else ''}"
        )
        yield process, f"http://127.0.0.1:{match.group(1)}"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_cli_serves_logs_without_keys_and_stops_on_sigterm(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with run_cli("--state", str(state), "--rate-limit", "100/60") as (process, url):
        response = requests.post(
            url + CONNECTIONS,
            params={"api_key": HUB.api_key, "application_key": HUB.app_key},
            json={
                "data": {
                    "type": "org_connection",
                    "attributes": {"connection_types": ["logs"]},
                    "relationships": {"sink_org": {"data": {"type": "orgs", "id": SPOKE_EU.id}}},
                }
            },
            timeout=5,
        )
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "100"
        created = response.json()["data"]
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
        assert time.monotonic() - started < 5
    assert process.returncode == 0
    assert out == ""  # the listening line was the only stdout line
    assert "POST /api/v2/org_connections 200" in err
    assert HUB.api_key not in err and HUB.app_key not in err
    # Restart on the same state file: the connection is still there.
    with run_cli("--state", str(state), "--quiet") as (process, url):
        listing = requests.get(url + CONNECTIONS, headers=HUB.headers(), timeout=5).json()["data"]
        assert listing == [created]
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert err == ""


def test_cli_latency_and_custom_seed(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"accounts": [{"name": "a", "orgs": [{"name": "solo", "api_keys": ["k"]}]}]}))
    with run_cli("--seed", str(seed), "--latency-ms", "150", "--quiet") as (_, url):
        started = time.monotonic()
        assert requests.get(url + "/api/v1/org", timeout=5).status_code == 403
        assert time.monotonic() - started >= 0.15
        orgs = requests.get(url + "/_emulator/state", timeout=5).json()["accounts"][0]["orgs"]
        assert [o["name"] for o in orgs] == ["solo"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "/nonexistent/seed.json"], "cannot read seed file"),
        (["--rate-limit", "lots"], "LIMIT/PERIOD"),
        (["--latency-ms", "-5"], "negative"),
    ],
)
def test_cli_rejects_bad_arguments(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "datadog_org_connections.emulator", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert message in result.stderr
