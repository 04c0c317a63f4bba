"""otel-discord benchmarks: one command, a table, JSON, a plot.

    python bench/run.py            # full run (≤ ~9 min on 2 cores): README numbers, docs plot
    python bench/run.py --quick    # CI's short run (≤ ~90 s): same sections, smaller sizes

Sections (each reports median and spread over repetitions, ratios from this one run):

1. app_cost       cost to a Flask + SQLAlchemy app under load, vs no OTel / SDK only / OTLP
2. log_cost       request-thread cost per logged error, vs a blocking webhook logging handler
3. flood          delivery of floods against Discord's limits, vs the ceiling those limits allow
4. memory         peak RSS while a million spans flood the batch processor
5. ignored        export() cost per span that is not a notice
6. alert_latency  time from a failing request to the message at Discord

Everything runs on 127.0.0.1 against the strict local Discord server; nothing
talks to discord.com. Results: ``bench/results/latest.json`` (and a timestamped
copy), the table on stdout, ``docs/bench-throughput.png`` and
``docs/readme/performance.md`` (full runs; quick runs write their plot under
``bench/results/``). Exit status 1 if a section could not run; missed targets
are reported in the table, not in the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report  # noqa: E402
from benchlib import ROOT, Mode, machine_info, package_versions  # noqa: E402

SECTIONS: Final = ("app_cost", "log_cost", "flood", "memory", "ignored", "alert_latency")
RESULTS_DIR: Final = ROOT / "bench" / "results"


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the otel-discord benchmarks.")
    parser.add_argument("--quick", action="store_true", help="CI's short mode: smaller sizes, ≤ ~90 s")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS,
        metavar="SECTION",
        help=f"run only these sections ({', '.join(SECTIONS)})",
    )
    parser.add_argument("--results", type=Path, default=RESULTS_DIR / "latest.json", help="JSON output path")
    parser.add_argument(
        "--plot",
        type=Path,
        default=None,
        help="throughput PNG (default: docs/bench-throughput.png, quick: bench/results/)",
    )
    parser.add_argument(
        "--docs",
        type=Path,
        default=None,
        help="README section to regenerate (default: docs/readme/performance.md on full runs)",
    )
    parser.add_argument("--no-docs", action="store_true", help="do not write the plot or the README section")
    return parser.parse_args(argv)


def _run_section(name: str, mode: Mode) -> dict[str, Any]:
    module = importlib.import_module(name)
    started = time.monotonic()
    print(f"==> {module.TITLE} ...", flush=True)
    try:
        result = module.run(mode)
    except Exception as exc:  # a broken section must not hide the others
        traceback.print_exc()
        result = {"title": module.TITLE, "error": f"{type(exc).__name__}: {exc}", "metrics": []}
    result["seconds"] = round(time.monotonic() - started, 1)
    print(f"    done in {result['seconds']} s", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    mode = Mode("quick" if args.quick else "full")
    started = time.monotonic()
    results: dict[str, Any] = {
        "schema": 1,
        "mode": mode.name,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": package_versions(),
        "sections": {},
    }
    for name in args.only or SECTIONS:
        results["sections"][name] = _run_section(name, mode)
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["duration_s"] = round(time.monotonic() - started, 1)
    results["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]

    args.results.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=1, default=str)
    args.results.write_text(text)
    if args.results.resolve().parent == RESULTS_DIR.resolve():
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        (RESULTS_DIR / f"run-{stamp}-{mode.name}.json").write_text(text)

    print()
    print(report.text_table(results))
    for line in report.notes(results):
        print(f"  note: {line}")
    print(f"\n{mode.name} run in {results['duration_s']:.0f} s; JSON: {args.results}")
    if not args.no_docs:
        plot = args.plot or (
            RESULTS_DIR / "throughput-quick.png" if mode.quick else ROOT / "docs" / "bench-throughput.png"
        )
        if report.plot_throughput(results, plot):
            print(f"plot: {plot}")
        docs = args.docs or (None if mode.quick or args.only else ROOT / "docs" / "readme" / "performance.md")
        if docs is not None:
            command = "./dev bench --quick" if mode.quick else "./dev bench"
            docs.parent.mkdir(parents=True, exist_ok=True)
            docs.write_text(report.performance_markdown(results, command))
            print(f"README section: {docs}")
    failed = [name for name, section in results["sections"].items() if section.get("error")]
    if failed:
        print(f"sections that could not run: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
