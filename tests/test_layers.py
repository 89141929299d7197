"""The layering contract (``lint-imports``, run by ``make test``; config in pyproject.toml)
covers every package: a package that no layer names would be free to import anything."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    return [name for layer in layers for name in re.split(r"[|:]", layer) if name.strip()]


def test_every_package_is_in_a_layer() -> None:
    src = ROOT / "src" / "sathub"
    packages = {p.name for p in src.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in src.glob("*.py") if p.stem != "__init__"}
    assert {n.strip() for n in _layers()} == packages | modules


def test_the_contract_holds() -> None:
    """The same check as ``make test``'s ``lint-imports`` (here too, so a plain pytest run
    sees an upward import)."""
    exe = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(exe), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout
