"""Detection: telemetry in, ``Notice`` out (see docs/ARCHITECTURE.md, "detect/")."""

from __future__ import annotations

from otel_discord.detect.spans import SpanDetector
from otel_discord.detect.sql import normalize_sql
from otel_discord.detect.stack import Frame, first_app_frame, parse_frames

__all__ = ["Frame", "SpanDetector", "first_app_frame", "normalize_sql", "parse_frames"]
