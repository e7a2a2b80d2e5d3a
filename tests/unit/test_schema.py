"""The input table in-process: validation, normalisation and what a change does (no provider process)."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.output import Unknown

from datadog_org_connections.schema import INPUTS, changed_inputs, check_inputs
from datadog_org_connections.stack_config import StackConfig

HUB = "a1b10001-7f97-11f0-8de1-1ecf66f1aa85"
CONFIG = StackConfig({"orgConnections:orgs": '{"eu": {"apiKey": "k" , "appKey": "a"}}'}, env={})


def _failures(news: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f.property, f.reason) for f in check_inputs(news, CONFIG)[1]]


def test_every_input_has_one_effect() -> None:
    assert {i.name: i.effect for i in INPUTS} == {
        "sink_org_id": "replace",
        "connection_types": "update",
        "source_org": "replace",
        "adopt_existing": "state",
        "adopt_id": "state",
        "validate_sink": "state",
        "__owner": "state",
        "__secrets": "state",
    }


def test_valid_inputs_are_normalised() -> None:
    inputs, failures = check_inputs(
        {"sink_org_id": f" {HUB.upper()} ", "connection_types": ["metrics", "logs"], "source_org": "eu"},
        CONFIG,
    )
    assert failures == []
    assert inputs == {"sink_org_id": HUB, "connection_types": ["logs", "metrics"], "source_org": "eu"}


@pytest.mark.parametrize(
    ("news", "prop", "words"),
    [
        ({"connection_types": ["logs"]}, "sink_org_id", "required"),
        ({"sink_org_id": "", "connection_types": ["logs"]}, "sink_org_id", "required"),
        ({"sink_org_id": "hub", "connection_types": ["logs"]}, "sink_org_id", "not a UUID"),
        ({"sink_org_id": 7, "connection_types": ["logs"]}, "sink_org_id", "UUID string"),
        ({"sink_org_id": HUB}, "connection_types", "required"),
        ({"sink_org_id": HUB, "connection_types": []}, "connection_types", "must not be empty"),
        ({"sink_org_id": HUB, "connection_types": "logs"}, "connection_types", "must be a list"),
        ({"sink_org_id": HUB, "connection_types": ["logz"]}, "connection_types", "unknown value"),
        ({"sink_org_id": HUB, "connection_types": ["logs", "logs"]}, "connection_types", "repeats"),
        (
            {"sink_org_id": HUB, "connection_types": ["logs"], "source_org": "us"},
            "source_org",
            "not declared",
        ),
        ({"sink_org_id": HUB, "connection_types": ["logs"], "adopt_id": "x"}, "adopt_id", "UUID"),
        (
            {"sink_org_id": HUB, "connection_types": ["logs"], "adopt_id": HUB, "adopt_existing": True},
            "adopt_id",
            "not both",
        ),
        (
            {"sink_org_id": HUB, "connection_types": ["logs"], "validate_sink": "no"},
            "validate_sink",
            "True or False",
        ),
    ],
)
def test_each_bad_input_names_its_property(news: dict[str, Any], prop: str, words: str) -> None:
    [(failed, reason)] = _failures(news)
    assert failed == prop and words in reason


def test_unknown_values_are_not_judged() -> None:
    assert _failures({"sink_org_id": Unknown(), "connection_types": ["logs", Unknown()]}) == []


def _changed(olds: dict[str, Any], news: dict[str, Any]) -> list[tuple[str, str]]:
    return [(i.name, i.effect) for i in changed_inputs(olds, news)]


def test_diff_compares_canonical_values() -> None:
    olds = {"sink_org_id": HUB, "connection_types": ["logs", "metrics"], "source_org": None}
    assert _changed(olds, {**olds, "connection_types": ["metrics", "logs"], "sink_org_id": HUB.upper()}) == []
    assert _changed(olds, {**olds, "adopt_existing": False, "validate_sink": True, "source_org": ""}) == []
    assert _changed(olds, {**olds, "connection_types": ["logs"]}) == [("connection_types", "update")]
    assert _changed(olds, {**olds, "sink_org_id": "b" + HUB[1:]}) == [("sink_org_id", "replace")]
    assert _changed(olds, {**olds, "source_org": "eu"}) == [("source_org", "replace")]
    assert _changed(olds, {**olds, "adopt_existing": True}) == [("adopt_existing", "state")]
    assert _changed(olds, {**olds, "sink_org_id": Unknown()}) == [("sink_org_id", "replace")]
    assert (
        _changed({**olds, "__owner": "p/a"}, {**olds, "__owner": "p/b"}) == []
    )  # a renamed stack changes nothing
