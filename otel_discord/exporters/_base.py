"""What every Discord exporter shares: settings resolution that never breaks
the app, one pipeline, idempotent shutdown and bounded flush.

``opentelemetry-instrument`` builds exporters with no arguments, and a raise in
``__init__`` silently disables *all* instrumentation. So a bad or missing
setting logs one ERROR line naming the variable and turns the exporter into a
no-op. Programmatic users who pass settings get the strict path: the same
message as a ``ValueError`` (override with ``strict=``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from otel_discord.config import ConfigError, Settings, resolve
from otel_discord.detect.frames import use_app_packages
from otel_discord.health.drops import guard
from otel_discord.health.log import get_logger
from otel_discord.pipeline import Pipeline, Stages, validate

_logger = get_logger(__name__)


T = TypeVar("T")


@dataclass(frozen=True)
class Configured(Generic[T]):
    """What an exporter is built from: its settings, the routing stages, and its own feature settings."""

    settings: Settings
    stages: Stages
    features: T


def configure(
    signal: str,
    kind: str,
    *,
    strict: bool | None,
    core: Mapping[str, Any],
    features: Callable[[Settings], T],
    given: bool = False,
) -> Configured[T] | None:
    """Resolve settings, build the routing stages and the exporter's own options, once.

    The one "lenient under opentelemetry-instrument, strict in code" rule: ``strict``
    defaults to whether the caller passed any setting (``core`` values, or ``given`` for
    the exporter's own arguments). Strict raises the ``ConfigError``; lenient logs one
    ERROR line naming the setting and returns None (the exporter becomes a no-op).
    """
    explicit = {k: v for k, v in core.items() if v is not None}
    strict = (bool(explicit) or given) if strict is None else strict
    try:
        settings = resolve(signal, **explicit)
        stages = validate(settings)  # routes, filters and schedules: refuse here, not on the first notice
        use_app_packages(settings.app_packages)  # one list per process: stack traces are read everywhere
        return Configured(settings, stages, features(settings))
    except ConfigError as exc:
        if strict:
            raise
        _logger.error("the Discord %s exporter is disabled: %s", kind, exc)
        return None


def no_features(settings: Settings) -> None:
    """For exporters with no options beyond the core settings."""
    return None


class PipelineExporter:
    """Shared lifecycle: settings → pipeline, idempotent shutdown, bounded flush."""

    _pipeline: Pipeline | None
    _shutdown_done: bool

    def _start(self, configured: Configured[Any] | None) -> None:
        self._pipeline = Pipeline(configured.settings, stages=configured.stages) if configured is not None else None
        self._shutdown_done = False

    @property
    def pipeline(self) -> Pipeline | None:
        """The exporter's pipeline (None when disabled); the gateway reads its engine's backlog."""
        return self._pipeline

    @property
    def settings(self) -> Settings | None:
        return self._pipeline.settings if self._pipeline else None

    @property
    def enabled(self) -> bool:
        return self._pipeline is not None and not self._shutdown_done

    def _flush(self, timeout_millis: float) -> bool:
        if not self.enabled:
            return True
        assert self._pipeline is not None
        return self._pipeline.flush(timeout_millis / 1000)

    def _close(self, timeout_millis: float) -> None:
        if self._shutdown_done:
            _logger.warning("exporter already shut down, ignoring call")
            return
        self._shutdown_done = True
        if self._pipeline is not None:
            with guard("shutdown"):
                self._pipeline.release(timeout_millis / 1000)
