"""What the benchmark scripts share: timing, percentiles, CPU of a process tree, a control
for the machine's spare capacity, the machine line of a report, the ``## …`` section of
docs/benchmarks.md a script rewrites.

The scripts run as ``python bench/bench_X.py`` (their folder first on ``sys.path``), so they
``from common import …``. Servers are started with the stack's own process classes
(``sathub.stack.procs.ApiServer`` for ``sathub serve``, ``Proc`` for a peer), not here.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import psutil


def log(msg: str) -> None:
    """``[bench_X HH:MM:SS] msg`` on stderr (the report goes to stdout)."""
    print(f"[{Path(sys.argv[0]).stem} {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ timing
class Stopwatch:
    """``with Stopwatch() as sw: …`` then ``sw.s``: the block's wall time in seconds;
    ``sw.now()`` inside the block: the seconds since it began."""

    s = 0.0

    def __enter__(self) -> Stopwatch:
        self._t0 = time.perf_counter()
        return self

    def now(self) -> float:
        return time.perf_counter() - self._t0

    def __exit__(self, *exc: object) -> None:
        self.s = time.perf_counter() - self._t0


def rate(n: int, fn: Callable[[int], object]) -> float:
    """Calls per second of ``fn(0)`` … ``fn(n - 1)``, one after the other."""
    with Stopwatch() as sw:
        for i in range(n):
            fn(i)
    return n / sw.s


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0 ≤ q < 1) by nearest rank, no interpolation:
    ``sorted(values)[min(n - 1, int(n * q))]`` (the p50 of an even count is the upper middle)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def run_processes(target: Callable[..., None], argss: Sequence[tuple[Any, ...]]) -> float:
    """Run ``target(*args, ready)`` in one spawned process per ``args``; each calls
    ``ready.wait()`` (a barrier) once set up. Returns the seconds from the moment all are
    ready until the last has ended. A process that fails raises ``RuntimeError``."""
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Barrier(len(argss) + 1)
    procs = [ctx.Process(target=target, args=(*args, ready)) for args in argss]
    for p in procs:
        p.start()
    ready.wait()
    with Stopwatch() as sw:
        for p in procs:
            p.join()
    failed = [p.exitcode for p in procs if p.exitcode]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(procs)} processes failed (exit codes {failed})")
    return sw.s


# ------------------------------------------------------------------------------ the machine
def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its descendants, with the children they have
    reaped; 0 when the process is gone."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def _spin(n: int) -> int:
    acc = 0
    for i in range(n):
        acc += i * i % 7
    return acc


def control_speedup(n: int = 6_000_000) -> float:
    """Speed-up of two pure-CPU processes over one on this machine, right now: the control for
    a parallel measurement (a shared machine's spare capacity varies with what else runs)."""
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_spin, [1000, 1000]))  # start both
        with Stopwatch() as one:
            list(pool.map(_spin, [n]))
        with Stopwatch() as two:
            list(pool.map(_spin, [n, n]))
    return 2 * one.s / two.s


def machine_cpu() -> tuple[float, float]:
    """(busy, idle) CPU seconds of the whole machine since boot (the rest of the machine over
    an interval: busy minus the groups a benchmark measures)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + t.steal, t.idle + t.iowait


def machine() -> str:
    """The machine part of a report's first line."""
    return (f"{platform.machine()}, {os.cpu_count()} CPUs (shared machine), "
            f"Python {platform.python_version()}")  # fmt: skip


# ------------------------------------------------------------------------------ the report
def print_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A Markdown table on stdout."""
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


def publish(text: str, out: Path | None, heading: str) -> None:
    """Print the report ``text``; with ``out``, also write it as ``out``'s ``heading`` section."""
    print(text)
    if out:
        write_section(out, text, heading)


def write_section(path: Path, text: str, heading: str, *, parent: str | None = None) -> None:
    """Replace the ``heading`` section of the Markdown file ``path`` with ``text`` (which starts
    with that heading): from the heading to the next one of the same or a higher level. Absent,
    it is added at the end of the ``parent`` section (when given and present), else of the file.
    Other sections are kept."""
    lines = path.read_text().splitlines() if path.exists() else ["# Benchmarks"]
    new = text.rstrip("\n").splitlines()

    def span(title: str) -> tuple[int, int] | None:
        start = next((i for i, ln in enumerate(lines) if ln.strip() == title), None)
        if start is None:
            return None
        level = len(title) - len(title.lstrip("#"))
        stop = re.compile(rf"^#{{1,{level}}} ")
        end = next((i for i in range(start + 1, len(lines)) if stop.match(lines[i])), len(lines))
        return start, end

    here = span(heading)
    if here is not None:
        lines[here[0] : here[1]] = [*new, ""]
    else:
        around = span(parent) if parent else None
        at = around[1] if around else len(lines)
        while at > 0 and not lines[at - 1].strip():
            at -= 1
        blank_after = at < len(lines) and not lines[at].strip()
        lines[at:at] = ["", *new, *([] if blank_after else [""])]
    path.write_text("\n".join(lines).rstrip("\n") + "\n")


def write_count_subsection(path: Path, intro: list[str], text: str, n: int) -> None:
    """Put ``text`` (a ``### N items`` subsection) into the section whose heading and intro
    lines are ``intro`` (``["## Catalog", "", "Written by …", ""]``), replacing the subsection
    for the same N (or one titled ``### N items, …``); other sections and subsections are
    kept, the subsections ordered by N (hand-written ones, e.g. ``### Analysis``, last)."""
    doc = path.read_text() if path.exists() else "# Benchmarks\n"
    lines = doc.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.strip() == intro[0]), None)
    if start is None:
        before, body, after = lines, [], []
    else:
        end = next((j for j in range(start + 1, len(lines)) if lines[j].startswith("## ")),
                   len(lines))  # fmt: skip
        before, body, after = lines[:start], lines[start + 1 : end], lines[end:]
    subs: list[list[str]] = []
    for ln in body:
        if ln.startswith("### "):
            subs.append([ln])
        elif subs:
            subs[-1].append(ln)
    head = f"### {n:,} items"
    subs = [sub for sub in subs if not (sub[0] == head or sub[0].startswith(head + ","))]
    subs.append(text.rstrip("\n").splitlines() + [""])

    def count(sub: list[str]) -> int:
        try:
            return int(sub[0].split()[1].replace(",", ""))
        except (IndexError, ValueError):
            return 10**12

    subs.sort(key=count)
    while before and not before[-1].strip():
        before.pop()
    new = before + ([""] if before else []) + intro
    for sub in subs:
        while sub and not sub[-1].strip():
            sub.pop()
        new += sub + [""]
    new += after
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(new).rstrip("\n") + "\n")
