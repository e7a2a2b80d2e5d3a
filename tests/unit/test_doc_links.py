"""Every relative link in README.md and docs/*.md resolves: the file exists, and its `#anchor` is a heading.

Anchors are computed as GitHub renders them: the heading's text, lower-cased, punctuation dropped
(hyphens and underscores kept), spaces turned into hyphens, `-1`, `-2`, ... appended to repeats.
Links inside code (fenced blocks, `inline code`) and to other sites are not checked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```.*?^```[ \t]*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)\)")


def _prose(text: str) -> str:
    """`text` without fenced blocks, inline code and HTML comments."""
    text = FENCE.sub("", text)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(path: Path) -> set[str]:
    """The `#anchors` GitHub gives the headings of the Markdown file at `path`."""
    seen: dict[str, int] = {}
    found = set()
    for line in FENCE.sub("", path.read_text()).splitlines():
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not heading:
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.group(1)).lower()
        slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def _shown(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def broken_links(doc: Path) -> list[str]:
    """The relative links of `doc` that do not resolve, each with the reason."""
    broken = []
    for target in LINK.findall(_prose(doc.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
            continue
        path_part, _, anchor = target.partition("#")
        path = (doc.parent / path_part).resolve() if path_part else doc
        if not path.exists():
            broken.append(f"{target}: no file {_shown(path)}")
        elif anchor and (path.suffix != ".md" or anchor not in anchors(path)):
            broken.append(f"{target}: no heading #{anchor} in {_shown(path)}")
    return broken


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(doc: Path) -> None:
    assert broken_links(doc) == []


def test_the_checker_catches_what_it_should(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text(
        "# Other\n\n## Keys, site and `options`\n\n## Keys, site and options\n"
    )
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# Title: `x`\n\n"
        "[ok](other.md#keys-site-and-options) [ok](other.md#keys-site-and-options-1) [ok](#title-x)\n"
        "[bad](other.md#nope) [bad](missing.md) [bad](#nope) [web](https://example.com/x#y)\n"
        "`[code](missing.md)`\n\n```\n[fenced](missing.md)\n```\n"
    )
    assert anchors(tmp_path / "other.md") == {"other", "keys-site-and-options", "keys-site-and-options-1"}
    assert [b.split(":")[0] for b in broken_links(doc)] == ["other.md#nope", "missing.md", "#nope"]
