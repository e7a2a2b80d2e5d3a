"""Unit-test Pulumi programs that declare `OrgConnection`s: Pulumi mocks that validate like the provider.

Under `pulumi.runtime.set_mocks` no provider runs, so `check` never sees the inputs and an invalid
program passes. Wrap your mocks (or use these alone) to validate and normalise every `OrgConnection`'s
inputs exactly as the provider's `check` does, offline::

    import pulumi
    from datadog_org_connections.testing import OrgConnectionMocks

    pulumi.runtime.set_mocks(OrgConnectionMocks(), preview=False)

    @pulumi.runtime.test
    def test_connections():
        import my_program  # noqa: F401  (raises InvalidOrgConnection for a bad input)

A resource with bad inputs makes `new_resource` raise :class:`InvalidOrgConnection`, naming the
resource, the property and the reason; the test fails with it. What only the API can judge (does
the sink org exist?) is not checked. `source_org` aliases are checked against stack config
`orgConnections:orgs` only when the test sets it (`pulumi.runtime.set_all_config`), since unit tests
rarely carry keys.
"""

from __future__ import annotations

import copy
from typing import Any

import pulumi

from .schema import OUTPUTS, check_inputs
from .stack_config import ORGS_KEY, StackConfig

__all__ = ["ORG_CONNECTION_TYPE", "InvalidOrgConnection", "OrgConnectionMocks"]

#: The engine's type token of `OrgConnection` (a Python dynamic resource).
ORG_CONNECTION_TYPE = "pulumi-python:dynamic/datadog:OrgConnection"


class InvalidOrgConnection(ValueError):
    """An `OrgConnection` whose inputs the provider's `check` would refuse at `pulumi preview`."""


class _AnyAlias(StackConfig):
    """Stack config for tests that declare no `orgConnections:orgs`: every alias is accepted."""

    def has_alias(self, alias: str) -> bool:
        return True


def _stack_config() -> StackConfig:
    orgs = pulumi.Config("orgConnections").get("orgs")
    return StackConfig({ORGS_KEY: orgs}) if orgs else _AnyAlias()


class OrgConnectionMocks(pulumi.runtime.Mocks):
    """Mocks that validate `OrgConnection` inputs as `check` does, then defer to ``inner`` (if given).

    Outputs of a valid `OrgConnection` are its normalised inputs (sorted types, lower-case ids), plus
    what ``inner`` returns; the API-given outputs (`source_org_id`, names, ...) are ``None`` unless
    ``inner`` sets them.
    """

    def __init__(self, inner: pulumi.runtime.Mocks | None = None) -> None:
        self.inner = inner

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        """Validate an `OrgConnection`; every resource then goes to ``inner`` (default: echo the inputs)."""
        inputs = dict(args.inputs)
        if args.typ == ORG_CONNECTION_TYPE:
            inputs = self._validated(args.name, inputs)
        if self.inner is not None:
            forwarded = copy.copy(args)  # every field the installed SDK has, with the normalised inputs
            forwarded.inputs = inputs
            resource_id, outputs = self.inner.new_resource(forwarded)
            return resource_id, {**inputs, **outputs}
        return f"{args.name}-id", inputs

    @staticmethod
    def _validated(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        normalised, failures = check_inputs(inputs, _stack_config())
        if failures:
            reasons = "; ".join(f.reason for f in failures)
            raise InvalidOrgConnection(f"OrgConnection {name!r}: {reasons}")
        return {**{key: None for key in OUTPUTS}, **inputs, **normalised}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        """Function calls go to ``inner``; without it they return nothing."""
        if self.inner is not None:
            return self.inner.call(args)
        return {}, None
