"""The no-op resources, for the benchmark program only (never imported by the provider process):
`NoopConnection`, `OrgConnection`'s inputs and outputs served by `NoopProvider`, and `NoopTopology`,
`OrgTopology`'s shape (the same component, edges, names and parents) with `NoopConnection`s.

Like `OrgConnection`, `NoopConnection` guards the SDK's provider serialization (sdk_pickler.py),
without which no program can declare more than about 960 dynamic resources.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi.dynamic import Resource

from datadog_org_connections.schema import OUTPUTS, OWNER_INPUT, SECRETS_INPUT
from datadog_org_connections.sdk_pickler import sdk_pickler_restored
from datadog_org_connections.topology import topology_edges
from noop_provider import NoopProvider


class NoopConnection(Resource, module="bench", name="NoopConnection"):
    """Same inputs and outputs as `OrgConnection` (from its schema), served by `NoopProvider`."""

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
            OWNER_INPUT: f"{pulumi.get_project()}/{pulumi.get_stack()}/{resource_name}",  # as OrgConnection
            SECRETS_INPUT: [],  # as OrgConnection records for inputs passed in clear
        }
        props.update(dict.fromkeys(OUTPUTS))
        with sdk_pickler_restored():
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
