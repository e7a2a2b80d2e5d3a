"""The documentation's commands and files, as tests run them: fenced blocks marked `<!-- readme-test: NAME -->`.

A test takes a block from README.md or docs/*.md by its marker and runs it as written. Only two kinds of
text are substituted:

- each `<placeholder>`, by what a user would type there. The test names every placeholder it expects:
  a new or renamed one fails it, so the documentation and the test move together;
- the `datadog:site` line. A loopback URL cannot be a Datadog site (a site only selects
  `https://api.<site>`), so that line sets `datadog:apiUrl` to the emulator's URL instead.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SITE_LINE = re.compile(r"^(pulumi config set (?:--stack \S+ )?)datadog:site \S+.*$", re.MULTILINE)


def doc_block(marker: str, doc: str = "README.md") -> str:
    """The fenced block that follows `<!-- readme-test: MARKER` in `doc` (a path from the repository root)."""
    text = (REPO_ROOT / doc).read_text()
    tags = list(re.finditer(rf"<!-- readme-test: {re.escape(marker)}\s", text))
    assert len(tags) == 1, f"{doc} must hold exactly one <!-- readme-test: {marker} ... -->, not {len(tags)}"
    match = re.compile(r"```[a-z]*\n(.*?)```", re.DOTALL).search(text, tags[0].end())
    assert match is not None, f"no fenced block after <!-- readme-test: {marker} --> in {doc}"
    return match.group(1)


def fill(block: str, placeholders: dict[str, str]) -> str:
    """`block` with every `<placeholder>` replaced; the block's placeholders must be exactly those given."""
    found = set(re.findall(r"<[^<>\n]+>", block))
    assert found == set(placeholders), (
        f"the documented placeholders changed: the block has {sorted(found)}, the test knows "
        f"{sorted(placeholders)}; update the test's placeholders"
    )
    for placeholder, value in placeholders.items():
        block = block.replace(placeholder, value)
    return block


def site_to_api_url(block: str, api_url: str) -> str:
    """`block` with its one `pulumi config set [--stack S] datadog:site ...` line setting `datadog:apiUrl`."""
    block, count = SITE_LINE.subn(lambda m: f"{m.group(1)}datadog:apiUrl {api_url}", block)
    assert count == 1, "the block must set datadog:site exactly once"
    return block
