"""kill -9 at random moments of an ingest: never an item pointing at a missing or wrong
file; ``verify --repair`` then leaves a clean archive; a re-run completes the batch."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from sathub.config import Settings

TRIALS = 24
_RUN = """
import sys
from pathlib import Path
from sathub.config import Settings
from sathub.app import Installation
from sathub.ingest.pipeline import ingest_paths
s = Settings(data=Path(sys.argv[1]))
inst = Installation.open(s)
print("start", flush=True)
ingest_paths([Path(sys.argv[2])], "crash", s, inst.catalog, inst.objects, replace=sys.argv[3] == "1")
print("done", flush=True)
"""


def _scenes(d: Path, n: int = 4) -> Path:
    d.mkdir()
    rng = np.random.default_rng(7)
    for i in range(n):
        p = d / f"scene{i}.tif"
        with rasterio.open(
            p,
            "w",
            driver="GTiff",
            width=400,
            height=400,
            count=3,
            dtype="uint16",
            nodata=0,
            crs="EPSG:32647",
            transform=from_origin(600000 + i * 8000, 2400000, 20, 20),
        ) as ds:
            ds.write(rng.integers(1, 4000, (3, 400, 400)).astype(np.uint16))
        p.with_name(p.name + ".sathub.json").write_text(
            json.dumps({"datetime": f"2024-0{i + 1}-01T04:00:00Z"})
        )
    return d


def _check_invariants(settings: Settings) -> int:
    """No item may reference a missing or altered file. Returns the number of items."""
    from sathub.app import Installation
    from sathub.ingest.verify import verify_archive

    with Installation.open(settings) as inst:
        rep = verify_archive(settings, inst.catalog, inst.objects)
        bad = [p for p in rep.problems if p.kind in ("missing", "corrupt")]
        assert not bad, bad
        return sum(1 for _ in inst.catalog.iter_items("crash"))


def test_kill_9_at_random_points(tmp_path: Path) -> None:
    from sathub.app import Installation
    from sathub.ingest.verify import verify_archive

    src = _scenes(tmp_path / "in")
    settings = Settings(data=tmp_path / "data")
    Installation.create(settings).close()
    rnd = random.Random(1234)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    # calibrate: how long the ingest itself takes here (from its "start" line to its exit, so
    # that a loaded machine's slow imports do not count)
    cal = subprocess.Popen([sys.executable, "-c", _RUN, str(settings.data), str(src), "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)  # fmt: skip
    assert cal.stdout is not None
    cal.stdout.readline()
    t0 = time.monotonic()
    assert cal.wait(timeout=120) == 0
    full = time.monotonic() - t0
    killed = 0
    for trial in range(TRIALS):
        replace = "0" if trial % 4 == 0 else "1"  # mostly full re-ingests
        proc = subprocess.Popen(
            [sys.executable, "-c", _RUN, str(settings.data), str(src), replace],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        assert proc.stdout is not None
        proc.stdout.readline()  # "start": imports done, the ingest begins now
        time.sleep(rnd.uniform(0.0, max(full, 0.05)))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        else:  # it finished first: the machine is faster now than when calibrated
            full *= 0.7
        proc.wait(timeout=60)
        _check_invariants(settings)
        if trial % 4 == 3:  # repair now and then, as an operator would
            with Installation.open(settings) as inst:
                verify_archive(settings, inst.catalog, inst.objects, repair=True)
    assert killed >= TRIALS // 2, f"only {killed} of {TRIALS} runs were killed mid-way"
    with Installation.open(settings) as inst:
        verify_archive(settings, inst.catalog, inst.objects, repair=True)
        assert verify_archive(settings, inst.catalog, inst.objects).ok
    out = subprocess.run(
        [sys.executable, "-c", _RUN, str(settings.data), str(src), "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert "done" in out.stdout, out.stderr
    assert _check_invariants(settings) == 4
