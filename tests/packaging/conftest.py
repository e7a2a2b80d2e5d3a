"""The packaging tests build a wheel and install Pulumi SDKs from PyPI: run on request (.ci/run does)."""

from __future__ import annotations

import os

import pytest

ENV = "DDOC_PACKAGING_TESTS"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"packaging: installs the built wheel into fresh virtualenvs from PyPI (needs {ENV}=1)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(ENV) == "1":
        return
    skip = pytest.mark.skip(
        reason=f"installs Pulumi SDKs from PyPI into fresh virtualenvs (minutes): run by .ci/run, or {ENV}=1 "
        "scripts/test tests/packaging"
    )
    for item in items:
        if item.get_closest_marker("packaging") is not None:
            item.add_marker(skip)
