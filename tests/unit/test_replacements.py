"""replacements.Replacements: when a conflicting create may wait, and for what (no HTTP involved)."""

from __future__ import annotations

import threading

import pytest

from datadog_org_connections import replacements
from datadog_org_connections.replacements import Replacements


@pytest.fixture(autouse=True)
def short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replacements, "DIFF_WAIT_SECONDS", 0.2)
    monkeypatch.setattr(replacements, "DELETE_WAIT_SECONDS", 5.0)


def test_a_deployment_that_replaces_nothing_never_waits() -> None:
    record = Replacements()
    record.diffed("KEPT", replaced=False)
    assert record.freed("kept") is False
    assert record.freed("never-diffed") is False


def test_a_kept_or_unknown_holder_is_a_conflict() -> None:
    record = Replacements()
    record.diffed("a", replaced=True)
    record.diffed("b", replaced=False)
    assert record.freed("b") is False
    assert record.freed("made-by-hand") is False  # after DIFF_WAIT_SECONDS


def test_a_replaced_holder_frees_the_pair_once_deleted() -> None:
    record = Replacements()
    record.diffed("A", replaced=True)
    threading.Timer(0.05, record.delete_ended, ("a", True)).start()
    assert record.freed("a") is True


def test_a_diff_arriving_after_the_conflict_is_waited_for() -> None:
    record = Replacements()
    record.diffed("other", replaced=True)

    def later() -> None:
        record.diffed("a", replaced=True)
        record.delete_ended("a", deleted=True)

    threading.Timer(0.05, later).start()
    assert record.freed("a") is True


def test_a_failed_delete_is_a_conflict() -> None:
    record = Replacements()
    record.diffed("a", replaced=True)
    record.delete_ended("a", deleted=False)
    assert record.freed("a") is False
