"""Every internal link in README.md and docs/**/*.md resolves: the file exists, and a #fragment names a
heading of that file (GitHub's anchor rules), so a moved or renamed section cannot leave dead links."""

import re
from pathlib import Path

import pytest

from conftest import REPO

LINK = re.compile(r"(?<!!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def github_anchor(heading: str) -> str:
    """GitHub's heading id: markup dropped, lower case, punctuation removed, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        base = github_anchor(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    out |= set(re.findall(r'<a\s+(?:name|id)="([^"]+)"', path.read_text(encoding="utf-8")))
    return out


def documents() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")),
            *sorted((REPO / "benchmarks").rglob("README.md")), REPO / "tests" / "README.md"]


def _name(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else path.name


def dead_links(doc: Path) -> list[str]:
    text = FENCE.sub("", doc.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)  # inline code is not a link
    dead = []
    for target in LINK.findall(text) + IMAGE.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        file_part, _, fragment = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.exists():
            dead.append(f"{target} (no such file {_name(dest)})")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            dead.append(f"{target} (no heading #{fragment} in {_name(dest)})")
    return dead


def test_github_anchor_rules():
    assert github_anchor("Deploying on Flower: `borderless deploy`") == "deploying-on-flower-borderless-deploy"
    assert github_anchor("The comparison study ([report](docs/x.md), `configs/study.toml`)") == \
        "the-comparison-study-report-configsstudytoml"
    assert github_anchor("Invariants (tested)") == "invariants-tested"


def test_the_checker_finds_a_dead_link(tmp_path):
    doc = tmp_path / "a.md"
    doc.write_text("# Title\n\n[ok](#title) [gone](#warm-nodes) [file](b.md) ![img](p.png)\n```\n[x](#in-code)\n```\n")
    assert dead_links(doc) == ["#warm-nodes (no heading #warm-nodes in a.md)", "b.md (no such file b.md)",
                               "p.png (no such file p.png)"]


@pytest.mark.parametrize("doc", documents(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_internal_link_resolves(doc):
    assert dead_links(doc) == [], f"{doc.relative_to(REPO)}: dead links"
