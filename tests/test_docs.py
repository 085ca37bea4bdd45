"""The repository's docs stand alone: no file points outside the repository, and every relative
Markdown link names a file (and, with a #fragment, a heading) that exists in it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

LINK = re.compile(r"\]\(([^)\s]+)\)")
OUTSIDE = "/".join(("..", "shared"))  # the folder beside the repository its readers lack
TEXT = (".md", ".py", ".toml", ".txt", ".cfg", ".ini", ".sh", "Makefile", "run")


def _files(repo: Path) -> list[Path]:
    """The repository's text files: git's list when it is a checkout, else a walk without the
    virtual environment and run outputs."""
    try:
        out = subprocess.run(
            ["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.split()
        paths = [repo / p for p in out]
    except (OSError, subprocess.CalledProcessError):
        skip = {".venv", "runs", ".git", "__pycache__"}
        paths = [p for p in repo.rglob("*") if not skip & set(p.relative_to(repo).parts)]
    return [p for p in paths if p.is_file() and p.name.endswith(TEXT)]


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_no_file_points_outside_the_repository(repo):
    files = _files(repo)
    assert any(p.name == "README.md" for p in files)
    outside = [str(p.relative_to(repo)) for p in files if OUTSIDE in p.read_text()]
    assert outside == []


def test_every_relative_markdown_link_resolves(repo):
    broken = []
    for doc in [p for p in _files(repo) if p.suffix == ".md"]:
        for target in LINK.findall(doc.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # web addresses and same-page anchors
            path, _, fragment = target.partition("#")
            dest = (doc.parent / path).resolve()
            if repo.resolve() not in [dest, *dest.parents] or not dest.exists():
                broken.append(f"{doc.relative_to(repo)}: {target}")
            elif fragment and dest.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", dest.read_text(), re.MULTILINE)
                if fragment not in {_anchor(h) for h in headings}:
                    broken.append(f"{doc.relative_to(repo)}: {target} (no such heading)")
    assert broken == [], broken
