"""The span exporter: spans → error, slow-query and slow-request notices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_discord.exporters._base import PipelineExporter, configure
from otel_discord.health.drops import guard


class DiscordSpanExporter(PipelineExporter, SpanExporter):
    """Posts error, slow-query and slow-request spans to Discord.

    Every argument is optional and overrides its ``OTEL_EXPORTER_DISCORD_*``
    variable (see the README's settings table).
    """

    def __init__(
        self,
        webhook_url: str | None = None,
        *,
        channels: dict[str, str] | None = None,
        allowed_hosts: str | list[str] | None = None,
        slow_query_ms: float | None = None,
        slow_request_ms: float | None = None,
        timeout: float | None = None,
        queue_size: int | None = None,
        trace_url: str | None = None,
        spool_dir: str | None = None,
        username: str | None = None,
        avatar_url: str | None = None,
        mask_pii: bool | None = None,
        environment: str | None = None,
        config_file: str | None = None,
        strict: bool | None = None,
    ) -> None:
        from otel_discord.detect.spans import SpanDetector

        configured = configure(
            "traces",
            "span",
            strict=strict,
            core=dict(
                webhook_url=webhook_url,
                channels=channels,
                allowed_hosts=allowed_hosts,
                slow_query_ms=slow_query_ms,
                slow_request_ms=slow_request_ms,
                timeout=timeout,
                queue_size=queue_size,
                trace_url=trace_url,
                spool_dir=spool_dir,
                username=username,
                avatar_url=avatar_url,
                mask_pii=mask_pii,
                environment=environment,
                config_file=config_file,
            ),
            features=SpanDetector,
        )
        self._detector = configured.features if configured is not None else None
        self._start(configured)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        # Always SUCCESS: a failure here would only make the SDK log and drop the
        # batch; our own losses are counted and reported by the engine instead.
        if not self.enabled or self._detector is None:
            return SpanExportResult.SUCCESS
        assert self._pipeline is not None
        with guard("export spans"):
            notices = self._detector(spans)
            if notices:
                self._pipeline.submit(notices)
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Deliver what is queued, waiting at most ``timeout_millis``."""
        return self._flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **_: Any) -> None:
        """Flush within the timeout, then stop (the shared engine stops with its last exporter)."""
        self._close(timeout_millis)
