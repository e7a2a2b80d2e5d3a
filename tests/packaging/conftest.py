"""The packaging tests build a wheel and install Pulumi SDKs from PyPI: run on request (.ci/run does)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support.doc_blocks import REPO_ROOT, doc_block
from support.pulumi_cli import VENV_BIN

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


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built by the README's command in a copy of the sources (no stale build/ can leak in)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, src / name)
    shutil.copytree(
        REPO_ROOT / "provider", src / "provider", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", doc_block("wheel-build")],
        cwd=src, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, f"the README's wheel build failed\n{proc.stdout}\n{proc.stderr}"
    (built,) = (src / "dist").glob("datadog_org_connections-*.whl")
    return built
