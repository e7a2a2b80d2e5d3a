"""Run a Pulumi Python program under Pulumi's mocks and print the resources it registers as JSON.

Usage: ``python pulumi_mock_run.py PROGRAM.py``. It runs in its own process because the mocks
are global to the Pulumi runtime. The OrgConnection resources really are constructed (their
inputs go through Pulumi's serialization), but no engine and no provider run.
"""

from __future__ import annotations

import json
import runpy
import sys
from typing import Any

import pulumi
from pulumi.runtime.stack import wait_for_rpcs
from pulumi.runtime.sync_await import _sync_await


class Recorder(pulumi.runtime.Mocks):
    """Records every registered resource."""

    def __init__(self) -> None:
        self.resources: list[dict[str, Any]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = {k: v for k, v in args.inputs.items() if k != "__provider"}
        self.resources.append({"type": args.typ, "name": args.name, "inputs": inputs})
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


def main(path: str) -> None:
    """Run the program at ``path`` and print what it registered."""
    recorder = Recorder()
    pulumi.runtime.set_mocks(recorder, project="export-test", stack="dev", preview=False)
    runpy.run_path(path, run_name="__main__")
    _sync_await(wait_for_rpcs())
    print(json.dumps(recorder.resources))


if __name__ == "__main__":
    main(sys.argv[1])
