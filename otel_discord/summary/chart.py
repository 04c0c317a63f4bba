"""The traffic chart of a summary: a PNG when matplotlib is importable, else a unicode sparkline.

The PNG is drawn with matplotlib's object API on an Agg canvas, never through
``pyplot`` or ``matplotlib.use``: those change process-wide state, and this code
runs inside someone else's application (which may use matplotlib itself).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Final

from otel_discord.health.log import get_logger

_logger = get_logger(__name__)

FILE_NAME: Final = "summary.png"
CONTENT_TYPE: Final = "image/png"
SPARKS: Final = "▁▂▃▄▅▆▇█"
_TRAFFIC_COLOR: Final = "#5865F2"  # Discord blurple
_P95_COLOR: Final = "#F1C40F"


def sparkline(values: Sequence[float | None]) -> str:
    """``▁▂▅█▃``: one character per value, scaled to the largest; a gap (None) is a space."""
    present = [v for v in values if v is not None and math.isfinite(v)]
    if not present:
        return ""
    top = max(present)
    if top <= 0:
        return "".join(" " if v is None else SPARKS[0] for v in values)
    out = []
    for value in values:
        if value is None or not math.isfinite(value):
            out.append(" ")
        else:
            out.append(SPARKS[min(len(SPARKS) - 1, int(max(0.0, value) / top * (len(SPARKS) - 1) + 0.5))])
    return "".join(out)


def matplotlib_available() -> bool:
    try:
        import matplotlib.backends.backend_agg  # noqa: F401
    except Exception:  # ImportError, or a broken install raising anything at import
        return False
    return True


def render_png(
    labels: Sequence[str], requests: Sequence[float], p95_ms: Sequence[float | None], title: str
) -> bytes | None:
    """Requests per bin as bars and p95 latency as a line, 640×280 px; None if it cannot be drawn."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except Exception:
        return None
    try:
        figure = Figure(figsize=(6.4, 2.8), dpi=100)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot(1, 1, 1)
        positions = list(range(len(requests)))
        axes.bar(positions, requests, color=_TRAFFIC_COLOR, width=0.8, label="requests")
        axes.set_ylabel("requests")
        axes.set_title(title, fontsize=10)
        step = max(1, len(labels) // 8)
        axes.set_xticks(positions[::step])
        axes.set_xticklabels(list(labels)[::step], fontsize=8)
        axes.spines[["top", "right"]].set_visible(False)
        latency = axes.twinx()
        points = [(x, y) for x, y in zip(positions, p95_ms) if y is not None and math.isfinite(y)]
        if points:
            latency.plot(
                [x for x, _ in points],
                [y for _, y in points],
                color=_P95_COLOR,
                marker="o",
                markersize=3,
                linewidth=1.5,
                label="p95 ms",
            )
        latency.set_ylabel("p95 ms")
        latency.set_ylim(bottom=0)
        latency.spines[["top"]].set_visible(False)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    except Exception:
        _logger.warning("could not draw the summary chart", exc_info=True)
        return None
