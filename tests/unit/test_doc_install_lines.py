"""No document tells a user to `pip install datadog-org-connections`: the name is not published by this project.

On PyPI that command fails today and would install whatever someone else publishes under the name
tomorrow. The documented ways are a pinned git URL of this repository and the wheel it builds (README,
"Install into your own Pulumi project"); a document may name the command only to warn against it.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMAND = re.compile(r"pip\s+install\s+[\"']?datadog[-_]org[-_]connections(?![\w@ ]*@|[\w.-]*\.whl)", re.I)
WARNING = re.compile(r"\b(never|not|would install)\b", re.I)


def _texts() -> dict[str, str]:
    paths = [
        ROOT / "README.md",
        *ROOT.glob("docs/**/*.md"),
        *ROOT.glob("programs/**/*"),
        *ROOT.glob("scripts/*"),
    ]
    paths += [ROOT / "pyproject.toml", *ROOT.glob("Pulumi*.yaml")]
    return {
        p.relative_to(ROOT).as_posix(): p.read_text() for p in paths if p.is_file() and p.suffix != ".pyc"
    }


def offending(text: str) -> list[str]:
    """Each `pip install datadog-org-connections` of `text` whose sentence does not warn against it."""
    found = []
    for match in COMMAND.finditer(text):
        start = max(text.rfind(". ", 0, match.start()), text.rfind("\n\n", 0, match.start()), 0)
        end = text.find(".", match.end())
        sentence = text[start : end if end != -1 else len(text)]
        if not WARNING.search(sentence):
            found.append(" ".join(sentence.split()))
    return found


def test_no_document_installs_the_unpublished_name() -> None:
    bad = {path: lines for path, text in _texts().items() if (lines := offending(text))}
    assert bad == {}


def test_the_check_tells_a_command_from_a_warning() -> None:
    assert offending("Install it: `pip install datadog-org-connections`.") != []
    assert offending("Then run\n\n    pip install 'datadog_org_connections'\n") != []
    assert offending("Never `pip install datadog-org-connections`: it is not ours.") == []
    assert offending('pip install "datadog-org-connections @ git+https://github.com/o/r@v1"') == []
