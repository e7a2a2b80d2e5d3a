"""The engine's floor: a dynamic provider that does nothing, with the same resource shape as
`OrgConnection` (same inputs and outputs), so `pulumi up` with it costs only what the engine,
the language host and the dynamic provider host cost. `NoopTopology` is `OrgTopology` with
`NoopConnection`s: the same edges, names and parent component.

It lives in an importable module (benchmarks/ is on PYTHONPATH for the program and for the
provider process), so dill pickles it by reference, like `OrgConnectionProvider`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, ResourceProvider

from datadog_org_connections.topology import topology_edges

_OUTPUTS = ("source_org_id", "source_org_name", "sink_org_name", "created_at", "created_by", "created_by_id")


class NoopProvider(ResourceProvider):
    """create returns an id at once; read echoes the state; everything else is the SDK default."""

    serialize_as_secret_always = False  # like OrgConnectionProvider: compare like with like

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = dict(props)
        outs.update(
            source_org_id="00000000-0000-0000-0000-000000000000",
            source_org_name="source",
            sink_org_name="sink",
            created_at="2025-01-01T00:00:00.000000+00:00",
            created_by="admin",
            created_by_id="00000000-0000-0000-0000-000000000001",
        )
        return CreateResult(str(uuid.uuid4()), outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, props)


class NoopConnection(Resource, module="bench", name="NoopConnection"):
    """Same inputs as `OrgConnection`, served by `NoopProvider`."""

    def __init__(
        self,
        resource_name: str,
        *,
        sink_org_id: pulumi.Input[str],
        connection_types: pulumi.Input[list[str]],
        adopt_id: pulumi.Input[str] | None = None,
        source_org: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "sink_org_id": sink_org_id,
            "connection_types": connection_types,
            "source_org": source_org,
            "adopt_existing": None,
            "adopt_id": adopt_id,
            "validate_sink": None,
        }
        props.update(dict.fromkeys(_OUTPUTS))
        super().__init__(NoopProvider(), resource_name, props, opts)


class NoopTopology(pulumi.ComponentResource):
    """`OrgTopology`'s shape (component, edges, names, parents) with `NoopConnection`s."""

    def __init__(
        self,
        name: str,
        *,
        orgs: Mapping[str, str],
        connection_types: Sequence[str],
        mode: str = "hub-and-spoke",
        hub: str | None = None,
    ) -> None:
        super().__init__("bench:index:NoopTopology", name, None, None)
        self.connections: dict[str, NoopConnection] = {}
        for source, sink in topology_edges(list(orgs), mode, hub):
            key = f"{source}-to-{sink}"
            self.connections[key] = NoopConnection(
                f"{name}-{key}",
                source_org=source,
                sink_org_id=orgs[sink],
                connection_types=list(connection_types),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({key: conn.id for key, conn in self.connections.items()})
