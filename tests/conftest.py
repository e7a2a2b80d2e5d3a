"""Fixtures shared by the suites: one emulator per session, reset before each test that uses it;
one throwaway PostgreSQL cluster per session (started only if a test asks), a fresh state backend
on it for each test that asks."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from datadog_org_connections.emulator import Emulator
from support.emulator_control import EmulatorControl
from support.postgres import PostgresCluster, PostgresUnavailable, postgres_cluster


@pytest.fixture(scope="session")
def shared_emulator() -> Iterator[Emulator]:
    """An emulator with the default seed on an ephemeral loopback port, for the whole session."""
    with Emulator.start() as emulator:
        yield emulator


@pytest.fixture
def emulator(shared_emulator: Emulator) -> EmulatorControl:
    """The shared emulator, reset to its seed (no connections, no faults, empty request log)."""
    control = EmulatorControl(shared_emulator.url)
    control.reset()
    return control


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster on a free loopback port for the whole session (tests/support/postgres.py).

    Without the server binaries the test is skipped, except in CI (``CI=true``), where it fails:
    `.ci/run` installs them."""
    try:
        with postgres_cluster() as cluster:
            yield cluster
    except PostgresUnavailable as exc:
        if _in_ci():
            pytest.fail(f"PostgreSQL is needed in CI: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL not available: {exc}")


@pytest.fixture
def postgres_backend(postgres: PostgresCluster) -> str:
    """A ``postgres://`` backend URL of this test alone (a table of its own on the session's
    cluster): give it to ``PulumiCLI(root, backend_url=...)``; two CLIs with other roots (other
    PULUMI_HOMEs) and this URL are two CI runners sharing the state."""
    return postgres.new_backend()
