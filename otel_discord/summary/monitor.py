"""One export (or an idle tick) → persisted figures → the notices that are due.

``Monitor.process`` runs on the SDK's export thread. In order:

1. turn the metrics into changes and drain ``observe`` (db query counts and
   business events; the drain is destructive, so it happens once, here);
2. persist this process's share in one short transaction: the minute's tally
   per service, running totals, instance heartbeats, the lease heartbeat. If the
   file is busy or broken, the share is kept in memory and added next time;
3. alert job failures (from the drained events);
4. per service: thresholds (one evaluator per minute, elected), overdue jobs,
   milestones, and every schedule whose tick passed (one poster per tick,
   elected); every quarter hour, compaction.

After a fork the child starts with its own lock and no unsaved figures (the parent saves its own): one reset registered with ``health/forks.py``, whose single at-fork hook runs it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry.sdk.metrics.export import MetricsData

from otel_discord.detect import observations as observe
from otel_discord.health import forks
from otel_discord.health.log import get_logger
from otel_discord.notice import Notice
from otel_discord.summary import chart, report
from otel_discord.summary.accumulate import Accumulator, Batch
from otel_discord.summary.collect import add_observations, money_key, tallies
from otel_discord.summary.config import SummaryConfig
from otel_discord.summary.jobs import Jobs
from otel_discord.summary.lifecycle import Lifecycle, health_notice
from otel_discord.summary.milestones import Milestones
from otel_discord.summary.schedules import Schedule, period_start
from otel_discord.summary.state import COARSE_SLOT_S, SLOT_S, Store
from otel_discord.summary.tally import Tally, merged
from otel_discord.summary.thresholds import Thresholds

_logger = get_logger(__name__)  # a config error or exception text might quote a webhook URL

#: Two beats further apart than this (or 2.5 export intervals) leave a gap in uptime.
GAP_FLOOR_S: Final = 150.0
TOTAL_PERIODS: Final = ("day", "week", "month", "quarter", "year")
_ALERTS: Final = "_alerts"
_MAINTENANCE: Final = "_maintenance"
_HEALTH: Final = "_health:"
_EVERYWHERE: Final = "*"


@dataclass(frozen=True)
class Post:
    """A notice to submit, with files to attach (the chart) and the embed image naming one."""

    notice: Notice
    files: tuple[tuple[str, bytes, str], ...] = ()
    image: str | None = None


class Monitor:
    """Everything the metric exporter does besides delivery (see the module docstring)."""

    def __init__(
        self,
        config: SummaryConfig,
        store: Store,
        *,
        service: str,
        version: str | None = None,
        channels: Mapping[str, str] | None = None,
        attachments: bool = False,
        delivery_stats: Callable[[], Mapping[str, int]] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.service = service
        self._attachments = attachments
        self._delivery_stats = delivery_stats
        self._accumulator = Accumulator()
        self._thresholds = Thresholds(config.thresholds, store)
        self._jobs = Jobs(config.jobs, store, config.tz)
        self._milestones = Milestones(config.milestones, store, config.tz, config.currency)
        self.lifecycle = Lifecycle(store, service, version=version, tz=config.tz, channels=channels or {})
        self._services: set[str] = {service}
        self._own: str | None = None
        self._known: dict[str, Any] = {}  # instance id → Identity, to name instances in alerts
        self._since: dict[tuple[str, str], float] = {}
        self._seen: dict[tuple[str, str], float] = {}
        self._init_process_state()
        forks.in_child(self._init_process_state)

    def _init_process_state(self) -> None:
        self._lock = threading.Lock()
        self._unsaved: dict[str, Tally] = {}  # the parent saves its own; a child starts empty
        self._beats: dict[tuple[str, str], tuple[float, list[float]]] = {}
        self._last_identities: dict[tuple[str, str], float | None] = {}
        self._warned_store = False

    # --- entry points ---------------------------------------------------------------------
    def startup(self, now: float) -> list[Post]:
        if not self.config.system_events:
            return []
        return [Post(n) for n in self._safely("starting up", lambda: self.lifecycle.start(now), [])]

    def shutdown(self, now: float) -> list[Post]:
        return [Post(n) for n in self._safely("shutting down", lambda: self.lifecycle.stop(now), [])]

    def process(self, data: MetricsData | None, now: float) -> list[Post]:
        """Handle one export (``data``) or an idle tick (``None``); return what to post."""
        with self._lock:
            batch = self._accumulator.changes(data) if data is not None else Batch([], {}, {})
            counts, events = observe.drain()
            by_service = tallies(batch, self.config.business, now=now)
            own = self.config.service_name or self._own_service(batch)
            add_observations(by_service.setdefault(own, Tally()), counts, events, self.config.currency)
            if data is not None:
                self._last_identities = {key: None for key in batch.identities}
                self._known.update({instance: identity for (_, instance), identity in batch.identities.items()})
            self._persist(by_service, batch, now)
            posts = [Post(n) for n in self._safely("recording jobs", lambda: self._jobs.record(own, events, now), [])]
            self._services.update(by_service)
            for service in sorted(self._services):
                posts += self._safely(f"evaluating {service}", lambda s=service: self._due(s, own, now), [])
            self._safely("compacting the summary state", lambda: self._maintain(now), None)
            return posts

    # --- persistence ----------------------------------------------------------------------
    def _own_service(self, batch: Batch) -> str:
        """Where this process's own observations go: the service its metrics come from, if only one."""
        services = {service for service, _ in batch.identities}
        if len(services) == 1:
            self._own = next(iter(services))
        return self._own or self.service

    def _persist(self, by_service: dict[str, Tally], batch: Batch, now: float) -> None:
        for service, tally in self._unsaved.items():
            by_service.setdefault(service, Tally()).merge(tally)
        beats = self._beat_list(batch, now)
        try:
            with self.store.transaction() as db:
                for service, tally in by_service.items():
                    if tally.is_empty():
                        continue
                    self.store.add_slot(db, service, now, tally)
                    self.store.add_totals(db, service, self._totals(tally, now))
                for service, instance, started, gap in beats:
                    self.store.heartbeat(db, service, instance, now, started=started, gap=gap)
                self.lifecycle.beat(db, now)
        except Exception as exc:
            self._unsaved = {s: t for s, t in by_service.items() if not t.is_empty()}
            if not self._warned_store:
                self._warned_store = True
                _logger.warning("cannot write the summary state (%s); keeping this interval in memory", exc)
            return
        self._unsaved = {}
        self._warned_store = False

    def _totals(self, tally: Tally, now: float) -> dict[tuple[str, str, str], float]:
        starts = {kind: period_start(kind, now, self.config.tz).isoformat() for kind in TOTAL_PERIODS}
        return {
            (figure, kind, start): value for figure, value in tally.figures.items() for kind, start in starts.items()
        }

    def _beat_list(self, batch: Batch, now: float) -> list[tuple[str, str, float | None, float]]:
        """(service, instance, stream start, allowed gap) for every instance heard from."""
        keys = batch.identities.keys() if batch.identities else self._last_identities.keys()
        result = []
        for key in keys:
            last, gaps = self._beats.get(key, (None, []))
            if last is not None and now > last:
                gaps = (gaps + [now - last])[-3:]
            self._beats[key] = (now, gaps)
            gap = max(GAP_FLOOR_S, 2.5 * min(gaps)) if gaps else GAP_FLOOR_S
            started_ns = batch.started_ns.get(key)
            started = started_ns / 1e9 if started_ns and last is None else None
            result.append((key[0], key[1], started, gap))
        return result

    # --- what is due ----------------------------------------------------------------------
    def _due(self, service: str, own: str, now: float) -> list[Post]:
        posts: list[Post] = []
        if self._thresholds and self.store.claim(service, _ALERTS, float(int(now // SLOT_S) * SLOT_S), now):
            posts += [Post(n) for n in self._thresholds.evaluate(service, now, self._describe)]
        if service == own:
            posts += [Post(n) for n in self._jobs.overdue(service, now)]
        if self._milestones:
            posts += [Post(n) for n in self._milestones.check(service, now)]
        for schedule in self.config.schedules:
            tick = self._claimable(service, schedule.spec, schedule, now)
            if tick is not None:
                post = self._safely("building a summary", lambda: self._summary(service, schedule, tick, now), None)
                if post is not None:
                    posts.append(post)
        health = self.config.health
        if health is not None:
            tick = self._claimable(service, _HEALTH + health.spec, health, now)
            if tick is not None:
                posts.append(Post(self._health(service, health, tick, now)))
        return posts

    def _claimable(self, service: str, name: str, schedule: Schedule, now: float) -> float | None:
        """The latest tick of ``schedule`` if this process just won it, else None."""
        tick = schedule.latest_tick(now)
        key = (service, name)
        if self._seen.get(key) == tick:
            return None
        if key not in self._since:
            self._since[key] = self.store.schedule_since(service, name, now)
        if tick <= self._since[key]:
            self._seen[key] = tick  # no summary of a time before the schedule existed
            return None
        if self.store.claim(service, name, tick, now):
            self._seen[key] = tick
            return tick
        rows = self.store.read(
            "SELECT done_at FROM ticks WHERE service=? AND schedule=? AND tick=?", (service, name, tick)
        )
        if rows and rows[0][0] is not None:
            self._seen[key] = tick  # else the winner is still at it (or died): ask again next time
        return None

    def _summary(self, service: str, schedule: Schedule, tick: float, now: float) -> Post | None:
        start, end = schedule.period(tick)
        rows = self.store.slots(service, start, end)
        tally = merged(t for _, t in rows)
        values = report.figures(tally, self.store.uptime(service, start, end))
        previous = self.store.previous_figures(service, schedule.spec, tick)
        self.store.finish(service, schedule.spec, tick, now, values)
        if report.is_quiet(values):
            return None
        revenue = money_key("revenue", None, self.config.currency)
        to_date = {
            kind: self.store.total(service, revenue, kind, period_start(kind, end - 1, self.config.tz).isoformat())
            for kind in ("day", "month", "quarter")
        }
        labels, requests, p95 = report.chart_series(rows, start, end, self.config.tz)
        files: tuple[tuple[str, bytes, str], ...] = ()
        png = None
        if self._attachments and self.config.chart and any(requests):
            png = chart.render_png(labels, requests, p95, f"{service} · requests and p95 (ms)")
        spark = ""
        if png is not None:
            files = ((chart.FILE_NAME, png, chart.CONTENT_TYPE),)
        elif any(requests):
            spark = f"Requests {chart.sparkline(requests)}\np95 ms {chart.sparkline(p95)}"
        notice = report.summary_notice(
            service=service,
            schedule=schedule,
            tick=tick,
            tally=tally,
            values=values,
            previous=previous,
            to_date=to_date,
            currency=self.config.currency,
            spark=spark,
            style=self.config.amount_style,
        )
        return Post(notice, files, f"attachment://{chart.FILE_NAME}" if files else None)

    def _health(self, service: str, schedule: Schedule, tick: float, now: float) -> Notice:
        start, end = schedule.period(tick)
        tally = merged(t for _, t in self.store.slots(service, start, end, routes=False))
        stats = self._delivery_stats() if self._delivery_stats is not None else {}
        up_since = self.lifecycle.started_at if service == self.lifecycle.service else None
        figures = {
            "instances": self.store.instances_alive(service, now - 5 * 60),
            "up_since": up_since,
            "requests": tally.get("requests"),
            "errors": tally.get("errors"),
            "dropped": int(stats.get("dropped", 0)),
            "period": f"Since the last heartbeat ({schedule.spec}).",
        }
        self.store.finish(service, _HEALTH + schedule.spec, tick, now, {})
        return health_notice(service, now, figures)

    def _maintain(self, now: float) -> None:
        quarter = float(int(now // COARSE_SLOT_S) * COARSE_SLOT_S)
        if self._seen.get((_EVERYWHERE, _MAINTENANCE)) == quarter:
            return
        self._seen[(_EVERYWHERE, _MAINTENANCE)] = quarter
        if self.store.claim(_EVERYWHERE, _MAINTENANCE, quarter, now):
            merged_rows = self.store.compact(now)
            self.store.finish(_EVERYWHERE, _MAINTENANCE, quarter, now, {"merged": merged_rows})

    def _describe(self, instance: str) -> str:
        identity = self._known.get(instance)
        host = identity.get("host.name") if identity is not None else None
        pid = identity.get("process.pid") if identity is not None else None
        details = ", ".join(part for part in (f"host {host}" if host else "", f"pid {pid}" if pid else "") if part)
        return f"instance {instance[:8]}" + (f" ({details})" if details else "")

    @staticmethod
    def _safely(what: str, action: Callable[[], Any], default: Any) -> Any:
        try:
            return action()
        except Exception:
            _logger.error("internal error while %s (otel-discord keeps running)", what, exc_info=True)
            return default
