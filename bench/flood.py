"""§3 Delivery under flood: how fast a flood reaches Discord, against the ceiling Discord's limits allow.

Every flood goes through the real ``DiscordSpanExporter`` in a fresh process into
the strict local Discord, which enforces Discord's limits (5 requests per window
per webhook, 30 messages per window per channel); each runs with the routing's
per-channel rate cap off (``RATE_CAP=0``) and on (the default).

* **distinct**: 10,000 different errors (each its own route and trace) in one
  minute. Delivery is bound by Discord's limits, and at Discord's real windows
  would take hours, so the server's windows and the engine's channel budget are
  divided by ``SCALE`` (the engine's through its ``CHANNEL_WINDOW`` setting); the
  minute stays a minute, so the export thread works at an app's real pace. A
  stress run (full runs, not judged) divides the minute by ``SCALE`` too: 5,000
  errors a second, more than one export thread can describe, so delivery competes
  with it for the GIL. Spans are handed to ``export()`` directly,
  in batches of 512, so every notice reaches the engine. Compared with the
  **ceiling**: the earliest an ideal client could have delivered the same
  embeds, packed as tightly as Discord allows (≤ 10 embeds, ≤ 6,000 characters,
  no url twice per message), under the same limits, never before each notice
  existed.
* **repeats**: 100,000 occurrences of one error (each its own trace) in one real
  minute, through the SDK's ``BatchSpanProcessor`` as an app would produce them.
  Grouping folds repeats into one message edited on a real-time interval, so
  nothing is scaled here; the SDK drops what the export thread cannot keep up with.

What counts as delivered is read from the server: an embed stands for one notice,
for ``×N`` notices when its Seen field says so (a group), and for ``N`` when it is
a digest ("Digest: N notices folded"). A flood is fully delivered when that sum
reaches the number of notices the exporter was handed.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Final

from benchlib import BENCH_DIR, PYTHON, Mode, child_env, metric, na_metric
from ceiling import CHANNEL_LIMIT, WEBHOOK_LIMIT, ceiling_seconds, ideal_messages, represented

from otel_discord.testing import DiscordServer, Message, embed_total

TITLE: Final = "3. Delivery under flood"
WEBHOOK_WINDOW: Final = 2.0  # Discord's, for WEBHOOK_LIMIT requests per webhook
CHANNEL_WINDOW: Final = 60.0  # Discord's, for CHANNEL_LIMIT messages per channel
SCALE: Final = 30  # distinct floods: windows ÷ 30 → 5 req / 0.067 s per webhook, 30 msg / 2 s per channel
TARGET_CEILING: Final = 0.90
CAP_OFF: Final = "0"


@dataclass(frozen=True)
class Flood:
    scenario: str  # "distinct" | "repeats"
    count: int
    emit_seconds: float  # the flood's duration ("one minute", scaled or not)
    scaled: bool  # Discord's windows ÷ SCALE (server and engine)
    grace: float  # seconds to wait for full delivery once the flood is over
    rate_cap: str | None  # RATE_CAP value; None: this build has no cap
    stress: bool = False  # emitted faster than the export thread can take: reported, not judged

    @property
    def label(self) -> str:
        cap = "" if self.rate_cap is None else ", cap off" if self.rate_cap == CAP_OFF else f", cap {self.rate_cap}/min"
        pace = f" in {self.emit_seconds:g} s" if self.scenario == "distinct" else ""
        return f"{self.scenario} ×{self.count:,}{pace}{cap}"


# --------------------------------------------------------------------------- the runner


def rate_cap_default() -> int | None:
    """The per-channel rate cap this build applies by default (notices a minute), None if it has none."""
    try:
        from otel_discord.config import resolve
        from otel_discord.pipeline import build_stages

        settings = resolve(
            "traces", webhook_url="http://127.0.0.1:9/api/webhooks/1/x", allowed_hosts="127.0.0.1:9", environ={}
        )
        return int(build_stages(settings).rate_cap)
    except Exception:  # no routing stage with a rate cap in this build
        return None


def _read_json(proc: subprocess.Popen[str], errors: Any) -> dict[str, Any]:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("{"):
            return json.loads(line)
    errors.seek(0)
    raise RuntimeError(f"flood worker exited (code {proc.wait()}): {errors.read()[-2000:]}")


def run_flood(flood: Flood) -> dict[str, Any]:
    """One flood in a fresh process against a fresh strict server."""
    scale = SCALE if flood.scaled else 1
    webhook_window, channel_window = WEBHOOK_WINDOW / scale, CHANNEL_WINDOW / scale
    with (
        DiscordServer(
            webhook_limit=WEBHOOK_LIMIT,
            webhook_window=webhook_window,
            channel_limit=CHANNEL_LIMIT,
            channel_window=channel_window,
        ) as server,
        tempfile.TemporaryDirectory(prefix="bench-flood-") as spool,
    ):
        hook = server.create_webhook("flood")
        cmd = [
            PYTHON,
            str(BENCH_DIR / "flood_worker.py"),
            flood.scenario,
            hook.url,
            "--host-port",
            server.host_port,
            "--count",
            str(flood.count),
            "--emit-seconds",
            str(flood.emit_seconds),
            "--feed",
            "direct" if flood.scenario == "distinct" else "bsp",
            "--spool",
            spool,
        ]
        if flood.scaled:
            cmd += ["--channel-window", str(channel_window)]
        if flood.rate_cap is not None:
            cmd += ["--rate-cap", flood.rate_cap]
        errors = tempfile.TemporaryFile("w+")  # a file, not a pipe: a chatty worker must never block on it
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=child_env(),
            cwd=str(BENCH_DIR),
        )
        try:
            result = _read_json(proc, errors)
            goal = result["handed_over"]
            deadline = time.monotonic() + flood.grace
            seen_state, done = None, 0
            while time.monotonic() < deadline:
                stats = server.stats()
                state = (stats["accepted"], stats["edits"])
                if state != seen_state:  # counting copies every message: only when something changed
                    seen_state, done = state, represented(server.messages("flood"))
                    if done >= goal:
                        break
                time.sleep(0.25)
            assert proc.stdin is not None
            proc.stdin.write("stats\n")
            proc.stdin.flush()
            engine_stats = _read_json(proc, errors)
            proc.stdin.close()
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            errors.close()
        messages = server.messages("flood")
        stats = server.stats()
    return _measure(flood, result, engine_stats, messages, stats, webhook_window, channel_window)


def _measure(
    flood: Flood,
    result: dict[str, Any],
    engine_stats: dict[str, Any],
    messages: list[Message],
    stats: dict[str, Any],
    webhook_window: float,
    channel_window: float,
) -> dict[str, Any]:
    start = result["start_wall"]
    embeds = [embed for message in messages for embed in message.embeds]
    changes = [m.created_at.timestamp() - start for m in messages]
    changes += [m.edited_at.timestamp() - start for m in messages if m.edited_at]
    last = max(changes, default=0.0)
    timeline = result["timeline"]

    def ready(index: int) -> float:  # the i-th delivered embed ↔ the i-th notice handed over (FIFO)
        return next((t for t, n in timeline if n > index), timeline[-1][0] if timeline else 0.0)

    ideal = ideal_messages(embeds)
    ceiling = ceiling_seconds([ready(end) for end in ideal], webhook_window, channel_window)
    # Pacing alone: the ideal time for the messages as they were packed (index of each one's last embed).
    ends = list(accumulate(len(m.embeds) for m in messages))
    as_sent = ceiling_seconds([ready(end - 1) for end in ends if end], webhook_window, channel_window)
    done = represented(messages)
    return {
        "flood": flood.__dict__,
        "label": flood.label,
        "handed_over": result["handed_over"],
        "represented": done,
        "complete": done >= result["handed_over"] > 0,
        "messages": len(messages),
        "embeds": len(embeds),
        "ideal_messages": len(ideal),
        "embed_chars_mean": sum(embed_total([e]) for e in embeds) / max(1, len(embeds)),
        "edits": stats["edits"],
        "rate_limited": sum(stats["rate_limited"].values()),
        "rejected": stats["rejected"],
        "last_change_s": last,
        "emit_seconds": result["emit_seconds"],
        "ceiling_s": ceiling,
        "efficiency": ceiling / last if last > 0 and embeds else None,
        "pacing": as_sent / last if last > 0 and messages else None,
        "export_us_per_span": 1e6 * result["export_seconds"] / max(1, result["handed_over"]),
        "export_cpu_us_per_span": 1e6 * result["export_cpu_seconds"] / max(1, result["handed_over"]),
        "engine_scaled": result["engine_scaled"],
        "engine_stats": engine_stats,
        "notes_in_content": [m.content for m in messages if m.content][-3:],
    }


# --------------------------------------------------------------------------- rows


def _distinct_rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    tag, rows = run["label"], []
    status = "all delivered" if run["complete"] else f"{run['represented']:,} of {run['handed_over']:,} by then"
    per_message = run["embeds"] / max(1, run["messages"])
    ideal = run["embeds"] / max(1, run["ideal_messages"])
    if run["flood"]["rate_cap"] in (None, CAP_OFF):
        note = (
            f"{per_message:.2f} embeds per message vs {ideal:.2f} possible (mean embed "
            f"{run['embed_chars_mean']:.0f} chars); request pacing alone reaches "
            f"{run['pacing'] or 0:.2f} of the limits"
        )
        if run["efficiency"] is None:
            rows.append(na_metric(f"{tag}: share of the ceiling", "nothing was delivered", f"≥ {TARGET_CEILING}"))
        elif run["engine_scaled"] is False:
            rows.append(
                metric(
                    f"{tag}: share of the ceiling",
                    "ratio",
                    run["efficiency"],
                    target=f"≥ {TARGET_CEILING}",
                    note="this build's engine ignores CHANNEL_WINDOW: its budget is not scaled, not comparable",
                )
            )
        elif run["flood"].get("stress"):
            rows.append(
                metric(
                    f"{tag}: share of the ceiling",
                    "ratio",
                    run["efficiency"],
                    ratio=f"ideal {run['ceiling_s']:.1f} s for these embeds",
                    note=note + "; a stress run (export needs "
                    f"{run['export_cpu_us_per_span'] * run['handed_over'] / 1e6:.0f} s of CPU for a "
                    f"{run['flood']['emit_seconds']:g} s flood), not judged",
                )
            )
        else:
            rows.append(
                metric(
                    f"{tag}: share of the ceiling",
                    "ratio",
                    run["efficiency"],
                    ratio=f"ideal {run['ceiling_s']:.1f} s for these embeds",
                    target=f"≥ {TARGET_CEILING}",
                    passed=run["efficiency"] >= TARGET_CEILING,
                    note=note,
                )
            )
        # At Discord's own limits the channel's 30 messages a minute bind, whatever the pace of the flood.
        real_hours = run["handed_over"] / max(ideal, 1.0) / CHANNEL_LIMIT * CHANNEL_WINDOW / 3600
        rows.append(
            metric(
                f"{tag}: time to last delivery",
                "s",
                run["last_change_s"],
                headline=True,
                ratio=f"{status}; all ≈ {real_hours:.1f} h at Discord's limits",
            )
        )
        rows.append(
            metric(
                f"{tag}: export() CPU per error span",
                "µs",
                run["export_cpu_us_per_span"],
                headline=True,
                ratio=f"wall {run['export_us_per_span']:,.0f} µs",
                note="detect, route, render and enqueue, on the SDK's export thread",
            )
        )
    else:
        rows.append(
            metric(
                f"{tag}: time until all represented",
                "s",
                run["last_change_s"],
                ratio=f"{run['messages']} messages; {status}",
                target="all represented",
                passed=run["complete"],
                note="the cap posts the first notices of each minute and folds the rest into a digest",
            )
        )
    return rows


def _repeat_rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    tag = run["label"]
    kept = run["handed_over"] / run["flood"]["count"]
    lag = run["last_change_s"] - run["emit_seconds"]
    sdk = f"the SDK passed {kept:.0%} of the spans to the exporter" + (
        "" if kept >= 1 else " and dropped the rest (its queue was full)"
    )
    return [
        metric(
            f"{tag}: final count after the flood",
            "s",
            lag,
            headline=True,
            ratio=f"{run['messages']} message(s), {run['edits']} edits",
            note=f"{sdk}; export() took {run['export_cpu_us_per_span']:,.0f} µs CPU "
            f"({run['export_us_per_span']:,.0f} µs wall) per span",
        ),
        metric(
            f"{tag}: notices represented",
            "%",
            100 * run["represented"] / max(1, run["handed_over"]),
            target="100 %",
            passed=run["complete"],
            ratio=f"{run['represented']:,} of {run['handed_over']:,} handed over",
        ),
    ]


def plan(mode: Mode, cap_default: int | None) -> tuple[list[Flood], list[Flood]]:
    """(floods run alone, floods run side by side afterwards)."""
    caps: list[str | None] = [None] if cap_default is None else [CAP_OFF, str(cap_default or 10)]
    off, on = caps[0], caps[-1]
    distinct_count, repeat_count = mode.pick(300, 10_000), mode.pick(3_000, 100_000)
    minute = mode.pick(3.0, 60.0)  # repeats: real time; quick mode keeps the rate (1,000/s), not the count
    # Judged: the minute of errors in a real minute, delivered under windows ÷ SCALE. Stress (full
    # runs): the minute ÷ SCALE too, 5,000 errors a second, far more than the export thread's CPU
    # can take (the SDK would drop most of them): it shows what delivery gets while export hogs the GIL.
    alone = [Flood("distinct", distinct_count, mode.pick(60.0 / SCALE, 60.0), True, mode.pick(3.0, 25.0), off)]
    if not mode.quick:
        alone.append(Flood("distinct", distinct_count, 60.0 / SCALE, True, 25.0, off, stress=True))
    side_by_side = [Flood("repeats", repeat_count, minute, False, 15.0, cap) for cap in dict.fromkeys(caps)]
    if on != off and not mode.quick:  # the cap's minute is real time: a digest takes ~70 s
        side_by_side.insert(0, Flood("distinct", distinct_count, 60.0 / SCALE, True, 90.0, on))
    return alone, side_by_side


def run(mode: Mode) -> dict[str, Any]:
    cap_default = rate_cap_default()
    alone, side_by_side = plan(mode, cap_default)
    runs = [run_flood(flood) for flood in alone]
    with ThreadPoolExecutor(len(side_by_side)) as pool:
        runs += list(pool.map(run_flood, side_by_side))
    rows = []
    for r in runs:
        rows += _distinct_rows(r) if r["flood"]["scenario"] == "distinct" else _repeat_rows(r)
    if cap_default is None:
        rows.append(na_metric("per-channel rate cap on", "n/a: this build has no RATE_CAP setting"))
    elif mode.quick:
        rows.append(na_metric("distinct, cap on", "full runs only: the cap's minute is real time"))
    limited = sum(r["rate_limited"] for r in runs)
    rows.append(
        metric(
            "429 answers, all floods",
            "count",
            limited,
            target="0",
            passed=limited == 0,
            note=", ".join(f"{r['label']}: {r['rate_limited']}" for r in runs),
        )
    )
    return {
        "title": TITLE,
        "config": {
            "scale": SCALE,
            "scale_note": (
                f"Distinct floods run with Discord's windows divided by {SCALE} (5 requests / "
                f"{WEBHOOK_WINDOW / SCALE:.3f} s per webhook, 30 messages / {CHANNEL_WINDOW / SCALE:.0f} s "
                f"per channel, the engine's channel budget likewise; the errors come in one real minute, "
                f"and in a stress run in {60 / SCALE:.0f} s); counts are not scaled. Repeats "
                "run at Discord's real limits and in real time (grouping edits on a real-time interval)."
            ),
            "floods": [f.__dict__ for f in alone + side_by_side],
            "side_by_side": [f.label for f in side_by_side],
        },
        "metrics": rows,
        "raw": {"runs": runs},
    }
