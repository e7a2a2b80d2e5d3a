"""Pure logic: topology edges and the stack configuration reader (no network)."""

from __future__ import annotations

import pytest

from datadog_org_connections.errors import ConfigurationError
from datadog_org_connections.stack_config import StackConfig
from datadog_org_connections.topology import topology_edges


def test_hub_and_spoke_edges_point_at_the_hub() -> None:
    assert topology_edges(["spoke-b", "hub", "spoke-a"], "hub-and-spoke", "hub") == [
        ("spoke-a", "hub"),
        ("spoke-b", "hub"),
    ]


def test_mesh_is_every_ordered_pair() -> None:
    edges = topology_edges(["a", "b", "c"], "mesh")
    assert len(edges) == 6 and ("a", "b") in edges and ("b", "a") in edges
    assert all(s != t for s, t in edges)


def test_adding_an_org_keeps_every_existing_edge() -> None:
    before = set(topology_edges(["hub", "a", "b"], "hub-and-spoke", "hub"))
    after = set(topology_edges(["hub", "a", "b", "c"], "hub-and-spoke", "hub"))
    assert before < after and after - before == {("c", "hub")}


@pytest.mark.parametrize(
    ("aliases", "mode", "hub", "words"),
    [
        (["a"], "star", None, "mode"),
        (["a", "b"], "hub-and-spoke", None, "needs hub"),
        (["a", "b"], "hub-and-spoke", "c", "not one of"),
        (["a", "a"], "mesh", None, "repeated"),
        (["a", "b"], "mesh", "a", "no meaning in mode 'mesh'"),
    ],
)
def test_topology_errors(aliases: list[str], mode: str, hub: str | None, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        topology_edges(aliases, mode, hub)


def test_two_aliases_of_one_org_are_refused() -> None:
    from datadog_org_connections.topology import OrgTopology

    uuid = "a1b10001-7f97-11f0-8de1-1ecf66f1aa85"
    with pytest.raises(ValueError, match="maps 'a' and 'b' to the same org"):
        OrgTopology(
            "t", orgs={"a": uuid, "b": uuid.upper(), "c": "x"}, mode="mesh", connection_types=["logs"]
        )


def test_an_unknown_alias_suggests_the_closest_declared_one() -> None:
    config = StackConfig({"orgConnections:orgs": '{"spoke-eu": {"apiKey": "k", "appKey": "a"}}'}, env={})
    with pytest.raises(ConfigurationError, match="did you mean 'spoke-eu'"):
        config.credentials("spoke-ue")


def test_stack_config_prefers_config_then_env() -> None:
    env = {"DD_API_KEY": "envapi", "DD_APP_KEY": "envapp", "DD_SITE": "datadoghq.eu"}
    assert StackConfig({}, env=env).credentials().base_url == "https://api.datadoghq.eu"
    creds = StackConfig({"datadog:apiKey": "cfgapi", "datadog:appKey": "cfgapp"}, env=env).credentials()
    assert (creds.api_key, creds.app_key) == ("cfgapi", "cfgapp")


def test_aliases_share_the_stacks_url_unless_they_have_their_own() -> None:
    raw = {
        "datadog:apiUrl": "http://127.0.0.1:9999",
        "orgConnections:orgs": '{"a": {"apiKey": "k1", "appKey": "p1"}, "b": {"apiKey": "k2", "appKey": "p2", "site": "datadoghq.eu"}}',
    }
    config = StackConfig(raw, env={})
    assert config.aliases == ["a", "b"]
    assert config.credentials("a").base_url == "http://127.0.0.1:9999"
    assert config.credentials("b").base_url == "https://api.datadoghq.eu"


@pytest.mark.parametrize(
    ("raw", "alias", "words"),
    [
        ({}, None, "DD_API_KEY"),
        ({"orgConnections:orgs": '{"a": {"apiKey": "k"}}'}, "a", "has no appKey"),
        ({"orgConnections:orgs": "{}"}, "zz", "not declared"),
        ({"orgConnections:orgs": "not json"}, "a", "must be an object"),
        (
            {"datadog:apiKey": "k", "datadog:appKey": "p", "orgConnections:requestTimeoutSeconds": "-1"},
            None,
            "requestTimeoutSeconds",
        ),
        (
            {"datadog:apiKey": "k", "datadog:appKey": "p", "datadog:site": "example.com"},
            None,
            "datadoghq.com",
        ),
    ],
)
def test_configuration_errors_name_the_setting(raw: dict[str, str], alias: str | None, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        StackConfig(raw, env={}).credentials(alias)


def test_validate_sink_switch() -> None:
    assert StackConfig({}, env={}).validate_sink is True
    assert StackConfig({"orgConnections:validateSink": "false"}, env={}).validate_sink is False
