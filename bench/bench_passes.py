"""Benchmark: passes of every satellite of the CelesTrak active snapshot over one station.

Peers, run in the same process on one core:
  * skyfield ``EarthSatellite.find_events`` in a per-satellite loop (the reference results);
  * bare ``sgp4.api.SatrecArray.sgp4`` for the raw propagation rate.

Usage:  python bench/bench_passes.py [--loop-every N] [--no-write]
``--loop-every N`` runs the skyfield loop on every N-th satellite only and scales its time
(the comparison of results is then over that sample). Results go to docs/benchmarks.md,
section "## Orbits".
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core

import argparse
import platform
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from common import Stopwatch, write_section
from sgp4.api import SatrecArray

from sathub.orbits.elements import load_elements
from sathub.orbits.frames import Station
from sathub.orbits.passes import DEFAULT_STEP_S, find_passes
from sathub.orbits.propagate import propagate
from sathub.orbits.timeutil import jd_split, timescale

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "orbits" / "celestrak_active_2025-10-04.txt"
START = datetime(2025, 10, 4, 12, tzinfo=UTC)
HOURS = 24.0
STATION = Station(48.1, 11.6, 520.0, "Oberpfaffenhofen-ish 48.1N 11.6E")
MASK_DEG = 10.0


def best_of(n: int, fn: object) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(n):
        with Stopwatch() as sw:
            result = fn()  # type: ignore[operator]
        best = min(best, sw.s)
    return best, result


def skyfield_loop(sets: list, every: int) -> tuple[float, dict[int, list[tuple[datetime, int]]]]:
    from skyfield.api import EarthSatellite, wgs84

    ts = timescale()
    topo = wgs84.latlon(STATION.lat_deg, STATION.lon_deg, elevation_m=STATION.alt_m)
    t0 = ts.from_datetime(START)
    t1 = ts.from_datetime(START + timedelta(hours=HOURS))
    events: dict[int, list[tuple[datetime, int]]] = {}
    with Stopwatch() as sw:
        for es in sets[::every]:
            sat = EarthSatellite.from_satrec(es.satrec, ts)
            tt, ev = sat.find_events(topo, t0, t1, altitude_degrees=MASK_DEG)
            events[es.norad_id] = [(x, int(k)) for x, k in zip(tt.utc_datetime(), ev)]
    return sw.s, events


def compare(passes: list, sky: dict[int, list[tuple[datetime, int]]]) -> dict[str, object]:
    ours: dict[int, list[tuple[datetime, int]]] = {}
    for p in passes:
        if p.norad_id not in sky:
            continue
        lst = ours.setdefault(p.norad_id, [])
        if not p.aos_clipped:
            lst.append((p.aos, 0))
        if not p.los_clipped:
            lst.append((p.los, 2))
    same, differ, worst, n_events = 0, [], 0.0, 0
    for nid, sky_ev in sky.items():
        a = sorted(ours.get(nid, []))
        b = [e for e in sky_ev if e[1] != 1]
        if [k for _, k in a] != [k for _, k in b]:
            differ.append(nid)
            continue
        dts = [abs((x - y).total_seconds()) for (x, _), (y, _) in zip(a, b)]
        n_events += len(dts)
        worst = max([worst, *dts])
        if all(d < 1.0 for d in dts):
            same += 1
        else:
            differ.append(nid)
    return {"satellites": len(sky), "identical": same, "differ": differ,
            "events": n_events, "worst_dt_s": worst}


def brute_force_agrees(es: object, passes: list, step_s: float = 1.0) -> bool:
    """Rise/set from skyfield elevations sampled every ``step_s`` (the independent truth for
    satellites where sathub and find_events disagree): every sathub event within 2 s."""
    from skyfield.api import EarthSatellite, wgs84

    ts = timescale()
    sat = EarthSatellite.from_satrec(es.satrec, ts)  # type: ignore[attr-defined]
    topo = wgs84.latlon(STATION.lat_deg, STATION.lon_deg, elevation_m=STATION.alt_m)
    sec = np.arange(0.0, HOURS * 3600.0, step_s)
    t = ts.utc(START.year, START.month, START.day, START.hour, 0, sec)
    el = (sat - topo).at(t).altaz()[0].degrees
    above = np.nan_to_num(el, nan=-90.0) >= MASK_DEG
    idx = np.flatnonzero(above[1:] != above[:-1])
    truth = [(float(sec[i]) + step_s / 2, 0 if above[i + 1] else 2) for i in idx]
    ours = sorted([(p.aos_s, 0) for p in passes if not p.aos_clipped]
                  + [(p.los_s, 2) for p in passes if not p.los_clipped])
    return len(ours) == len(truth) and all(
        k1 == k2 and abs(a - b) < 2.0 for (a, k1), (b, k2) in zip(ours, truth))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loop-every", type=int, default=1)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    warnings.simplefilter("ignore")

    t_load, sets = best_of(1, lambda: load_elements(DATA))
    print(f"loaded {len(sets)} element sets in {t_load:.2f} s")

    # Raw propagation rate: sathub.propagate (TEME) vs bare SatrecArray, same grid.
    n = int(HOURS * 3600 / DEFAULT_STEP_S) + 1
    offsets = np.linspace(0.0, HOURS * 3600.0, n)
    whole, frac = jd_split(START, offsets)
    arr = SatrecArray([e.satrec for e in sets])
    states = len(sets) * n
    t_bare, _ = best_of(3, lambda: arr.sgp4(whole, frac))
    t_ours, _ = best_of(3, lambda: propagate(sets, START, offsets, sats=arr, warn_stale=False))
    rate_bare, rate_ours = states / t_bare, states / t_ours
    print(f"propagation: bare SatrecArray {rate_bare / 1e6:.2f} M states/s, "
          f"sathub.propagate {rate_ours / 1e6:.2f} M states/s "
          f"(ratio {rate_ours / rate_bare:.2f})")

    t_passes, result = best_of(1, lambda: find_passes(
        sets, [STATION], START, HOURS, min_elevation_deg=MASK_DEG, warn_stale=False))
    print(f"sathub.find_passes: {len(result.passes)} passes of {len(sets)} satellites in "
          f"{t_passes:.2f} s ({len(result.failures)} SGP4 failures reported)")

    t_loop, sky = skyfield_loop(sets, args.loop_every)
    t_loop_full = t_loop * args.loop_every
    cmp = compare(result.passes, sky)
    speedup = t_loop_full / t_passes
    by_id = {e.norad_id: e for e in sets}
    cmp["verified"] = [nid for nid in cmp["differ"]  # type: ignore[union-attr]
                       if brute_force_agrees(by_id[nid],
                                             [p for p in result.passes if p.norad_id == nid])]
    print(f"skyfield find_events loop: {len(sky)} satellites in {t_loop:.2f} s"
          + (f" (x{args.loop_every} = {t_loop_full:.1f} s for all)" if args.loop_every > 1 else ""))
    print(f"speed-up: {speedup:.1f}x; identical results for {cmp['identical']}/{cmp['satellites']}"
          f" satellites ({cmp['events']} rise/set events, worst |dt| {cmp['worst_dt_s']:.3f} s);"
          f" differing: {cmp['differ']}; of those, sathub agrees with 1 s brute-force sampling"
          f" for {cmp['verified']}")

    if not args.no_write:
        write_orbits(len(sets), t_load, rate_bare, rate_ours, t_passes, len(result.passes),
                     len(result.failures), t_loop, args.loop_every, len(sky), speedup, cmp)


def write_orbits(n_sats: int, t_load: float, rate_bare: float, rate_ours: float,
                 t_passes: float, n_passes: int, n_fail: int, t_loop: float, every: int,
                 n_loop: int, speedup: float, cmp: dict[str, object]) -> None:
    loop_note = (f"{t_loop:.1f} s for {n_loop} satellites (every {every}th), scaled ×{every}"
                 if every > 1 else f"{t_loop:.1f} s")
    section = f"""## Orbits

