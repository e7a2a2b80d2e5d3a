"""A program may declare more than a thousand `OrgConnection`s (a 32-org mesh is 992).

The Pulumi SDK's `serialize_provider` leaves one more wrapper around `pickle._Pickler._batch_setitems`
at every call, so without `sdk_pickler_restored` the ~960th dynamic resource of a program fails
with RecursionError. Mocks are process-wide, so the program runs in a process of its own.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

from pulumi.dynamic.dynamic import serialize_provider

from datadog_org_connections.provider import OrgConnectionProvider
from datadog_org_connections.sdk_pickler import sdk_pickler_restored

PROGRAM = """
import pulumi

class Echo(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return args.name + "-id", dict(args.inputs)
    def call(self, args):
        return {}, None

pulumi.runtime.set_mocks(Echo(), project="mesh", stack="test", preview=False)
from datadog_org_connections import OrgConnection

@pulumi.runtime.test
def declare():
    conns = [
        OrgConnection(f"c{i}", sink_org_id="83999dcd-7f97-11f0-8de1-1ecf66f1aa85", connection_types=["logs"])
        for i in range(1200)
    ]
    return pulumi.Output.all(*[c.id for c in conns]).apply(lambda ids: print(len(set(ids)), "resources"))

declare()
"""


def test_a_program_declares_1200_connections(tmp_path: Path) -> None:
    program = tmp_path / "program.py"
    program.write_text(textwrap.dedent(PROGRAM))
    proc = subprocess.run([sys.executable, str(program)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "1200 resources" in proc.stdout


def test_the_guard_puts_the_pickler_back_and_keeps_the_bytes() -> None:
    before = {name: pickle._Pickler.__dict__[name] for name in ("_batch_setitems", "save_dict")}
    provider = OrgConnectionProvider()
    with sdk_pickler_restored():
        first = serialize_provider(provider)
    for _ in range(1500):  # past the recursion limit, had the wrappers piled up
        with sdk_pickler_restored():
            assert serialize_provider(provider) == first
    assert {name: pickle._Pickler.__dict__[name] for name in before} == before
