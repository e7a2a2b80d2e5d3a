"""Fixtures shared by the suites: one emulator per session, reset before each test that uses it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from datadog_org_connections.emulator import Emulator
from support.emulator_control import EmulatorControl


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
