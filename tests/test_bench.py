"""The benchmark runs and measures (issue #6); its figures are not judged here.

`scripts/bench.py --quick` starts its own Open WebUI 0.12.4 and fake upstream, so
this takes about two minutes and must not overlap another Open WebUI started by
the same session (pytest runs tests one after another, so it does not).
Deselect with `-m "not bench"`.

It fails only when the benchmark cannot measure: a non-zero exit, or a figure
missing from the JSON it writes. Slow figures and missed targets (PASS/FAIL lines)
are the benchmark's report, not a test failure: the machine is shared and noisy.
The statistics the targets are judged by are pure functions, tested first.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.benchmark.figures import Figure
from scripts.benchmark.stats import longest_delays, paired_ratios

ROOT = Path(__file__).resolve().parents[1]


def test_paired_ratios_pair_runs_made_back_to_back() -> None:
    times = {"pipe": [22.0, None, 30.0], "builtin": [20.0, 21.0, 20.0]}
    assert paired_ratios(times) == [1.1, 1.5]  # a failed run drops its pair
    rates = {"pipe": [900.0, 1000.0], "builtin": [1000.0, 1000.0]}
    # Throughput reads like times: above 1 when the pipe is slower.
    assert paired_ratios(rates, "rate") == pytest.approx([1.111, 1.0], abs=1e-3)
    assert paired_ratios(times, reference="minimal") == []


def test_targets_judge_the_paired_ratio_when_there_is_one() -> None:
    # Medians say 1.10 (fail); runs made back to back say 1.02 (pass).
    figure = Figure("k", "label", "ms", builtin=20.0, pipe=22.0, paired=1.02)
    assert figure.ratio == pytest.approx(1.1)
    ok, detail = figure.verdict(1.05)
    assert ok and "paired ratio 1.020" in detail
    unpaired = Figure("k", "label", "ms", builtin=20.0, pipe=22.0)
    assert unpaired.verdict(1.05)[0] is False


def test_a_pause_in_one_window_is_not_blamed_a_stall_in_each_is() -> None:
    def windows(*longest: float) -> list[dict]:
        return [{"max_ms": value} for value in longest]

    assert longest_delays(windows(2.0, 494.0)) == (494.0, 2.0)
    assert longest_delays(windows(2.0, 494.0, 3.0)) == (494.0, 3.0)
    assert longest_delays(windows(60.0, 55.0, 3.0)) == (60.0, 55.0)
    assert longest_delays([{"max_ms": None}]) == (None, None)


# Figures that need both sides (pipe and built-in connection) to be measured.
COMPARED = [
    "api.short.ttft.median",
    "api.short.total.median",
    "api.long.ttft.median",
    "api.long.total.median",
    "web.short.ttft.median",
    "web.long.total.median",
    "api.c1.rate",
    "api.c10.rate",
    "api.c50.rate",
    "web.c1.rate",
    "web.c10.rate",
    "web.c50.rate",
    "health.streams.api.max",
    "health.streams.web.max",
    "health.paced.api.max",
    "health.paced.web.max",
    "health.slow_headers.max",
    "health.slow_models.max",
    "listing.normal.median",
    "listing.slow.median",
    "inproc.cpu_per_chunk",
    "inproc.loop_stall",
    # OpenAI's Responses API: the pipe (RESPONSES_API always) against the built-in
    # connection with api_type "responses".
    "responses.api.short.ttft.median",
    "responses.web.short.ttft.median",
    "responses.api.c10.rate",
    "responses.web.c10.rate",
]
# Figures of the pipe alone.
PIPE_ONLY = [
    "listing.dead.first",
    "listing.dead.second",
    "health.dead_models.max",
    "pipes.warm.median",
    "pipes.cold.median",
    "pipes.dead.first",
    "pipes.dead.second",
    "memory.before",
    "memory.after",
    "memory.growth",
    # What USER_QUOTA's ledger adds to a chat (with minus without, in ms).
    "ledger.ttft.added",
    "ledger.total.added",
]


@pytest.mark.bench
def test_quick_benchmark_measures_everything(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    process = subprocess.Popen(
        [sys.executable, "scripts/bench.py", "--quick", "--json", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        process.terminate()  # SIGTERM: the benchmark stops the servers it started
        stdout, stderr = process.communicate(timeout=60)
        pytest.fail(f"benchmark still running after 10 minutes:\n{stderr[-4000:]}")
    report = f"stdout:\n{stdout[-4000:]}\nstderr:\n{stderr[-4000:]}"
    assert process.returncode == 0, report
    data = json.loads(out.read_text())
    figures = {figure["key"]: figure for figure in data["figures"]}

    # Open WebUI's own collection pauses: present, valued only if any happened.
    missing = [
        key
        for key in COMPARED + PIPE_ONLY + ["host.gc_pauses.longest"]
        if key not in figures
    ]
    assert not missing, f"figures not measured: {missing}\n{report}"
    unmeasured = [
        key
        for key in COMPARED
        if figures[key]["pipe"] is None or figures[key]["builtin"] is None
    ]
    unmeasured += [key for key in PIPE_ONLY if figures[key]["pipe"] is None]
    assert not unmeasured, f"figures without a value: {unmeasured}\n{report}"
    assert all(
        figures[key]["ratio"] is not None
        for key in COMPARED
        if figures[key]["ratio_kind"] != "none"
    )
    assert data["targets"], "no PASS/FAIL lines"
    assert data["meta"]["quick"] is True
    # The table went to stdout, with the ratio column and the target lines.
    assert "ratio" in stdout
    assert "PASS" in stdout or "FAIL" in stdout
