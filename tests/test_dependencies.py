"""Runtime dependencies are what ``src/`` imports: every one is imported somewhere in
``src/sathub`` (bench- and test-only packages go to the ``bench`` and ``test`` extras), and
docs/dependencies.md says why each dependency, runtime or extra, is there."""

from __future__ import annotations

import ast
import functools
import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _imported_top_levels() -> set[str]:
    """Top-level names of every import in src/sathub, lazy ones included."""
    names: set[str] = set()
    for path in (ROOT / "src" / "sathub").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


@functools.lru_cache(maxsize=1)
def _top_levels() -> dict[str, set[str]]:
    """Distribution name → the top-level names it installs."""
    by_dist: dict[str, set[str]] = {}
    for top, dists in metadata.packages_distributions().items():
        for d in dists:
            by_dist.setdefault(_norm(d), set()).add(top)
    return by_dist


def _provides(req: Requirement) -> set[str]:
    """The importable top-level names of a requirement (with those of its extras)."""
    by_dist = _top_levels()
    names = set(by_dist.get(_norm(req.name), set()))
    for sub in metadata.requires(req.name) or []:
        r = Requirement(sub)
        if r.marker and any(r.marker.evaluate({"extra": e}) for e in req.extras):
            names |= by_dist.get(_norm(r.name), set())
    return names


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_runtime_dependency_is_imported_by_src() -> None:
    imported = _imported_top_levels()
    unused = [r for r in PROJECT["dependencies"] if not (_provides(Requirement(r)) & imported)]
    assert not unused, f"runtime dependencies src/sathub never imports (move them to an extra): {unused}"


def test_every_dependency_is_documented() -> None:
    doc = (ROOT / "docs" / "dependencies.md").read_text().lower()
    extras = [r for group in PROJECT["optional-dependencies"].values() for r in group]
    for r in [*PROJECT["dependencies"], *extras]:
        name = Requirement(r).name.lower()
        family = name.split(".")[0]  # stac-fastapi.api is documented as stac-fastapi (api, …)
        assert name in doc or family in doc, f"{name} is not in docs/dependencies.md"
