"""`datadog_org_connections.testing`: Pulumi mocks that validate OrgConnection inputs like the provider.

The documented example (docs/examples/mocks/) runs as a user would run it, in its own pytest process
(Pulumi's mocks are process-wide), and plain mocks are shown to let the same bad program through.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "mocks"


def _pytest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=EXAMPLE, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_documented_example_passes() -> None:
    proc = _pytest("test_connections.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout


PLAIN_MOCKS = """
import importlib, sys
import pulumi

class Echo(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return args.name + "-id", dict(args.inputs)
    def call(self, args):
        return {}, None

@pulumi.runtime.test
def test_plain_mocks_let_a_bad_program_through():
    pulumi.runtime.set_mocks(Echo(), project="spoke", stack="test", preview=False)
    pulumi.runtime.set_all_config({"spoke:connectionTypes": '["logz", "logz"]'})
    program = importlib.import_module("connections")
    return program.to_hub.connection_types.apply(lambda t: None)
"""


def test_without_the_helper_the_same_bad_program_passes(tmp_path: Path) -> None:
    test = tmp_path / "test_plain.py"
    test.write_text(PLAIN_MOCKS)
    proc = _pytest(str(test), "--rootdir", str(EXAMPLE))
    assert proc.returncode == 0, proc.stdout + proc.stderr  # why the helper exists
