"""The conformance suite: every endpoint the project calls, through ``datadog-api-client``.

Each test gets the session's emulator reset to the default seed (``emulator`` in tests/conftest.py).
"""

from __future__ import annotations

import pytest

pytest.importorskip("datadog_api_client")
