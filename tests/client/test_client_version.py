"""One version, stated in pyproject.toml and in the leaf module `_version`, which every layer may import."""

from __future__ import annotations

import ast
import importlib.metadata
import re
from pathlib import Path

import datadog_org_connections
from datadog_org_connections import _version
from datadog_org_connections.transport import USER_AGENT

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(datadog_org_connections.__file__).resolve().parent


def test_versions_match() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    project = text.split("[project]", 1)[1].split("\n[", 1)[0]
    match = re.search(r'^version\s*=\s*"([^"]+)"', project, re.MULTILINE)
    assert match is not None, "pyproject.toml [project] has no version"
    assert _version.__version__ == match.group(1)
    assert datadog_org_connections.__version__ == _version.__version__
    assert importlib.metadata.version("datadog-org-connections") == _version.__version__
    assert f"datadog-org-connections/{_version.__version__}" == USER_AGENT


def _relative_imports(path: Path) -> list[tuple[int, str | None, list[str]]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (n.level, n.module, [a.name for a in n.names])
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.level > 0
    ]


def test_version_is_a_leaf_and_no_layer_imports_from_the_package_face() -> None:
    assert _relative_imports(PACKAGE / "_version.py") == []
    submodules = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir() if p.is_dir()}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__init__.py" and path.parent == PACKAGE:
            continue
        depth = len(path.relative_to(PACKAGE).parts)  # 1 for a top-level module, 2 in a subpackage
        for level, module, names in _relative_imports(path):
            if module is None and level == depth:
                # `from . import x` (one level down: `from .. import x`) may name a sibling module,
                # never a name of the package's __init__, which names every layer.
                faced = [n for n in names if n not in submodules]
                assert not faced, f"{path.relative_to(PACKAGE)} imports {faced} from the package face"
