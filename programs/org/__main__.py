"""A Datadog org as a stack.

- role `hub`: the org that receives logs and metrics. It exports its org id and name, which the
  spoke stacks read through a StackReference, and owns what consumes the shared data.
- role `spoke`: an org (a region, a business unit) that shares its data with the hub through one
  `OrgConnection`, declared with the spoke's own keys (`datadog:apiKey` / `datadog:appKey`).

Stack settings live in Pulumi.<stack>.yaml at the project root (Pulumi.demo-*.yaml: the demo's).
"""

import pulumi

from datadog_org_connections import OrgConnection

config = pulumi.Config()
role = config.require("role")

if role == "hub":
    # The hub's own infrastructure would sit here (dashboards, monitors over the spokes' data...).
    pulumi.export("org_id", config.require("orgId"))

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
    pulumi.export("source_org", to_hub.source_org_name)
    pulumi.export("sink_org", to_hub.sink_org_name)
    pulumi.export("connection_types", to_hub.connection_types)

    if config.get_bool("enableDatadogResources"):
        # Resources of the bridged Datadog provider, switched off by default: its plugin is a
        # download that offline machines (and the emulator demo) cannot make. A monitor in the hub
        # over this spoke's logs only works once the connection exists, hence `depends_on`.
        import pulumi_datadog as datadog

        hub_keys = pulumi.Config("hub")
        hub_provider = datadog.Provider(
            "hub",
            api_key=hub_keys.require_secret("apiKey"),
            app_key=hub_keys.require_secret("appKey"),
            api_url=pulumi.Config("datadog").get("apiUrl"),
        )
        datadog.Monitor(
            "spoke-errors",
            name=f"Errors in {pulumi.get_stack()}",
            type="log alert",
            query=f'logs("status:error org:{pulumi.get_stack()}").index("*").rollup("count").last("5m") > 100',
            message="Error burst in a spoke org, seen from the hub.",
            opts=pulumi.ResourceOptions(provider=hub_provider, depends_on=[to_hub]),
        )

else:
    raise ValueError(f"datadog-orgs:role must be 'hub' or 'spoke', not {role!r}")
