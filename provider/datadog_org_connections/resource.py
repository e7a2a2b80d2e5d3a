"""`OrgConnection`: the Pulumi resource users declare in the stack of a source org.

from datadog_org_connections import OrgConnection

hub = pulumi.StackReference("organization/hub/prod")
OrgConnection("to-hub", sink_org_id=hub.get_output("org_id"), connection_types=["logs", "metrics"])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
from pulumi.dynamic import Resource

from .provider import OrgConnectionProvider


class OrgConnection(Resource, module="datadog", name="OrgConnection"):
    """A connection that shares a source org's data (logs, metrics, audit) with a sink org.

    The source org is the org whose keys the stack uses (`datadog:apiKey` / `datadog:appKey`), or the
    org alias named by `source_org` (keys under `orgConnections:orgs.<alias>` in stack config).
    Changing `sink_org_id` or `source_org` replaces the connection; changing `connection_types`
    updates it in place; reordering the types changes nothing.
    """

    sink_org_id: pulumi.Output[str]
    """UUID of the org that receives the data."""
    connection_types: pulumi.Output[list[str]]
    """The shared data, sorted: some of `audit`, `logs`, `metrics`."""
    source_org: pulumi.Output[str | None]
    """The org alias whose keys created the connection (None: the stack's own org)."""
    source_org_id: pulumi.Output[str]
    """UUID of the org that shares its data."""
    source_org_name: pulumi.Output[str]
    """Name of the source org."""
    sink_org_name: pulumi.Output[str]
    """Name of the sink org."""
    created_at: pulumi.Output[str]
    """When the connection was made (RFC 3339)."""
    created_by: pulumi.Output[str]
    """The user who made the connection (name, or id when the API gives no name)."""
    created_by_id: pulumi.Output[str]
    """UUID of the user who made the connection."""
    adopt_existing: pulumi.Output[bool | None]
    adopt_id: pulumi.Output[str | None]
    validate_sink: pulumi.Output[bool | None]

    def __init__(
        self,
        resource_name: str,
        *,
        sink_org_id: pulumi.Input[str],
        connection_types: pulumi.Input[Sequence[pulumi.Input[str]]],
        source_org: pulumi.Input[str] | None = None,
        adopt_existing: pulumi.Input[bool] | None = None,
        adopt_id: pulumi.Input[str] | None = None,
        validate_sink: pulumi.Input[bool] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Declare a connection from the source org to `sink_org_id`.

        :param resource_name: the Pulumi name of the resource.
        :param sink_org_id: UUID of the org receiving the data (`dd-org-connections orgs` lists them).
        :param connection_types: non-empty list of distinct types among `logs`, `metrics`, `audit`.
        :param source_org: alias of the source org, for stacks managing several orgs (keys in
            stack config `orgConnections:orgs.<alias>`). Default: the stack's own org.
        :param adopt_existing: when the pair already has a connection (made by hand, or by another
            tool), take it over instead of failing with a conflict; its types are set to the declared ones.
        :param adopt_id: take over exactly this existing connection (by id) instead of creating one;
            fails if it does not join these orgs. Upstream `import_` does not work for dynamic
            resources, so this is how to adopt (`dd-org-connections export` writes the code).
        :param validate_sink: check at preview that the sink is an org of the account (default True;
            set False for keys that cannot list the account's orgs).
        :param opts: the usual Pulumi resource options.
        """
        props: dict[str, Any] = {
            "sink_org_id": sink_org_id,
            "connection_types": connection_types,
            "source_org": source_org,
            "adopt_existing": adopt_existing,
            "adopt_id": adopt_id,
            "validate_sink": validate_sink,
            # Outputs, known after create.
            "source_org_id": None,
            "source_org_name": None,
            "sink_org_name": None,
            "created_at": None,
            "created_by": None,
            "created_by_id": None,
        }
        super().__init__(OrgConnectionProvider(), resource_name, props, opts)
