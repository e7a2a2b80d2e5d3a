"""pulumi-datadog resources beside the connections, for `datadog-orgs:enableDatadogResources=true`.

Imported only when that flag is on: it needs the `pulumi_datadog` package
(`pip install -r programs/requirements-datadog.txt`) and the pulumi-datadog provider plugin, which
the official `pulumi` CLI downloads on first use.

- The hub owns what consumes the shared data: a dashboard of each spoke's metrics and error logs,
  queried across orgs (`cross_org_uuids`, a Datadog preview feature). It reads each spoke's org id
  from the spoke stack's outputs, which exist once the spoke's connection does.
- A spoke adds a monitor in the hub org over its own logs, ordered after its connection
  (`depends_on`): the hub sees the spoke's data only once the connection exists. Datadog documents
  cross-org queries for dashboard and notebook widgets: check that your account's monitors read a
  connected org's data before relying on this one, and adapt its query to your logs' tags.

Both are made with the hub org's keys, through an explicit `datadog.Provider("hub")`.
"""

from __future__ import annotations

import pulumi
import pulumi_datadog as datadog

from datadog_org_connections import OrgConnection


def api_url() -> str | None:
    """The API URL of the stack's Datadog site: `datadog:apiUrl`, else `https://api.<datadog:site>/`."""
    config = pulumi.Config("datadog")
    site = config.get("site")
    return config.get("apiUrl") or (f"https://api.{site}/" if site else None)


def hub_provider(keys: pulumi.Config) -> datadog.Provider:
    """A pulumi-datadog provider acting as the hub org, with the `apiKey` / `appKey` of `keys`."""
    return datadog.Provider(
        "hub",
        api_key=keys.require_secret("apiKey"),
        app_key=keys.require_secret("appKey"),
        api_url=api_url(),
    )


def _spoke_widgets(spoke: pulumi.StackReference) -> list[datadog.DashboardWidgetArgsDict]:
    """A spoke's metrics and error logs, queried from the hub across orgs."""
    org_id = spoke.require_output("source_org_id")
    name = spoke.require_output("source_org")
    metrics: datadog.DashboardWidgetArgsDict = {
        "timeseries_definition": {
            "title": pulumi.Output.concat("CPU in ", name),
            "requests": [
                {
                    "queries": [
                        {
                            "metric_query": {
                                "name": "cpu",
                                "query": "avg:system.cpu.user{*}",
                                "cross_org_uuids": org_id,
                            }
                        }
                    ],
                    "formulas": [{"formula_expression": "cpu"}],
                }
            ],
        }
    }
    logs: datadog.DashboardWidgetArgsDict = {
        "timeseries_definition": {
            "title": pulumi.Output.concat("Error logs in ", name),
            "requests": [
                {
                    "queries": [
                        {
                            "event_query": {
                                "name": "errors",
                                "data_source": "logs",
                                "indexes": ["*"],
                                "search": {"query": "status:error"},
                                "computes": [{"aggregation": "count"}],
                                "cross_org_uuids": org_id,
                            }
                        }
                    ],
                    "formulas": [{"formula_expression": "errors"}],
                    "display_type": "bars",
                }
            ],
        }
    }
    return [metrics, logs]


def hub_dashboard(spoke_stacks: list[str], provider: datadog.Provider) -> datadog.Dashboard | None:
    """The hub's dashboard of what the spoke stacks named in `spoke_stacks` share (none: no dashboard)."""
    if not spoke_stacks:
        return None
    widgets = [w for stack in spoke_stacks for w in _spoke_widgets(pulumi.StackReference(stack))]
    return datadog.Dashboard(
        "shared-data",
        title="Data the spoke orgs share with the hub",
        layout_type="ordered",
        widgets=widgets,
        opts=pulumi.ResourceOptions(provider=provider),
    )


def spoke_monitor(connection: OrgConnection, provider: datadog.Provider) -> datadog.Monitor:
    """A monitor in the hub org over this spoke's error logs, created once `connection` exists."""
    stack = pulumi.get_stack()
    return datadog.Monitor(
        "spoke-errors",
        name=f"Errors in {stack}",
        type="log alert",
        query=f'logs("status:error org:{stack}").index("*").rollup("count").last("5m") > 100',
        message="Error burst in a spoke org, seen from the hub.",
        opts=pulumi.ResourceOptions(provider=provider, depends_on=[connection]),
    )
