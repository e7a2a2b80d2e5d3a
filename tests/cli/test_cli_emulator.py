"""`dd-org-connections emulator`: the emulator in the foreground, driven by the other commands."""

from __future__ import annotations

import json
import re
import select
import signal
import subprocess
from pathlib import Path

from cli_helpers import EXE, base_env, run

from support.seed import HUB, SPOKE_EU


def test_emulator_subcommand_serves_until_sigterm(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    proc = subprocess.Popen(
        [EXE, "emulator", "--port", "0", "--quiet", "--state", str(state), "--rate-limit", "100/1"],
        env=base_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 15)
        assert ready, "the emulator printed nothing within 15 s"
        line = proc.stdout.readline().strip()
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:(\d+))", line)
        assert match and int(match.group(2)) > 0, line
        url = match.group(1)
        assert run("orgs", url=url).code == 0
        listed = run("list", "--json", url=url, org=SPOKE_EU)
        assert (listed.code, json.loads(listed.out)) == (0, [])
        assert run("list", url=url, org=HUB).out == "no connections\n"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert json.loads(state.read_text())["connections"] == []


def test_emulator_subcommand_rejects_bad_options() -> None:
    result = run("emulator", "--rate-limit", "fast", org=None)
    assert result.code == 2 and "--rate-limit" in result.err, result
    result = run("emulator", "--port", "0", "--seed", "/nonexistent/seed.json", org=None)
    assert result.code == 2 and "seed" in result.err, result
