"""A local emulator of the Datadog org connections API, for tests and demos.

Programmatic use::

    from datadog_org_connections.emulator import Emulator

    with Emulator.start() as emu:          # default seed, 127.0.0.1, ephemeral port
        print(emu.url)                     # http://127.0.0.1:PORT

Command line: ``python -m datadog_org_connections.emulator --port 8126``. See ``docs/emulator.md``.
"""

from __future__ import annotations

from .failures import ApiFailure
from .faults import FAULT_KINDS, FaultConfig
from .index import Connection
from .ratelimit import DEFAULT_RATE_LIMIT, RateLimitConfig
from .seed import (
    CONNECTION_TYPES,
    DEFAULT_SEED_PATH,
    ORG_MANAGEMENT,
    Account,
    Org,
    Seed,
    SeedError,
    User,
    load_seed,
    parse_seed,
)
from .server import Emulator, EmulatorRequestHandler, EmulatorServer
from .store import Store

__all__ = [
    "CONNECTION_TYPES",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_SEED_PATH",
    "FAULT_KINDS",
    "ORG_MANAGEMENT",
    "Account",
    "ApiFailure",
    "Connection",
    "Emulator",
    "EmulatorRequestHandler",
    "EmulatorServer",
    "FaultConfig",
    "Org",
    "RateLimitConfig",
    "Seed",
    "SeedError",
    "Store",
    "User",
    "load_seed",
    "parse_seed",
]
