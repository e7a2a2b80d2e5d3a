"""Run a Pulumi program under Pulumi's mocks and get every resource it registers, with its graph.

`run_under_mocks(program, ...)` runs the program in a child Python process (Pulumi's mocks are
process-wide) and returns one `Registration` per `RegisterResource` or `ReadResource` call (a
`StackReference` is a read): type, name, URN, the
provider reference, the dependencies the SDK sent the engine (`depends_on` plus every resource an
input came from) and the inputs. `OrgConnection` inputs are validated as `pulumi preview` would
(`datadog_org_connections.testing.OrgConnectionMocks`); other resources echo their inputs as outputs,
and a `StackReference` answers with the outputs given for its stack name. No engine, provider or
plugin runs, so packages such as `pulumi_datadog` work from a directory put on `extra_path` alone.

The child side: `python -m support.mock_program SPEC` (SPEC is the JSON `run_under_mocks` writes).
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parents[1]
STACK_REFERENCE = "pulumi:pulumi:StackReference"


@dataclass
class Registration:
    """One `RegisterResource` (or `ReadResource`) call of the program, as the engine would receive it."""

    type: str
    name: str
    urn: str
    id: str
    provider: str  # "<provider URN>::<provider id>", or "" for the default provider
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def provider_urn(self) -> str:
        """The URN part of `provider` ("" for the default provider)."""
        return self.provider.rsplit("::", 1)[0] if self.provider else ""


class Graph(list[Registration]):
    """The registrations of one run, with lookups by type and name."""

    def of_type(self, typ: str) -> list[Registration]:
        """Every registration of type `typ`, in registration order."""
        return [r for r in self if r.type == typ]

    def one(self, typ: str, name: str) -> Registration:
        """The single registration named `name` of type `typ`."""
        found = [r for r in self if r.type == typ and r.name == name]
        assert len(found) == 1, (
            f"{len(found)} registrations of {typ} {name!r}: {[(r.type, r.name) for r in self]}"
        )
        return found[0]


def run_under_mocks(
    program: Path,
    *,
    project: str,
    stack: str = "test",
    config: dict[str, Any] | None = None,
    secret_keys: list[str] | None = None,
    stack_outputs: dict[str, dict[str, Any]] | None = None,
    extra_path: list[Path] | None = None,
) -> Graph:
    """Run `program` (a directory with `__main__.py`, or a file) under mocks; its registrations.

    `config`: full keys (`project:key`, `datadog:apiKey`); non-string values are given as JSON, as
    the CLI does. `stack_outputs`: the outputs each referenced stack answers with.
    """
    spec = {
        "program": str(program),
        "project": project,
        "stack": stack,
        "config": {k: v if isinstance(v, str) else json.dumps(v) for k, v in (config or {}).items()},
        "secret_keys": secret_keys or [],
        "stack_outputs": stack_outputs or {},
    }
    path = [str(TESTS_DIR), *(str(p) for p in extra_path or []), os.environ.get("PYTHONPATH", "")]
    proc = subprocess.run(
        [sys.executable, "-m", "support.mock_program", json.dumps(spec)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if proc.returncode != 0:
        raise AssertionError(
            f"{program} failed under mocks\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return Graph(Registration(**r) for r in json.loads(proc.stdout.strip().splitlines()[-1]))


# --- the child process -------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """`value` as JSON data: secrets unwrapped, resources by URN, anything else by its repr."""
    import pulumi
    from pulumi.runtime import rpc

    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return _plain(value["value"])
        return {k: _plain(v) for k, v in value.items() if k != "__provider"}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, pulumi.Resource):
        return f"resource:{type(value).__name__}"
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def _child(spec: dict[str, Any]) -> list[dict[str, Any]]:
    import pulumi
    from pulumi.runtime.mocks import MockMonitor
    from pulumi.runtime.stack import wait_for_rpcs
    from pulumi.runtime.sync_await import _sync_await

    from datadog_org_connections.testing import OrgConnectionMocks

    inputs: dict[tuple[str, str], dict[str, Any]] = {}

    class Echo(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
            inputs[(args.typ, args.name)] = _plain(dict(args.inputs))
            if args.typ == STACK_REFERENCE:
                outputs = spec["stack_outputs"].get(args.inputs["name"])
                assert outputs is not None, f"no outputs given for the stack {args.inputs['name']!r}"
                return args.inputs["name"], {**args.inputs, "outputs": outputs, "secretOutputNames": []}
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
            return {}, None

    registrations: list[dict[str, Any]] = []

    class Recording(MockMonitor):  # type: ignore[misc]
        def RegisterResource(self, request: Any) -> Any:
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                registrations.append({
                    "type": request.type, "name": request.name, "urn": response.urn, "id": response.id,
                    "provider": request.provider, "dependencies": list(request.dependencies),
                    "property_dependencies": {k: list(v.urns) for k, v in request.propertyDependencies.items()},
                    "inputs": inputs.get((request.type, request.name), {}),
                })  # fmt: skip
            return response

        def ReadResource(self, request: Any) -> Any:  # `Resource.get`, and every StackReference
            response = super().ReadResource(request)
            registrations.append({
                "type": request.type, "name": request.name, "urn": response.urn, "id": request.id,
                "provider": request.provider, "dependencies": list(request.dependencies),
                "property_dependencies": {}, "inputs": inputs.get((request.type, request.name), {}),
            })  # fmt: skip
            return response

    mocks = OrgConnectionMocks(inner=Echo())
    pulumi.runtime.set_mocks(mocks, project=spec["project"], stack=spec["stack"], preview=False,
                             monitor=Recording(mocks))  # fmt: skip
    pulumi.runtime.set_all_config(spec["config"], spec["secret_keys"])
    runpy.run_path(spec["program"], run_name="__main__")
    _sync_await(wait_for_rpcs())
    return registrations


if __name__ == "__main__":
    print(json.dumps(_child(json.loads(sys.argv[1]))))
