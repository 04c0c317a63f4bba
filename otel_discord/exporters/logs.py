"""The log exporter: log records → business events, logged exceptions and warnings on Discord."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

from otel_discord.config import Settings
from otel_discord.exporters._base import PipelineExporter, configure
from otel_discord.health.drops import guard
from otel_discord.health.log import get_logger
from otel_discord.notice import Notice

_logger = get_logger(__name__)


class DiscordLogExporter(PipelineExporter, LogRecordExporter):
    """Posts business events, logged exceptions and warnings to Discord.

    Every argument is optional and overrides its ``OTEL_EXPORTER_DISCORD_*``
    variable (see the README's settings tables).
    """

    def __init__(
        self,
        webhook_url: str | None = None,
        *,
        channels: dict[str, str] | None = None,
        allowed_hosts: str | list[str] | None = None,
        timeout: float | None = None,
        queue_size: int | None = None,
        trace_url: str | None = None,
        spool_dir: str | None = None,
        username: str | None = None,
        avatar_url: str | None = None,
        mask_pii: bool | None = None,
        environment: str | None = None,
        config_file: str | None = None,
        log_min_level: str | int | None = None,
        log_error_hold_ms: float | None = None,
        amount_style: str | None = None,
        high_value_amount: float | str | None = None,
        duplicate_window_s: float | None = None,
        failed_login_limit: int | None = None,
        failed_login_window_s: float | None = None,
        strict: bool | None = None,
    ) -> None:
        from otel_discord.detect.events import EventDetector, EventOptions
        from otel_discord.detect.logs import LogDetector, LogOptions

        core = dict(
            webhook_url=webhook_url,
            channels=channels,
            allowed_hosts=allowed_hosts,
            timeout=timeout,
            queue_size=queue_size,
            trace_url=trace_url,
            spool_dir=spool_dir,
            username=username,
            avatar_url=avatar_url,
            mask_pii=mask_pii,
            environment=environment,
            config_file=config_file,
        )
        features = dict(
            amount_style=amount_style,
            high_value_amount=high_value_amount,
            duplicate_window_s=duplicate_window_s,
            failed_login_limit=failed_login_limit,
            failed_login_window_s=failed_login_window_s,
        )
        # SimpleLogRecordProcessor calls export() from application threads, and a held
        # notice is delivered from the dedupe thread: one lock keeps the pipeline serial.
        self._lock = threading.Lock()
        self._detector: LogDetector | None = None

        def detector(settings: Settings) -> LogDetector:
            events = EventDetector(EventOptions.from_settings(settings, **features))
            options = LogOptions.from_settings(
                settings, log_min_level=log_min_level, log_error_hold_ms=log_error_hold_ms
            )
            return LogDetector(settings, options, events, deliver=self._deliver_held)

        given = any(v is not None for v in (*features.values(), log_min_level, log_error_hold_ms))
        configured = configure("logs", "log", strict=strict, core=core, features=detector, given=given)
        self._detector = configured.features if configured is not None else None
        self._start(configured)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        # Always SUCCESS: a failure would only make the SDK log and drop the batch;
        # our own losses are counted and reported by the delivery engine.
        if not self.enabled or self._detector is None:
            return LogRecordExportResult.SUCCESS
        with guard("export logs"):
            notices = self._detector(batch, now=time.time())
            if notices:
                with self._lock:
                    assert self._pipeline is not None
                    self._pipeline.submit(notices)
        return LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Deliver what is queued (logged exceptions still waiting for their span included)."""
        self._release_held()
        return self._flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **_: Any) -> None:
        """Deliver held and queued notices within the timeout, then stop."""
        if not self._shutdown_done:
            self._release_held()
        self._close(timeout_millis)

    def _deliver_held(self, notice: Notice) -> None:
        if not self.enabled:
            return
        with guard("deliver a held log notice"), self._lock:
            assert self._pipeline is not None
            self._pipeline.submit([notice])

    def _release_held(self) -> None:
        if self._detector is not None:
            for deliver, notice in self._detector.take_held():
                deliver(notice)
