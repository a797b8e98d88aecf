"""What a run leaves: the table and PASS/FAIL lines (stdout), and the JSON with the
machine, every figure, the targets and the raw data."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from dataclasses import asdict
from typing import TYPE_CHECKING

from .figures import Figure, fmt
from .settings import REPO_ROOT

if TYPE_CHECKING:
    from .core import Bench

LEGEND = [
    "ratio = how much worse the pipe is than the built-in connection (> 1: worse): "
    "pipe/built-in for times, built-in/pipe for chunks/s.",
    "floor = the upstream read directly; minimal = a reference pipe that only takes "
    "the user's key and relays lines (Open WebUI's cost of any pipe with per-user "
    "keys); vs min = the pipe against it.",
    "PASS/FAIL judge the paired ratio where there is one: the median of "
    "pipe/built-in over runs made back to back, which drift on a shared machine "
    "moves less than a ratio of medians.",
]
RESPONSES_LEGEND = (
    "Responses rows: built-in = the connection with api_type responses, pipe = "
    "RESPONSES_API=always, minimal = /responses lines relayed raw, floor = "
    "/responses read directly. Open WebUI reads the user's valves from its "
    "database for any pipe with per-user keys (~1 ms of TTFT, the host's, not "
    "the pipe's): TTFT is judged against the minimal pipe too."
)
LEDGER_LEGEND = (
    "Ledger rows: the pipe column is what USER_QUOTA's ledger adds to a chat on "
    "the global key, median with it minus median without (ms): TTFT = the check "
    "and insert before the request, total = those and the update after the answer."
)


def ratio_cell(ratio: float | None) -> str:
    return f"{ratio:.3f}" if ratio is not None else "-"


def render(figures: list[Figure], targets: list[dict], meta: dict) -> str:
    """The table, the variants' table (with --variant), the PASS/FAIL lines."""
    lines = [
        f"OpenAI Manifold Pipe benchmark, {meta['date']}, "
        f"{'--quick' if meta['quick'] else 'full run'}, {meta['nproc']} cores, "
        f"{meta['mem_total_gb']:.1f} GB RAM, Open WebUI {meta['open_webui']}, "
        f"load average at start {meta['loadavg_start'][0]:.1f}",
        *LEGEND,
    ]
    if any(f.key.startswith("responses.") for f in figures):
        lines.append(RESPONSES_LEGEND)
    if any(f.key.startswith("ledger.") for f in figures):
        lines.append(LEDGER_LEGEND)
    header = (
        f"{'figure':<56} {'unit':>8} {'floor':>8} {'built-in':>9} {'minimal':>9} "
        f"{'pipe':>9} {'ratio':>6} {'vs min':>6}  note"
    )
    lines += [header, "-" * len(header)]
    for f in figures:
        lines.append(
            f"{f.label[:56]:<56} {f.unit:>8} {fmt(f.floor, f.unit):>8} "
            f"{fmt(f.builtin, f.unit):>9} {fmt(f.minimal, f.unit):>9} "
            f"{fmt(f.pipe, f.unit):>9} {ratio_cell(f.ratio):>6} "
            f"{ratio_cell(f.ratio_minimal):>6}  {f.note}"
        )
    lines += variants_table(figures)
    lines.append("")
    for t in targets:
        lines.append(f"{'PASS' if t['pass'] else 'FAIL'}  {t['target']}: {t['detail']}")
    return "\n".join(lines)


def variants_table(figures: list[Figure]) -> list[str]:
    """--variant builds: value, and ratio against the built-in like the main table."""
    with_variants = [f for f in figures if f.variants]
    if not with_variants:
        return []
    names = sorted({name for f in with_variants for name in f.variants})
    lines = [
        "",
        "variants (--variant): value, and ratio against the built-in like the main "
        "table",
    ]
    header = f"{'figure':<56} {'built-in':>9} {'pipe':>9} " + " ".join(
        f"{name[:12]:>12} {'ratio':>6}" for name in names
    )
    lines += [header, "-" * len(header)]
    for f in with_variants:
        cells = []
        for name in names:
            value = f.variants.get(name)
            ratio = Figure(
                f.key, f.label, f.unit, f.builtin, value, ratio_kind=f.ratio_kind
            ).ratio
            cells.append(
                f"{fmt(value, f.unit):>12} {(f'{ratio:.3f}' if ratio else '-'):>6}"
            )
        lines.append(
            f"{f.label[:56]:<56} {fmt(f.builtin, f.unit):>9} "
            f"{fmt(f.pipe, f.unit):>9} " + " ".join(cells)
        )
    return lines


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout.strip()


def machine() -> dict:
    """What the figures were taken on, and of which code."""
    mem_kb = 0
    with open("/proc/meminfo") as file:
        for line in file:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    try:
        owui = importlib.metadata.version("open-webui")
    except Exception:  # noqa: BLE001
        owui = "?"
    try:
        commit = git("rev-parse", "--short", "HEAD")
        changes = git("status", "--porcelain", "--", "src", "openai_manifold_pipe.py")
        dirty = bool(changes)
    except OSError:
        commit, dirty = "?", False
    return {
        "nproc": os.cpu_count(),
        "mem_total_gb": mem_kb / 1024 / 1024,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "open_webui": owui,
        "commit": commit,
        "pipe_file_modified": dirty,
        "loadavg_start": os.getloadavg(),
    }


def document(bench: Bench, meta: dict, targets: list[dict]) -> dict:
    """The JSON of a run: its layout is what tests/test_bench.py and later
    comparisons read."""
    return {
        "meta": meta,
        "figures": [
            {**asdict(f), "ratio": f.ratio, "ratio_minimal": f.ratio_minimal}
            for f in bench.figures
        ],
        "targets": targets,
        "raw": bench.raw,
        "errors": bench.errors,
        "sample_failures": bench.sample_failures,
    }
