"""A Datadog org as a stack.

- role `hub`: the org that receives logs and metrics. It exports its org id, which the spoke stacks
  read through a StackReference, and owns what consumes the shared data.
- role `spoke`: an org (a region, a business unit) that shares its data with the hub through one
  `OrgConnection`, declared with the spoke's own keys (`datadog:apiKey` / `datadog:appKey`).

With `datadog-orgs:enableDatadogResources=true` both also deploy pulumi-datadog resources
(datadog_resources.py: the hub's dashboard, a spoke's monitor); off by default, since they need the
pulumi-datadog provider plugin.

Stack settings live in Pulumi.<stack>.yaml at the project root (Pulumi.demo-*.yaml: the demo's).
"""

import pulumi

from datadog_org_connections import OrgConnection

config = pulumi.Config()
role = config.require("role")
with_datadog = config.get_bool("enableDatadogResources") or False

if role == "hub":
    pulumi.export("org_id", config.require("orgId"))
    if with_datadog:
        import datadog_resources as dd

        # The hub's own keys (datadog:apiKey / appKey); the spoke stacks to chart, once deployed.
        provider = dd.hub_provider(pulumi.Config("datadog"))
        dd.hub_dashboard(config.get_object("spokeStacks") or [], provider)

elif role == "spoke":
    hub = pulumi.StackReference(config.require("hubStack"))
    to_hub = OrgConnection(
        "to-hub",
        sink_org_id=hub.require_output("org_id"),
        connection_types=config.require_object("connectionTypes"),
        # Take over a connection made by hand in the UI instead of failing on the conflict.
        adopt_existing=config.get_bool("adoptExisting") or None,
    )
    pulumi.export("connection_id", to_hub.id)
    pulumi.export("source_org_id", to_hub.source_org_id)
    pulumi.export("source_org", to_hub.source_org_name)
    pulumi.export("sink_org", to_hub.sink_org_name)
    pulumi.export("connection_types", to_hub.connection_types)
    if with_datadog:
        import datadog_resources as dd

        # The hub org's keys, in this stack's config as hub:apiKey / hub:appKey (secrets).
        dd.spoke_monitor(to_hub, dd.hub_provider(pulumi.Config("hub")))

else:
    raise ValueError(f"datadog-orgs:role must be 'hub' or 'spoke', not {role!r}")
