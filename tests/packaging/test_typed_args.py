"""`OrgConnectionArgs` / `OrgConnectionArgsDict`: the forms of generated Pulumi SDKs, checked by mypy and at run time.

A sample program uses every accepted form; it must pass `mypy --strict`, and under Pulumi's mocks every
form must register the same inputs. A second sample makes typing mistakes that mypy must report, line
by line. The mistakes mypy cannot see (both forms at once, neither) are TypeErrors that say what to do.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from datadog_org_connections import OrgConnection, OrgConnectionArgs

ROOT = Path(__file__).resolve().parents[2]
MOCK_RUNNER = ROOT / "tests/cli/pulumi_mock_run.py"
SINK = "a1b10001-7f97-11f0-8de1-1ecf66f1aa85"

GOOD = f'''
import pulumi
from datadog_org_connections import OrgConnection, OrgConnectionArgs, OrgConnectionArgsDict

SINK = "{SINK}"
opts = pulumi.ResourceOptions(protect=False)
args = OrgConnectionArgs(sink_org_id=SINK, connection_types=["logs", "metrics"], validate_sink=False)
as_dict: OrgConnectionArgsDict = {{
    "sink_org_id": SINK,
    "connection_types": ["logs", "metrics"],
    "validate_sink": False,
}}

OrgConnection("args", args)
OrgConnection("args-opts", args, opts)
OrgConnection("args-keyword", args=args, opts=opts)
OrgConnection("dict", as_dict, opts)
OrgConnection("unpacked", **as_dict)
OrgConnection("kwargs", sink_org_id=SINK, connection_types=["logs", "metrics"], validate_sink=False)
OrgConnection(
    "kwargs-opts",
    opts,
    sink_org_id=pulumi.Output.from_input(SINK),
    connection_types=["logs", pulumi.Output.from_input("metrics")],
    validate_sink=False,
)
existing = OrgConnection.get("existing", "9ba327fe-9946-4860-ba9f-d0761b7cbab2", source_org="hub")
types: pulumi.Output[list[str]] = existing.connection_types
'''

# Each line marked `# E` must be reported by mypy, and no other.
BAD = f'''
import pulumi
from datadog_org_connections import OrgConnection, OrgConnectionArgs, OrgConnectionArgsDict

SINK = "{SINK}"
OrgConnection("a", sink_org_id=5, connection_types=["logs"])  # E
OrgConnectionArgs(sink_org_id=SINK)  # E
OrgConnection("b", OrgConnectionArgs(sink_org_id=SINK, connection_types=["logs"]), sink_org_id=SINK)  # E
bad: OrgConnectionArgsDict = {{"sink_org": SINK, "connection_types": ["logs"]}}  # E
OrgConnection("c", connection_types=["logs"])  # E
OrgConnection("d", sink_org_id=SINK, connection_types=["logs"], adopt_existing="yes")  # E
wrong: pulumi.Output[int] = OrgConnection.get("e", "id").sink_org_id  # E
OrgConnection("f", pulumi.ResourceOptions(), OrgConnectionArgs(sink_org_id=SINK, connection_types=["logs"]))  # E
'''


def _mypy(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--show-error-codes",
         "--cache-dir", str(ROOT / ".mypy_cache"), str(path)],
        cwd=path.parent, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_every_accepted_form_type_checks_under_mypy_strict(tmp_path: Path) -> None:
    sample = tmp_path / "good.py"
    sample.write_text(GOOD)
    proc = _mypy(sample)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_reports_each_typing_mistake(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text(BAD)
    proc = _mypy(sample)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    expected = {n for n, line in enumerate(BAD.splitlines(), start=1) if line.endswith("# E")}
    reported = {int(m) for m in re.findall(r"^bad\.py:(\d+): error", proc.stdout, re.M)}
    assert reported == expected, proc.stdout


def test_every_form_registers_the_same_inputs(tmp_path: Path) -> None:
    sample = tmp_path / "good.py"
    sample.write_text(GOOD)
    proc = subprocess.run(
        [sys.executable, str(MOCK_RUNNER), str(sample)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    registered = {r["name"]: r for r in json.loads(proc.stdout.strip().splitlines()[-1])}
    declared = {k: v for k, v in registered.items() if k != "existing"}
    assert set(declared) == {"args", "args-opts", "args-keyword", "dict", "unpacked", "kwargs", "kwargs-opts"}
    expected = {
        "sink_org_id": SINK,
        "connection_types": ["logs", "metrics"],
        "validate_sink": False,
    }
    for name, resource in declared.items():
        assert resource["type"] == "pulumi-python:dynamic/datadog:OrgConnection", name
        given = {k: v for k, v in resource["inputs"].items() if v is not None}
        assert given.pop("__owner") == f"export-test/dev/{name}"  # set by OrgConnection itself
        assert given.pop("__secrets") == []  # no input passed as a secret
        assert given == expected, name
    assert registered["existing"]["inputs"].get("source_org") == "hub"


def _args(**overrides: Any) -> OrgConnectionArgs:
    return OrgConnectionArgs(**{"sink_org_id": SINK, "connection_types": ["logs"], **overrides})


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: OrgConnection("x", _args(), sink_org_id=SINK), "either as args (OrgConnectionArgs) or as keyword"),
        (lambda: OrgConnection("x", args=_args(), connection_types=["logs"]), "not both"),
        (lambda: OrgConnection("x"), "missing required input(s) sink_org_id, connection_types"),
        (lambda: OrgConnection("x", connection_types=["logs"]), "missing required input(s) sink_org_id:"),
        (lambda: OrgConnection("x", {"sink_org_id": SINK}), "missing required input(s) connection_types"),
        (lambda: OrgConnection("x", sink_org_id=SINK, connection_types=["logs"], sink="y"), "unexpected keyword"),
        (lambda: OrgConnection("x", {"sink_org_id": SINK, "connection_types": ["logs"], "type": "x"}), "type"),
        (lambda: OrgConnection("x", SINK, ["logs"]), "give the inputs as keyword arguments"),
        (lambda: OrgConnection("x", _args(), opts=1), "opts must be a pulumi.ResourceOptions, got int"),
        (lambda: OrgConnection("x", args="nope"), "args must be an OrgConnectionArgs"),
    ],
)  # fmt: skip
def test_wrong_calls_are_type_errors_that_say_what_to_pass(call: Any, message: str) -> None:
    with pytest.raises(TypeError) as info:
        call()
    assert message in str(info.value)
    assert "OrgConnection('x')" in str(info.value)
