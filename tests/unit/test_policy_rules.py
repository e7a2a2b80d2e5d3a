"""The rules of the org-connections policy pack (policies/org-connections), as plain functions.

The e2e tests (tests/e2e/test_policy_pack.py) run the same rules through the real CLI; here each
rule's edge cases: unknown values at preview, aliases against UUIDs, config errors.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "policies" / "org-connections"))
import org_connection_rules as rules
from org_connection_rules import UNKNOWN, Connection

HUB = "a1b10001-7f97-11f0-8de1-1ecf66f1aa85"
EU = "a1b10002-7f97-11f0-8de1-1ecf66f1aa85"
US = "a1b10003-7f97-11f0-8de1-1ecf66f1aa85"
AP = "a1b10004-7f97-11f0-8de1-1ecf66f1aa85"
ORGS = {"hub": HUB, "spoke-eu": EU, "spoke-us": US, "spoke-ap": AP}
OURS = "pulumi-python:dynamic/datadog:OrgConnection"


def conn(
    name: str = "c",
    sink: Any = HUB,
    types: Any = ("logs",),
    source: Any = None,
    source_id: Any = None,
    stack: str = "dev",
) -> Connection:
    return Connection(
        name=name,
        urn=f"urn:pulumi:{stack}::proj::{OURS}::{name}",
        sink_org_id=sink,
        connection_types=types,
        source_org=source,
        source_org_id=source_id,
    )


# --- Reading resources ----------------------------------------------------------------------


def test_connection_from_our_resource_with_unknowns() -> None:
    urn = f"urn:pulumi:spoke-eu::datadog-orgs::{OURS}::to-hub"
    props = {"sink_org_id": UNKNOWN, "connection_types": ["logs", UNKNOWN], "source_org": "spoke-us"}
    c = rules.connection_from_props(OURS, urn, "to-hub", props)
    assert c is not None
    assert (c.stack, c.project, c.label) == ("spoke-eu", "datadog-orgs", "OrgConnection 'to-hub'")
    assert c.sink_org_id is UNKNOWN
    assert c.connection_types == ("logs", UNKNOWN)
    assert c.known_types() == ["logs"]
    assert c.source_org == "spoke-us"
    assert c.source_org_id is None


def test_connection_from_the_bridged_resource_uses_camel_case() -> None:
    props = {"sinkOrgId": HUB, "connectionTypes": ["audit"], "sourceOrgId": EU}
    c = rules.connection_from_props(
        "datadog:index/orgConnection:OrgConnection", "urn:pulumi:s::p::t::x", "x", props
    )
    assert c is not None
    assert (c.sink_org_id, c.connection_types, c.source_org, c.source_org_id) == (HUB, ("audit",), None, EU)


def test_other_resources_are_not_connections() -> None:
    assert rules.connection_from_props("pulumi:pulumi:Stack", "urn:pulumi:s::p::t::x", "x", {}) is None


def test_missing_sink_is_treated_as_unknown() -> None:
    c = rules.connection_from_props(OURS, "urn:pulumi:s::p::t::x", "x", {"connection_types": UNKNOWN})
    assert c is not None
    assert c.sink_org_id is UNKNOWN
    assert c.connection_types is UNKNOWN


# --- Org names --------------------------------------------------------------------------------


def test_directory_resolves_aliases_uuids_and_the_stack_org() -> None:
    d = rules.directory_from_config("p", {"orgs": ORGS, "stackOrgs": {"proj/dev": "spoke-eu", "other": US}})
    assert d.key("hub") == d.key(HUB.upper()) == HUB
    assert d.key("unmapped") == "alias:unmapped"
    assert d.source_key(conn(stack="dev")) == EU
    assert d.source_key(conn(stack="other")) == US
    assert d.source_key(conn(stack="third")).startswith("self:")  # type: ignore[union-attr]
    assert d.source_key(conn(source=UNKNOWN)) is None
    assert d.describe(EU) == f"spoke-eu ({EU})"


def test_stack_org_applies_to_stacks_not_in_stack_orgs() -> None:
    d = rules.directory_from_config("p", {"orgs": ORGS, "stackOrg": "hub", "stackOrgs": {"eu": "spoke-eu"}})
    assert d.source_key(conn(stack="eu")) == EU
    assert d.source_key(conn(stack="anything")) == HUB


def test_directory_learns_source_ids_from_outputs() -> None:
    existing = conn("old", source_id=EU.upper())
    new = conn("new", sink=US)
    d = rules.OrgDirectory().learn([existing, new])
    assert d.source_key(new) == EU


def test_may_be_same() -> None:
    assert rules.may_be_same(HUB, HUB)
    assert not rules.may_be_same(HUB, EU)
    assert not rules.may_be_same("alias:a", "alias:b")
    assert rules.may_be_same("alias:a", HUB)  # an unmapped alias may be any org
    assert rules.may_be_same("self:p/s", HUB)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"orgs": {"hub": "not-a-uuid"}}, "orgs.hub must be an org UUID"),
        ({"allowedSinks": ["nobody"]}, "'nobody', which is neither an org UUID nor an alias in orgs"),
        ({"allowedSink": [HUB]}, "unknown setting(s) allowedSink"),
        ({"allowedSinks": "hub"}, "allowedSinks must be a list of strings"),
    ],
)
def test_audit_config_errors_name_the_setting(raw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(rules.ConfigError) as err:
        rules.audit_settings(raw)
    assert fragment in str(err.value)
    assert rules.AUDIT_POLICY in str(err.value)


# --- audit-sinks-allow-listed -----------------------------------------------------------------


def test_audit_to_an_org_not_allow_listed_is_refused() -> None:
    settings = rules.audit_settings({"orgs": ORGS, "allowedSinks": ["hub"]})
    [message] = rules.check_audit_sink(conn("eu-audit", sink=US, types=("audit", "logs")), settings)
    assert message.startswith(f"[{rules.AUDIT_POLICY}] OrgConnection 'eu-audit'")
    assert f"spoke-us ({US})" in message
    assert f"allowedSinks: hub ({HUB})" in message
    assert 'Fix: remove "audit"' in message


def test_audit_is_refused_everywhere_by_default() -> None:
    assert rules.check_audit_sink(conn(types=("audit",)), rules.audit_settings({}))


@pytest.mark.parametrize(
    "c",
    [
        conn(sink=HUB, types=("audit",)),  # allow-listed by alias
        conn(sink=HUB.upper(), types=("audit",)),  # UUIDs compare case-insensitively
        conn(sink=US, types=("logs", "metrics")),  # no audit data
        conn(sink=UNKNOWN, types=("audit",)),  # sink unknown at preview
        conn(sink=US, types=UNKNOWN),  # types unknown at preview
        conn(sink=US, types=("logs", UNKNOWN)),  # audit not proven
    ],
)
def test_audit_passes_what_it_cannot_prove_wrong(c: Connection) -> None:
    assert rules.check_audit_sink(c, rules.audit_settings({"orgs": ORGS, "allowedSinks": ["hub"]})) == []


# --- max-sinks-per-source ---------------------------------------------------------------------


def fake_sinks(n: int) -> list[str]:
    return [f"00000000-0000-4000-8000-{i:012d}" for i in range(n)]


def test_six_sinks_of_one_source_exceed_the_default_limit() -> None:
    conns = [conn(f"c{i}", sink=s) for i, s in enumerate(fake_sinks(6))]
    [(urn, message)] = rules.check_sink_limit(conns, rules.limit_settings({}))
    assert urn == conns[0].urn
    assert message.startswith(f"[{rules.LIMIT_POLICY}] source org the own org of stack proj/dev")
    assert "with 6 orgs" in message and "limit of 5" in message
    assert "c0, c1, c2, c3, c4, c5" in message
    assert rules.check_sink_limit(conns[:5], rules.limit_settings({})) == []


def test_limit_counts_distinct_sinks_per_source() -> None:
    conns = [conn("a", sink=HUB), conn("b", sink=HUB.upper()), conn("c", sink=US, source="spoke-us")]
    assert rules.check_sink_limit(conns, rules.limit_settings({"maxSinks": 1.0})) == []  # engine: 1 -> 1.0


def test_limit_overrides_per_source_and_uses_the_stack_org() -> None:
    conns = [conn("a", sink=HUB), conn("b", sink=US), conn("c", sink=HUB, source="spoke-eu")]
    raw = {"orgs": ORGS, "stackOrg": "spoke-eu", "maxSinks": 1, "maxSinksBySource": {"spoke-us": 5}}
    [(_, message)] = rules.check_sink_limit(conns, rules.limit_settings(raw))
    assert f"spoke-eu ({EU}) would share data with 2 orgs" in message  # a, b and c: one source
    raw["maxSinksBySource"] = {EU: 2}
    assert rules.check_sink_limit(conns, rules.limit_settings(raw)) == []


def test_limit_counts_only_what_is_provable() -> None:
    settings = rules.limit_settings({"maxSinks": 1})
    # One known sink plus unknown ones: the unknown may be that same sink.
    assert rules.check_sink_limit([conn("a"), conn("b", sink=UNKNOWN)], settings) == []
    # Unknown sources are not counted at all.
    assert rules.check_sink_limit([conn("a"), conn("b", sink=US, source=UNKNOWN)], settings) == []
    # Only unknown sinks: at least one.
    zero = rules.limit_settings({"maxSinks": 0})
    assert len(rules.check_sink_limit([conn("a", sink=UNKNOWN), conn("b", sink=UNKNOWN)], zero)) == 1


def test_limit_merges_existing_and_new_connections_of_the_stack_org() -> None:
    # The existing connection reports its source org id; the new one has none yet.
    conns = [conn("old", sink=HUB, source_id=EU), conn("new", sink=US), conn("other", sink=AP, source="x")]
    [(_, message)] = rules.check_sink_limit(conns, rules.limit_settings({"maxSinks": 1}))
    assert f"source org {EU} would share data with 2 orgs" in message


@pytest.mark.parametrize("bad", [-1, 1.5, "5", True])
def test_limit_must_be_a_whole_number(bad: Any) -> None:
    with pytest.raises(rules.ConfigError, match="maxSinks must be a whole number"):
        rules.limit_settings({"maxSinks": bad})


# --- declared-topology ------------------------------------------------------------------------


def test_topology_unconfigured_allows_everything() -> None:
    assert rules.check_topology(conn(sink=US), rules.topology_settings({})) == []


def test_hub_and_spoke_refuses_a_sink_other_than_the_hub() -> None:
    settings = rules.topology_settings({"orgs": ORGS, "hub": "hub", "stackOrg": "spoke-eu"})
    assert rules.check_topology(conn(sink=HUB), settings) == []
    [message] = rules.check_topology(conn("eu-to-us", sink=US), settings)
    assert message.startswith(f"[{rules.TOPOLOGY_POLICY}] OrgConnection 'eu-to-us' connects spoke-eu")
    assert f"hub: hub ({HUB})" in message
    assert "point sink_org_id at the hub" in message
    assert "add [spoke-eu, spoke-us] to allowedPairs" in message


def test_allowed_pairs_check_source_and_sink() -> None:
    settings = rules.topology_settings({"orgs": ORGS, "allowedPairs": [["spoke-eu", "spoke-us"]]})
    assert rules.check_topology(conn(sink=US, source="spoke-eu"), settings) == []
    assert rules.check_topology(conn(sink=US, source="spoke-ap"), settings)  # wrong source
    assert rules.check_topology(conn(sink=HUB, source="spoke-eu"), settings)  # wrong sink
    assert rules.check_topology(conn(sink=HUB, source=UNKNOWN), settings)  # no pair has this sink


@pytest.mark.parametrize(
    "c",
    [
        conn(sink=UNKNOWN, source="spoke-ap"),  # sink unknown at preview
        conn(sink=US, source=UNKNOWN),  # a pair has this sink; its source is unknown
        conn(sink=US),  # the stack's own org, not named in config: may be spoke-eu
        conn(sink=US, source="unmapped"),  # an alias not in orgs: may be spoke-eu
    ],
)
def test_topology_passes_what_it_cannot_prove_wrong(c: Connection) -> None:
    settings = rules.topology_settings(
        {"orgs": ORGS, "hub": "hub", "allowedPairs": [["spoke-eu", "spoke-us"]]}
    )
    assert rules.check_topology(c, settings) == []


def test_topology_sinks_must_be_uuids_or_mapped_aliases() -> None:
    with pytest.raises(rules.ConfigError, match="hub names 'hub'"):
        rules.topology_settings({"hub": "hub"})
    with pytest.raises(rules.ConfigError, match=r"must be \[source, sink\]"):
        rules.topology_settings({"allowedPairs": [["a"]]})


# --- no-production-to-non-production ----------------------------------------------------------

TAGS = {"hub": ["production"], EU: ["production", "eu"], "spoke-us": ["non-production"]}


def test_production_to_non_production_is_refused() -> None:
    settings = rules.production_settings({"orgs": ORGS, "orgTags": TAGS})
    [message] = rules.check_production(
        conn("eu-to-us", sink=US, source="spoke-eu", types=("metrics", "logs")), settings
    )
    assert message.startswith(
        f"[{rules.PRODUCTION_POLICY}] OrgConnection 'eu-to-us' would share logs, metrics"
    )
    assert f"spoke-eu ({EU}), tagged production" in message
    assert f"spoke-us ({US}), tagged non-production" in message


@pytest.mark.parametrize(
    "c",
    [
        conn(sink=HUB, source="spoke-eu"),  # production to production
        conn(sink=HUB, source="spoke-us"),  # non-production to production
        conn(sink=US, source="spoke-ap"),  # untagged source
        conn(sink=UNKNOWN, source="spoke-eu"),  # sink unknown at preview
        conn(sink=US),  # the stack's own org, not named: its tags are unknown
    ],
)
def test_production_rule_passes_the_rest(c: Connection) -> None:
    assert rules.check_production(c, rules.production_settings({"orgs": ORGS, "orgTags": TAGS})) == []


def test_production_rule_with_the_stack_org_and_custom_tags() -> None:
    raw = {
        "orgs": ORGS,
        "stackOrgs": {"dev": "hub"},
        "orgTags": {"hub": ["prd"], US: ["dev"]},
        "productionTag": "prd",
        "nonProductionTag": "dev",
    }
    assert rules.check_production(conn(sink=US), rules.production_settings(raw))
    assert rules.check_production(conn(sink=US, stack="other"), rules.production_settings(raw)) == []


# --- created-by-service-account -------------------------------------------------------------


def test_creator_outputs_are_read_from_our_resource_only() -> None:
    urn = f"urn:pulumi:dev::proj::{OURS}::c"
    props = {
        "sink_org_id": HUB,
        "connection_types": ["logs"],
        "created_by": "jane@x",
        "created_by_service_account": False,
    }
    ours = rules.connection_from_props(OURS, urn, "c", props)
    assert ours is not None and (ours.created_by, ours.created_by_service_account) == ("jane@x", False)
    for odd in (None, "false", 0, UNKNOWN):
        c = rules.connection_from_props(OURS, urn, "c", {**props, "created_by_service_account": odd})
        assert c is not None and c.created_by_service_account is (UNKNOWN if odd is UNKNOWN else None)
    bridged = rules.connection_from_props(
        "datadog:index/orgConnection:OrgConnection", urn, "c", {"sinkOrgId": HUB, "connectionTypes": ["logs"]}
    )
    assert bridged is not None and bridged.created_by_service_account is None


def test_only_a_connection_known_to_be_made_by_a_person_is_reported() -> None:
    settings = rules.creator_settings({})
    base = conn("to-hub")
    assert rules.check_creator(base, settings) == []  # not created yet, or the API did not say
    for known in (True, UNKNOWN):
        assert rules.check_creator(replace(base, created_by_service_account=known), settings) == []
    [message] = rules.check_creator(
        replace(base, created_by="jane@x", created_by_service_account=False), settings
    )
    assert message.startswith(
        "[created-by-service-account] OrgConnection 'to-hub' was made by jane@x, a person"
    )
    assert "deactivated" in message and "`pulumi up --replace <urn of to-hub>`" in message
    with pytest.raises(rules.ConfigError, match="unknown setting"):
        rules.creator_settings({"allowPeople": True})
