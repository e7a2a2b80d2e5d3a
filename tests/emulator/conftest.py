"""Fixtures for the emulator tests: a fresh in-process emulator per test, on an ephemeral port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emulator_helpers import HUB, SPOKE_EU, Api

from datadog_org_connections.emulator import Emulator


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """A running emulator with the default seed."""
    with Emulator.start() as emulator:
        yield emulator


@pytest.fixture
def hub(emu: Emulator) -> Api:
    """Requests as the hub org's admin."""
    return Api(emu.url, HUB)


@pytest.fixture
def eu(emu: Emulator) -> Api:
    """Requests as the spoke-eu org's admin."""
    return Api(emu.url, SPOKE_EU)
