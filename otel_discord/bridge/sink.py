"""The bridge's sink: decoded OTLP goes through the very exporters an app runs in-process.

``PipelineSink`` holds one ``DiscordSpanExporter``, ``DiscordLogExporter`` and
``DiscordMetricExporter``, each constructed exactly as ``opentelemetry-instrument`` would
(same settings, same precedence), so detect → route → group → render → deliver is one
implementation whether telemetry arrives in-process or through a Collector.

What the sink adds is back-pressure. An in-process exporter must never block the app, so
a full delivery backlog drops and counts. Behind a Collector there is a better answer:
refuse the batch (the server turns ``False`` into 503 + Retry-After) and let the
Collector's persistent queue hold it until Discord catches up. "Full" is measured against
where the engine would start losing notices: the spool's row limit (``SPOOL_MAX_ROWS``)
when it spools to disk, else its in-memory queue (``QUEUE_SIZE``), and the in-memory inbox
a burst fills before it reaches the spool. The sink refuses at ``FULL_RATIO`` rather than
at 100 %, because a batch accepted just below the limit may add many notices at once; the
headroom absorbs it.

Signals whose exporter this installation lacks are accepted and ignored (with one
warning): refusing them would make the Collector retry data that can never succeed.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from importlib import import_module
from typing import Any, Final

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.metrics.export import MetricsData
from opentelemetry.sdk.trace import ReadableSpan

from otel_discord.health.log import get_logger

__all__ = ["FULL_RATIO", "PipelineSink", "SIGNAL_EXPORTERS"]

_logger = get_logger(__name__)

#: Refuse new batches once the delivery backlog is this full (see the module docstring).
FULL_RATIO: Final = 0.9

#: signal → (module, class) of its exporter; imported lazily, as the entry points are.
SIGNAL_EXPORTERS: Final[Mapping[str, tuple[str, str]]] = {
    "traces": ("otel_discord.exporters.spans", "DiscordSpanExporter"),
    "logs": ("otel_discord.exporters.logs", "DiscordLogExporter"),
    "metrics": ("otel_discord.exporters.metrics", "DiscordMetricExporter"),
}


def _exporter_class(module_name: str, class_name: str) -> type | None:
    """The exporter class, or None when this installation does not have it."""
    try:
        module = import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise  # the module exists but a dependency of it is missing: a real problem
    return getattr(module, class_name, None)


def _construct(cls: type, kwargs: Mapping[str, Any], strict: bool) -> tuple[Any, set[str]]:
    """``cls(**kwargs)`` with only the arguments it accepts; returns (exporter, names used)."""
    params = inspect.signature(cls).parameters
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    chosen = {name: value for name, value in kwargs.items() if open_ended or name in params}
    used = set(chosen)
    if open_ended or "strict" in params:
        chosen["strict"] = strict
    return cls(**chosen), used


def _data_points(metrics_data: MetricsData) -> int:
    return sum(
        len(metric.data.data_points)
        for resource_metrics in metrics_data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    )


def _backlog_capacity(engine: Any) -> int:
    """How many undelivered notices ``engine`` keeps before it starts dropping the oldest."""
    options = getattr(engine, "options", None)
    if getattr(engine, "durable", False) and options is not None:
        return max(1, int(options.spool_max_rows))  # the spool trims its oldest rows beyond this
    return max(1, int(engine.settings.queue_size))  # memory only: the queue is all there is


def _fill(engine: Any) -> float:
    """How full ``engine`` is (1.0 = the next notice may be dropped), by its tightest limit.

    Undelivered notices count against the backlog capacity. A durable engine also has a
    bounded in-memory inbox (``queue_size``) that a burst may fill before it is moved to the
    spool (within a second); what is pending beyond the spool's own count is in that inbox.
    """
    pending = engine.pending()
    fill = pending / _backlog_capacity(engine)
    if getattr(engine, "durable", False) and hasattr(engine, "spool_depth"):
        inbox = max(0, pending - engine.spool_depth())
        fill = max(fill, inbox / max(1, int(engine.settings.queue_size)))
    return fill


def _accepts(method: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


class PipelineSink:
    """A ``bridge.server.Sink`` feeding the Discord exporters; see the module docstring.

    ``settings`` are the exporters' own keyword arguments (``webhook_url``, ``channels``,
    ``slow_query_ms``, …); each goes to every exporter that accepts it, and an argument no
    exporter accepts is a ``TypeError``. ``strict`` (default True) makes a bad or missing
    setting raise ``ConfigError`` here, at startup, instead of disabling the exporter.
    Thread-safe: the server calls ``export_*`` from several worker threads at once.
    """

    def __init__(
        self,
        *,
        strict: bool = True,
        full_ratio: float = FULL_RATIO,
        signals: Sequence[str] = tuple(SIGNAL_EXPORTERS),
        **settings: Any,
    ) -> None:
        unknown_signals = [s for s in signals if s not in SIGNAL_EXPORTERS]
        if unknown_signals:
            raise ValueError(f"unknown signal(s) {unknown_signals}; expected some of {list(SIGNAL_EXPORTERS)}")
        if not 0 < full_ratio <= 1:
            raise ValueError(f"full_ratio must be in (0, 1], got {full_ratio!r}")
        self._full_ratio = full_ratio
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._warned: set[str] = set()
        self._closed = False
        self._refusing = False
        self.exporters: dict[str, Any] = {}
        self.missing: dict[str, str] = {}  # signal → why it has no exporter
        used: set[str] = set()
        try:
            for signal in SIGNAL_EXPORTERS:
                if signal not in signals:
                    self.missing[signal] = "not enabled"
                    continue
                cls = _exporter_class(*SIGNAL_EXPORTERS[signal])
                if cls is None:
                    self.missing[signal] = f"this otel-discord has no {SIGNAL_EXPORTERS[signal][1]}"
                    continue
                self.exporters[signal], accepted = _construct(cls, settings, strict)
                used |= accepted
            unused = sorted(set(settings) - used)
            if unused and self.exporters:
                raise TypeError(f"no Discord exporter accepts the argument(s) {', '.join(unused)}")
        except BaseException:
            self.shutdown(0.5)  # release the engine of the exporters already built
            raise

    # ------------------------------------------------------------------ Sink protocol
    def export_spans(self, spans: Sequence[ReadableSpan]) -> bool:
        return self._export("traces", spans, len)

    def export_logs(self, records: Sequence[ReadableLogRecord]) -> bool:
        return self._export("logs", records, len)

    def export_metrics(self, metrics_data: MetricsData) -> bool:
        return self._export("metrics", metrics_data, _data_points)

    def _export(self, signal: str, batch: Any, size: Callable[[Any], int]) -> bool:
        try:
            exporter = self.exporters.get(signal)
            if exporter is None:
                self._count(f"{signal}.ignored", size(batch))
                self._warn_once(signal, "%s arrive but are ignored: %s", signal, self.missing.get(signal, "?"))
                return True
            if self._closed:
                # The Collector keeps the batch and retries it at the bridge that replaces this one.
                self._count(f"{signal}.refused", size(batch))
                return False
            full = self.is_full()
            self._note_fullness(full)
            if full:  # the Collector keeps the batch in its queue and retries later
                self._count(f"{signal}.refused", size(batch))
                return False
            exporter.export(batch)
            self._count(f"{signal}.accepted", size(batch))
            return True
        except Exception:  # noqa: BLE001 - nothing may raise into the server thread
            # Accepted rather than refused: a batch that breaks us would break us again on every retry.
            _logger.error("internal error while exporting %s from the bridge (batch ignored)", signal, exc_info=True)
            self._count(f"{signal}.failed", 1)
            return True

    # ------------------------------------------------------------------ state
    def _engines(self) -> list[Any]:
        engines: dict[int, Any] = {}
        for exporter in self.exporters.values():
            # A disabled exporter has no pipeline. (`pipeline` once PipelineExporter exposes it.)
            pipeline = getattr(exporter, "pipeline", None) or getattr(exporter, "_pipeline", None)
            engine = getattr(pipeline, "engine", None)
            if engine is not None:
                engines[id(engine)] = engine
        return list(engines.values())

    def is_full(self) -> bool:
        """True when a delivery engine holds at least ``full_ratio`` of what it can keep."""
        return any(_fill(engine) >= self._full_ratio for engine in self._engines())

    def health(self) -> dict[str, Any]:
        """Numbers for ``/health``: queue use, delivered and dropped notices, batches by signal."""
        engines = self._engines()
        pending = sum(engine.pending() for engine in engines)
        capacity = sum(_backlog_capacity(engine) for engine in engines)
        stats = [engine.stats.snapshot() for engine in engines]
        with self._lock:
            counts = dict(self._counts)
        status = "stopping" if self._closed else ("full" if self.is_full() else "ok")
        return {
            "status": status,
            "queue": {"pending": pending, "capacity": capacity},
            "delivered_embeds": sum(s.get("sent_embeds", 0) for s in stats),
            "dropped_notices": sum(s.get("dropped", 0) for s in stats),
            "signals": {signal: ("on" if signal in self.exporters else "off") for signal in SIGNAL_EXPORTERS},
            "items": counts,
        }

    def channels(self) -> dict[str, str]:
        """Channel name → webhook URL with its token masked, over all signals."""
        found: dict[str, str] = {}
        for exporter in self.exporters.values():
            settings = getattr(exporter, "settings", None)
            if settings is not None:
                found.update(settings.describe()["channels"])
        return found

    def _count(self, key: str, n: int) -> None:
        with self._lock:
            self._counts[key] += n

    def _note_fullness(self, full: bool) -> None:
        """Log each episode of back-pressure once, when it starts and when it ends."""
        with self._lock:
            changed, self._refusing = full != self._refusing, full
        if changed and full:
            _logger.warning(
                "the delivery backlog is %d%% full (Discord is slow or down): asking the Collector "
                "to retry later; nothing is lost while it queues",
                round(self._full_ratio * 100),
            )
        elif changed:
            _logger.info("the delivery backlog has room again: accepting from the Collector")

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        _logger.warning(message, *args)

    # ------------------------------------------------------------------ lifecycle
    def flush(self, timeout: float) -> bool:
        """Deliver everything queued, waiting at most ``timeout`` seconds; True if it all went."""
        deadline = time.monotonic() + max(0.0, timeout)
        done = True
        for signal, exporter in self.exporters.items():
            remaining = max(0.0, deadline - time.monotonic())
            try:
                done = bool(exporter.force_flush(int(remaining * 1000))) and done
            except Exception:  # noqa: BLE001
                _logger.error("internal error while flushing the %s exporter", signal, exc_info=True)
                done = False
        return done

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Refuse new batches, deliver what is queued within ``timeout``, then stop the exporters.

        Returns True if everything was delivered; what was not is in the fallback log.
        Idempotent.
        """
        with self._lock:
            if self._closed:
                return True
            self._closed = True
        deadline = time.monotonic() + max(0.0, timeout)
        delivered = self.flush(timeout)
        for signal, exporter in self.exporters.items():
            remaining = max(0.0, deadline - time.monotonic())
            try:
                if _accepts(exporter.shutdown, "timeout_millis"):
                    exporter.shutdown(timeout_millis=remaining * 1000)
                else:  # the SDK's LogRecordExporter.shutdown() takes no timeout
                    exporter.shutdown()
            except Exception:  # noqa: BLE001
                _logger.error("internal error while stopping the %s exporter", signal, exc_info=True)
        return delivered

    def __repr__(self) -> str:
        return f"PipelineSink(signals={sorted(self.exporters)}, closed={self._closed})"
