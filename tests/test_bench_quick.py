"""The benchmark suite's quick mode (what CI runs) completes and writes a complete report.

Timings are not asserted: they depend on the machine. What is checked is what a
reader of the report relies on: every section ran, every row has a value or says
why not, the JSON is valid, the table was printed and the plot was drawn.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("app_cost", "log_cost", "flood", "memory", "ignored", "alert_latency")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict, Path]:
    out = tmp_path_factory.mktemp("bench")
    results, plot = out / "latest.json", out / "throughput.png"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--results", str(results), "--plot", str(plot)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, f"bench/run.py --quick failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc, json.loads(results.read_text()), plot


def test_every_section_ran(quick_run):
    """Each of the six sections is in the JSON, without an error, with at least one row."""
    _, results, _ = quick_run
    assert results["mode"] == "quick"
    assert set(results["sections"]) == set(SECTIONS)
    for name, section in results["sections"].items():
        assert not section.get("error"), (name, section.get("error"))
        assert section["metrics"], name


def test_rows_have_values_or_reasons(quick_run):
    """A row either carries a finite median within its min–max, or explains why it has none."""
    _, results, _ = quick_run
    for name, section in results["sections"].items():
        for row in section["metrics"]:
            assert row["name"] and row["passed"] in (True, False, None), (name, row)
            if row["n"]:
                assert math.isfinite(row["median"]), (name, row)
                assert row["min"] <= row["median"] <= row["max"], (name, row)
            else:
                assert row["note"], (name, row["name"])


def test_targets_are_evaluated(quick_run):
    """The targets the issue sets get a verdict: cost vs the SDK and OTLP, 429s, memory bound."""
    _, results, _ = quick_run
    judged = {row["name"] for s in results["sections"].values() for row in s["metrics"] if row["passed"] is not None}
    assert "otel-discord's threads' added CPU / sdk-none's CPU per request" in judged
    assert "otel-discord / otlp telemetry threads' CPU per request" in judged
    assert "429 answers, all floods" in judged
    assert any(name.startswith("RSS growth over the 2nd half, bsp-otel-discord") for name in judged)


def test_measurements_come_from_real_traffic(quick_run):
    """The load reached every app, the OTLP sink got spans, and alerts reached the local Discord."""
    _, results, _ = quick_run
    app = results["sections"]["app_cost"]["raw"]
    assert all(run["requests"] > 0 and run["by_path"]["/boom"] > 0 for runs in app["runs"].values() for run in runs)
    assert app["otlp_sink"]["requests"] > 0
    assert app["discord_messages"]["otel-discord"] > 0
    latencies = results["sections"]["alert_latency"]["raw"]["latencies_s"]
    assert all(values and all(v > 0 for v in values) for values in latencies.values())
    ignored = results["sections"]["ignored"]["raw"]
    assert ignored["otlp_sink"]["requests"] >= ignored["export_calls"]["otlp"] > 0


def test_app_cpu_is_split_by_thread(quick_run):
    """Every run found waitress's request threads, and the exporting threads where there is an exporter."""
    _, results, _ = quick_run
    section = results["sections"]["app_cost"]
    for config, runs in section["raw"]["runs"].items():
        for run in runs:
            threads = run["threads"]
            assert threads["request"] > 0 and any(name.startswith("waitress-") for name in threads["by_name"]), config
            batch_threads = [name for name in threads["by_name"] if name.startswith("OtelBatchSpan")]
            assert bool(batch_threads) == ("otlp" in config or "discord" in config), (config, threads["by_name"])
            assert any(name.startswith("otel-discord-") for name in threads["by_name"]) == ("discord" in config)
    # sdk-none exports nothing; the OTLP exporter's work must show in the telemetry threads.
    rows = {row["name"]: row for row in section["metrics"]}
    exporting = rows["telemetry threads' CPU per request, otlp − sdk-none"]
    assert exporting["passed"] is True, exporting


def test_split_cpu_by_thread_role():
    """Waitress workers are request threads, its main thread is the loop, everything else is telemetry."""
    sys.path.insert(0, str(ROOT / "bench"))
    from app_server import UNNAMED, CPUSample, split_cpu

    pid = 100
    names = {
        100: "MainThread",
        101: "waitress-0",
        102: "waitress-1",
        103: "OtelBatchSpanRecordProcessor",
        104: "otel-discord-delivery",
        105: "bench-telemetry-flush",
    }
    before = CPUSample({100: 1.0, 101: 2.0, 102: 2.0, 103: 0.5, 104: 0.25, 106: 9.0}, 14.75, "schedstat")
    # 105 started between the samples, 106 ended, 107 is a thread Python does not know (a native one),
    # and 104's id went to a new thread (its time went down): all of the new one's time counts.
    after = CPUSample({100: 1.5, 101: 3.0, 102: 2.5, 103: 0.75, 104: 0.125, 105: 0.0625, 107: 0.5}, 19.0, "schedstat")
    split = split_cpu(before, after, names, pid)
    assert split.main == 0.5
    assert split.request == 1.5
    assert split.telemetry == 0.25 + 0.125 + 0.0625 + 0.5
    assert split.by_name[UNNAMED] == 0.5 and split.by_name["waitress-1"] == 0.5
    assert split.unaccounted == (19.0 - 14.75) - (0.5 + 1.5 + 0.9375)  # 106's last moments, and rounding


def test_table_and_plot(quick_run):
    """The table lists every section and the throughput plot is a PNG."""
    proc, results, plot = quick_run
    for section in results["sections"].values():
        assert section["title"].split(" (")[0] in proc.stdout
    assert "Median" in proc.stdout and "Result" in proc.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert results["machine"]["nproc"] >= 1 and results["machine"]["python"]


def test_ceiling_model():
    """The ideal client the flood is compared with follows Discord's limits to the message."""
    sys.path.insert(0, str(ROOT / "bench"))
    from ceiling import ceiling_seconds, ideal_messages

    # 5 requests per 2 s per webhook: 30 messages need six windows, the last opens at 10 s.
    assert ceiling_seconds([0.0] * 30, 2.0, 60.0) == pytest.approx(10.0)
    # The 31st message waits for the channel's 60 s window to slide past the first.
    assert ceiling_seconds([0.0] * 31, 2.0, 60.0) == pytest.approx(60.0)
    # Nothing goes before it exists.
    assert ceiling_seconds([0.0, 7.5], 2.0, 60.0) == pytest.approx(7.5)
    # Six embeds of 1,000 characters fill a message (6,000), ten small ones fill one too.
    assert ideal_messages([{"title": "x" * 1000}] * 12) == [5, 11]
    assert ideal_messages([{"title": "x"}] * 25) == [9, 19, 24]