`python bench/bench_passes.py` — {datetime.now(UTC):%Y-%m-%d}, {platform.processor() or platform.machine()},
Python {platform.python_version()}, one core (BLAS/OpenMP threads = 1), shared machine.

Passes of all {n_sats:,} satellites of `celestrak_active_2025-10-04.txt` over one station
({STATION.lat_deg}°N {STATION.lon_deg}°E, {STATION.alt_m:.0f} m, mask {MASK_DEG:g}°) for {HOURS:g} h
from {START:%Y-%m-%dT%H:%MZ}.

| measure | result | target |
|---|---|---|
| `sathub.orbits.find_passes` (all satellites, one call) | {t_passes:.2f} s, {n_passes:,} passes, {n_fail} SGP4 failures reported | ≤ 30 s |
| skyfield `find_events`, per-satellite loop | {loop_note} | — |
| speed-up over the loop | {speedup:.1f}× | ≥ 20× |
| identical results (same rise/set sequence, every time within 1 s) | {cmp['identical']}/{cmp['satellites']} satellites, {cmp['events']:,} events, worst \\|Δt\\| {cmp['worst_dt_s']:.3f} s | all |
| satellites that differ from find_events | {cmp['differ'] or 'none'} | — |
| … of which sathub matches 1 s brute-force sampling (skyfield wrong) | {cmp['verified'] or 'none'} | all |
| raw propagation, bare `SatrecArray.sgp4` | {rate_bare / 1e6:.2f} M states/s | — |
| raw propagation, `sathub.orbits.propagate` (TEME) | {rate_ours / 1e6:.2f} M states/s ({rate_ours / rate_bare:.2f}×) | ≥ 0.8× |
| loading the 3LE file (checksums verified) | {t_load:.2f} s | — |

Both sides run in the same process, one after the other, on a shared 2-core machine whose load
changes during the ~2 minute skyfield loop: expect the speed-up to vary run to run (16× to 25×
seen while other jobs were running). `find_passes` time is dominated by SGP4 itself
(`SatrecArray` on a 360 s grid, ~2/3 of the total).

A satellite "differs" when the rise/set sequences are not the same; each one is then checked
against skyfield elevations sampled every second. Known cases: `find_events` only searches
for rise/set between its culminations, so it can miss a dip below the mask of a slow, high or
eccentric satellite (geostationary AMC-14, Molniya-orbit MERIDIAN 9; ETALON 2 at an
equatorial station), and it reports a rise for a decaying satellite after SGP4 has failed
(STARLINK-2437 here; sathub reports the SGP4 error instead).
"""
    path = ROOT / "docs" / "benchmarks.md"
    write_section(path, section, "## Orbits")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
