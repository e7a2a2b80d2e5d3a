"""Unit tests of a Pulumi program with mocks that validate OrgConnection inputs like `pulumi preview`.

Run with `pytest docs/examples/mocks/test_connections.py`. The program is imported after the mocks are
set; `OrgConnectionMocks` refuses what the provider's `check` would refuse, so a bad program fails here.
"""

import importlib
import sys

import pulumi
import pytest

from datadog_org_connections.testing import InvalidOrgConnection, OrgConnectionMocks


def run_program(config: dict[str, str]) -> object:
    """Set the mocks and the stack config, then (re)import the program; returns the module."""
    pulumi.runtime.set_mocks(OrgConnectionMocks(), project="spoke", stack="test", preview=False)
    pulumi.runtime.set_all_config(config)
    sys.modules.pop("connections", None)
    return importlib.import_module("connections")


@pulumi.runtime.test
def test_types_are_normalised_like_the_provider_does():
    program = run_program({})

    def check(outputs: list) -> None:
        types, sink = outputs
        assert types == ["logs", "metrics"]
        assert sink == "a1b10001-7f97-11f0-8de1-1ecf66f1aa85"

    return pulumi.Output.all(program.to_hub.connection_types, program.to_hub.sink_org_id).apply(check)


@pytest.mark.parametrize(
    ("types", "reason"),
    [('["logs", "logs"]', "connection_types repeats"), ('["logz"]', "unknown value")],
)
def test_a_bad_program_fails_like_pulumi_preview_would(types: str, reason: str):
    @pulumi.runtime.test
    def deploy():
        program = run_program({"spoke:connectionTypes": types})
        return program.to_hub.id.apply(lambda _: None)

    with pytest.raises(InvalidOrgConnection, match=reason):
        deploy()
