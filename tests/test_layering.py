"""The layering rules (docs/architecture.md, "Layers" and "Rules the tests keep"):

- the layers and no import cycles: ``lint-imports`` (import-linter; the contract is
  ``[tool.importlinter]`` in pyproject.toml) runs here, and every package must be in a layer
  (a package that no layer names would be free to import anything);
- only the SQLite implementations import ``sqlite3`` (the catalog store's package and the
  state stores listed in :data:`SQLITE_MODULES`, each with the contract it stands for);
- only ``sathub.storage`` opens files under the assets directory: statically, no other module
  derives the assets directory from the settings; at run time, every file operation Python
  makes under it during an ingest, a replace, verify and repair, a download, a tile, a
  preview and an analytics job comes from a frame of ``sathub/storage/`` (Python's audit
  hooks see every ``open``, rename, remove, mkdir and directory listing; GDAL opens the paths
  ``ObjectStore.gdal_path`` hands it, in C).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.transform import from_origin

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "sathub"

# Modules that may import sqlite3, and why. The catalog store's SQLite implementation is the
# package sathub/catalog/sqlite/; query.py and sqlfuncs.py are its SQL (to move into the
# package once the search work on them has merged). The others are state stores whose own
# contracts are still to come (issue 12, "State stores"): they must move behind one before a
# PostgreSQL backend can take them.
SQLITE_MODULES = {
    "catalog/sqlite/": "the catalog store on SQLite",
    "catalog/query.py": "the catalog store on SQLite: search SQL and keyset paging",
    "catalog/sqlfuncs.py": "the catalog store on SQLite: SQL functions",
    "access/store.py": "the access state store on SQLite (behind access/state.py's AccessState)",
    "budget/sqlite.py": "state store: budget lines (already behind budget/store.py)",
    "access/sessions_sqlite.py": "state store: console sessions (behind access/sessions.py's SessionStore)",
    "sqlitedb.py": "base: sqlite_connect(), the one way the stores above open their files",
}
# Modules that may name the assets directory: the settings that define it, the installation
# that builds the object store on it, and the object store itself.
ASSETS_MODULES = ("config.py", "app/installation.py", "storage/")


# ------------------------------------------------------------------- the layers
def _layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    return [name for layer in layers for name in re.split(r"[|:]", layer) if name.strip()]


def test_every_package_is_in_a_layer() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in SRC.glob("*.py") if p.stem != "__init__"}
    assert {n.strip() for n in _layers()} == packages | modules


def test_the_layers_hold_and_nothing_cycles() -> None:
    """The import-linter contracts (layers; no cycles at any depth), as ``lint-imports``."""
    exe = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(exe), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, check=False)  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


# ------------------------------------------------------------------- sqlite3 and assets
def _modules() -> list[tuple[str, ast.Module]]:
    return [(p.relative_to(SRC).as_posix(), ast.parse(p.read_text(), str(p)))
            for p in sorted(SRC.rglob("*.py"))]  # fmt: skip


def _allowed(rel: str, allowed: Any) -> bool:
    return any(rel == a or (a.endswith("/") and rel.startswith(a)) for a in allowed)


def test_only_sqlite_implementations_import_sqlite3() -> None:
    offenders = []
    for rel, tree in _modules():
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []  # fmt: skip
            if any(n == "sqlite3" or n.startswith("sqlite3.") for n in names) and \
                    not _allowed(rel, SQLITE_MODULES):  # fmt: skip
                offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, (
        "sqlite3 imported outside the SQLite implementations (put the code behind its "
        f"contract, or list the module in SQLITE_MODULES with the contract it implements): {offenders}"
    )


def test_the_rule_itself_finds_offenders(tmp_path: Path) -> None:
    """The scan above sees both import forms (it would pass vacuously otherwise)."""
    for src in ("import sqlite3\n", "from sqlite3 import connect\n", "import os, sqlite3\n"):
        tree = ast.parse(src)
        found = [n for n in ast.walk(tree)
                 if isinstance(n, (ast.Import, ast.ImportFrom))
                 and any(a.name == "sqlite3" for a in getattr(n, "names", []))
                 or isinstance(n, ast.ImportFrom) and n.module == "sqlite3"]  # fmt: skip
        assert found, src
    assert _allowed("catalog/sqlite/store.py", SQLITE_MODULES)
    assert not _allowed("catalog/loader.py", SQLITE_MODULES)


def test_only_storage_names_the_assets_directory() -> None:
    offenders = []
    for rel, tree in _modules():
        if _allowed(rel, ASSETS_MODULES):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "assets" and \
                    isinstance(node.value, (ast.Attribute, ast.Name)) and \
                    getattr(node.value, "attr", getattr(node.value, "id", None)) == "layout":  # fmt: skip
                offenders.append(f"{rel}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and node.module == "sathub.storage.local" and \
                    rel != "api/routers/viewer.py":  # fmt: skip
                offenders.append(f"{rel}:{node.lineno} imports the local store directly")
    assert not offenders, f"asset paths must come from the object store: {offenders}"


# ------------------------------------------------------------------- at run time
_WATCH: dict[str, Any] = {"root": None, "events": []}
_EVENTS = {"open", "os.rename", "os.remove", "os.rmdir", "os.mkdir", "os.listdir", "os.scandir",
           "os.truncate", "os.symlink", "os.link", "shutil.rmtree", "shutil.copyfile", "os.chmod"}  # fmt: skip


def _hook(event: str, args: tuple[Any, ...]) -> None:
    root = _WATCH["root"]
    if root is None or event not in _EVENTS:
        return
    for a in args[:2]:
        if isinstance(a, (str, bytes, Path)) and not isinstance(a, int):
            text = a.decode(errors="replace") if isinstance(a, bytes) else str(a)
            if text.startswith(root):
                frames = []
                f = sys._getframe(1)
                while f is not None:
                    frames.append(f.f_code.co_filename)
                    f = f.f_back
                _WATCH["events"].append((event, text, frames))


sys.addaudithook(_hook)  # process-wide and permanent: inert while no root is watched


def _scene(path: Path) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=64, height=64, count=2, dtype="uint16",
                       nodata=0, crs="EPSG:32647",
                       transform=from_origin(600000, 2400000, 20, 20)) as ds:  # fmt: skip
        ds.write(np.stack([np.full((64, 64), 800, np.uint16), np.full((64, 64), 3000, np.uint16)]))
    path.with_name(path.name + ".sathub.json").write_text(json.dumps({
        "datetime": "2024-09-04T04:05:31Z", "scale": 0.0001,
        "bands": [{"name": "B04", "common_name": "red"}, {"name": "B08", "common_name": "nir"}]}))  # fmt: skip
    return path


def test_only_storage_touches_asset_files_at_run_time(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient
    from pyproj import Transformer

    from sathub.analytics.executor import Executor
    from sathub.analytics.select import load_zones
    from sathub.analytics.zonal_job import run_zonal
    from sathub.api.app import create_app
    from sathub.app import Installation
    from sathub.config import Settings
    from sathub.ingest.pipeline import ingest_paths
    from sathub.ingest.verify import verify_archive

    src = tmp_path / "in"
    src.mkdir()
    scene = _scene(src / "scene.tif")
    settings = Settings(data=tmp_path / "data")
    inst = Installation.create(settings)
    token = inst.access.bootstrap()
    assets = str(Path(settings.layout.assets).resolve())
    _WATCH.update(root=assets, events=[])
    try:
        rep = ingest_paths([src], "c", settings, inst.catalog, inst.objects)
        assert rep.ok, rep.to_dict()
        rep = ingest_paths([scene], "c", settings, inst.catalog, inst.objects, replace=True)
        assert rep.counts() == {"replaced": 1}
        inst.objects.put("c/stray.bin", __import__("io").BytesIO(b"orphan"))
        report = verify_archive(settings, inst.catalog, inst.objects, repair=True)
        assert report.repaired and report.ok, report.to_dict()
        (item,) = list(inst.catalog.iter_items("c"))
        with TestClient(create_app(inst)) as client:
            h = {"Authorization": f"Bearer {token}"}
            base = f"/collections/c/items/{item['id']}"
            assert client.get(f"{base}/assets/data", headers={**h, "Range": "bytes=0-99"}).status_code == 206
            assert client.get(f"{base}/assets/thumbnail", headers=h).status_code == 200
            lon, lat = Transformer.from_crs(32647, 4326, always_xy=True).transform(600640, 2399360)
            r = client.get(f"{base}/tiles/WebMercatorQuad/10/{int((lon + 180) / 360 * 1024)}/"
                           f"{_tile_y(lat, 10)}.png?assets=data", headers=h)  # fmt: skip
            assert r.status_code in (200, 204), r.text
            assert client.get(f"{base}/preview.png?assets=data", headers=h).status_code == 200
        zone = {"type": "Feature", "properties": {"id": "z"}, "geometry": item["geometry"]}
        with Executor(None, n_workers=1, processes=False) as ex:
            out = run_zonal(settings, inst.catalog, ex, collection="c", zones=load_zones(zone),
                            index="ndvi", objects=inst.objects)  # fmt: skip
        assert out["rows"] and abs(out["rows"][0]["mean"] - (0.3 - 0.08) / 0.38) < 1e-3
    finally:
        _WATCH["root"] = None
        inst.close()
    events = _WATCH["events"]
    kinds = {e for e, _, _ in events}
    assert {"open", "os.rename", "os.remove"} <= kinds, kinds  # the hook saw the store work
    storage = str(SRC / "storage") + "/"
    outside = [(e, p, next((f for f in frames if "/sathub/" in f), frames[0]))
               for e, p, frames in events if not any(f.startswith(storage) for f in frames)
               and not (e == "os.mkdir" and p.rstrip("/") == assets)]  # the layout makes the root  # fmt: skip
    assert not outside, outside[:5]


def _tile_y(lat: float, z: int) -> int:
    import math

    r = math.radians(lat)
    return int((1 - math.asinh(math.tan(r)) / math.pi) / 2 * 2**z)
