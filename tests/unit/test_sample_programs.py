"""The sample programs' pulumi-datadog resources, under Pulumi's mocks: what exists, what it waits for, whose keys.

`datadog-orgs:enableDatadogResources=true` adds pulumi-datadog resources to programs/org/ (the hub's
dashboard, a spoke's monitor). Their provider plugin cannot be downloaded here, but under mocks no
plugin runs: each program runs in a child process (support.mock_program) with the pulumi_datadog SDK
of programs/requirements-datadog.txt on its path. That SDK is installed once, from the package index,
into a cache directory outside the virtualenv (beside the Pulumi CLI build): installed in the
virtualenv, it would make the real CLI want the pulumi-datadog plugin in every end-to-end test.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.mock_program import STACK_REFERENCE, Graph, run_under_mocks
from support.seed import HUB, SPOKE_EU, SPOKE_US

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "programs" / "org"
REQUIREMENTS = ROOT / "programs" / "requirements-datadog.txt"
CONNECTION = "pulumi-python:dynamic/datadog:OrgConnection"
PROVIDER = "pulumi:providers:datadog"
DASHBOARD = "datadog:index/dashboard:Dashboard"
MONITOR = "datadog:index/monitor:Monitor"
HUB_STACK = "organization/datadog-orgs/hub"
SPOKE_STACKS = {
    "organization/datadog-orgs/spoke-eu": SPOKE_EU,
    "organization/datadog-orgs/spoke-us": SPOKE_US,
}


def _pinned_requirement() -> str:
    (line,) = [
        s for s in (ln.strip() for ln in REQUIREMENTS.read_text().splitlines()) if s and not s.startswith("#")
    ]
    return line


@pytest.fixture(scope="session")
def pulumi_datadog_path() -> Path:
    """A directory holding the pinned pulumi_datadog SDK (installed once, then reused)."""
    requirement = _pinned_requirement()
    cache = Path(os.environ.get("DDOC_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                 / "datadog-org-connections")  # fmt: skip
    target = cache / requirement.replace("==", "-")
    if not (target / ".complete").exists():
        partial = cache / f".{target.name}.{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        # --no-deps: its dependencies (pulumi, semver, packaging) come from the test virtualenv.
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
             "--target", str(partial), requirement],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert proc.returncode == 0, (
            f"pip install {requirement} (from the package index) failed:\n{proc.stderr}"
        )
        (partial / ".complete").touch()
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    return target


def _run(stack: str, config: dict[str, object], secrets: list[str], extra: list[Path]) -> Graph:
    outputs = {HUB_STACK: {"org_id": HUB.id}}
    outputs |= {name: {"source_org_id": org.id, "source_org": org.name} for name, org in SPOKE_STACKS.items()}
    return run_under_mocks(
        PROGRAM, project="datadog-orgs", stack=stack, config=config, secret_keys=secrets,
        stack_outputs=outputs, extra_path=extra,
    )  # fmt: skip


def _spoke(datadog: bool, extra: list[Path]) -> Graph:
    config: dict[str, object] = {
        "datadog-orgs:role": "spoke",
        "datadog-orgs:hubStack": HUB_STACK,
        "datadog-orgs:connectionTypes": ["logs", "metrics"],
        "datadog:apiKey": SPOKE_EU.api_key,
        "datadog:appKey": SPOKE_EU.app_key,
    }
    if datadog:
        config |= {
            "datadog-orgs:enableDatadogResources": True,
            "hub:apiKey": HUB.api_key,
            "hub:appKey": HUB.app_key,
        }
    return _run("spoke-eu", config, ["datadog:apiKey", "datadog:appKey", "hub:apiKey", "hub:appKey"], extra)


def _hub(datadog: bool, extra: list[Path], spoke_stacks: list[str] | None = None) -> Graph:
    config: dict[str, object] = {"datadog-orgs:role": "hub", "datadog-orgs:orgId": HUB.id}
    if datadog:
        config |= {
            "datadog-orgs:enableDatadogResources": True,
            "datadog-orgs:spokeStacks": list(SPOKE_STACKS) if spoke_stacks is None else spoke_stacks,
            "datadog:apiKey": HUB.api_key,
            "datadog:appKey": HUB.app_key,
            "datadog:site": "datadoghq.eu",
        }
    return _run("hub", config, ["datadog:apiKey", "datadog:appKey"], extra)


def test_the_spoke_monitor_waits_for_the_connection_and_acts_as_the_hub(pulumi_datadog_path: Path) -> None:
    graph = _spoke(datadog=True, extra=[pulumi_datadog_path])
    connection = graph.one(CONNECTION, "to-hub")
    assert connection.inputs["sink_org_id"] == HUB.id
    provider = graph.one(PROVIDER, "hub")
    assert (provider.inputs["apiKey"], provider.inputs["appKey"]) == (HUB.api_key, HUB.app_key)

    monitor = graph.one(MONITOR, "spoke-errors")
    assert connection.urn in monitor.dependencies  # created after the connection, deleted before it
    assert monitor.provider_urn == provider.urn  # in the hub org, not with the spoke's keys
    assert monitor.inputs["type"] == "log alert" and "spoke-eu" in monitor.inputs["query"]
    assert sorted(r.type for r in graph) == sorted([STACK_REFERENCE, CONNECTION, PROVIDER, MONITOR])


def test_the_hub_dashboard_charts_what_each_spoke_shares(pulumi_datadog_path: Path) -> None:
    graph = _hub(datadog=True, extra=[pulumi_datadog_path])
    provider = graph.one(PROVIDER, "hub")
    assert provider.inputs == {
        "apiKey": HUB.api_key,
        "appKey": HUB.app_key,
        "apiUrl": "https://api.datadoghq.eu/",
    }

    dashboard = graph.one(DASHBOARD, "shared-data")
    assert dashboard.provider_urn == provider.urn
    # It reads each spoke's org from the spoke stack's outputs (written once its connection exists).
    references = {graph.one(STACK_REFERENCE, name).urn for name in SPOKE_STACKS}
    assert references <= set(dashboard.dependencies)
    assert set(dashboard.property_dependencies["widgets"]) == references
    queried = []
    for widget in dashboard.inputs["widgets"]:
        (request,) = widget["timeseriesDefinition"]["requests"]
        (query,) = request["queries"]
        kind, body = next(iter(query.items()))
        queried.append((kind, body.get("dataSource", "metrics"), body["crossOrgUuids"]))
    assert queried == [
        (kind, source, org.id)
        for org in SPOKE_STACKS.values()
        for kind, source in (("metricQuery", "metrics"), ("eventQuery", "logs"))
    ]
    assert graph.of_type(CONNECTION) == []  # the hub declares no connection of its own

    # Before any spoke stack exists (the first `up` of the hub), there is nothing to chart.
    first = _hub(datadog=True, extra=[pulumi_datadog_path], spoke_stacks=[])
    assert [r.type for r in first] == [PROVIDER]


def test_off_by_default_the_samples_need_no_pulumi_datadog() -> None:
    # The e2e suite relies on pulumi_datadog being absent from the test virtualenv (see module doc).
    assert importlib.util.find_spec("pulumi_datadog") is None
    spoke = _spoke(datadog=False, extra=[])
    assert sorted(r.type for r in spoke) == sorted([STACK_REFERENCE, CONNECTION])
    hub = _hub(datadog=False, extra=[])
    assert list(hub) == []
