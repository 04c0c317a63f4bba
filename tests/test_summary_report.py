"""How a summary reads on a phone: fields, an aligned table, trend arrows, Discord's limits."""

from __future__ import annotations

import pytest
from test_summary_support import AMS, local

from otel_discord.render.embed import render_embed
from otel_discord.render.payload import build_payload
from otel_discord.summary import report
from otel_discord.summary.schedules import parse_schedule
from otel_discord.summary.tally import Tally
from otel_discord.testing import validate_execute

BOUNDS = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000]


def route_tally(routes: dict[str, tuple[int, int, int]]) -> Tally:
    """routes: name → (requests, errors, bucket index of their latency)."""
    tally = Tally()
    for name, (requests, errors, index) in routes.items():
        counts = [0] * (len(BOUNDS) + 1)
        counts[index] = requests
        route = tally.route(name)
        route.requests, route.errors = requests, errors
        route.latency.add(BOUNDS, counts, requests * BOUNDS[min(index, len(BOUNDS) - 1)])
        tally.latency.add(BOUNDS, counts, requests * BOUNDS[min(index, len(BOUNDS) - 1)])
        tally.add("requests", requests)
        tally.add("errors", errors)
    return tally


class TestTable:
    def test_columns_line_up(self):
        """Every row of a section has the same width, whatever the route and the numbers."""
        tally = route_tally(
            {
                "GET /invoices": (5210, 0, 7),
                "POST /invoices/<int:invoice_id>/pay": (12, 1, 9),
                "GET /reports/slow": (3, 0, 12),
                "GET /healthz": (120000, 0, 1),
            }
        )
        table = report.route_table(tally)
        lines = [line for line in table.splitlines() if line]
        assert len({len(line) for line in lines}) == 1, table
        assert lines[0].startswith("Top routes")
        assert "120k" in table  # large counts stay within the column
        assert "POST /invoices/*/pay" in table

    def test_busiest_first_then_slowest_first(self):
        tally = route_tally({"GET /a": (10, 0, 4), "GET /b": (50, 0, 2), "GET /c": (1, 0, 12)})
        busiest, slowest = report.route_table(tally).split("\n\n")
        assert [line.split()[1] for line in busiest.splitlines()[1:]] == ["/b", "/a", "/c"]
        assert [line.split()[1] for line in slowest.splitlines()[1:]] == ["/c", "/a", "/b"]

    def test_flask_converters_read_as_placeholders(self):
        assert report.short_route("GET /btw/<quarter>") == "GET /btw/*"
        assert report.short_route("POST /invoices/<int:invoice_id>/pay") == "POST /invoices/*/pay"

    def test_overlong_route_keeps_both_ends(self):
        result = report.short_route("POST /administration/settings/<int:account_id>/export")
        assert result.startswith("POST /ad") and result.endswith("/export") and "…" in result


@pytest.mark.parametrize(
    ("cents", "currency", "text"),
    [(525050, "EUR", "€5,250"), (5250, "EUR", "€52.50"), (10000000, "EUR", "€100,000"), (1200, "CHF", "CHF 12.00")],
)
def test_money(cents, currency, text):
    assert report.format_money(cents, currency) == text


class TestTrend:
    @pytest.mark.parametrize(
        ("now", "before", "text"),
        [(110, 100, " ▲ 10%"), (90, 100, " ▼ 10%"), (100, 100, " ="), (5, 0, " ▲ new"), (5, None, ""), (0, 0, "")],
    )
    def test_relative(self, now, before, text):
        assert report._trend(now, before) == text

    def test_rates_move_in_points(self):
        assert report._trend(2.5, 1.0, points=True) == " ▲ 1.50 pt"


def test_summary_stays_within_discord_limits_with_many_routes():
    """Forty long routes and every business figure: the rendered message is one valid Discord message."""
    schedule = parse_schedule("daily@18:00", AMS)
    tick = local(2025, 10, 14, 18, 0)
    tally = route_tally(
        {f"GET /very/long/route/number/{i}/<int:item_id>/details": (i + 1, i % 3, i % 14) for i in range(40)}
    )
    tally.add("revenue", 1234567)
    tally.add("invoices_created", 9)
    tally.add("event:auth.login_failed", 4)
    values = report.figures(tally, 0.998)
    notice = report.summary_notice(
        service="ozark",
        schedule=schedule,
        tick=tick,
        tally=tally,
        values=values,
        previous=None,
        to_date={"day": 1234567, "month": 2e6, "quarter": 9e6},
        currency="EUR",
        spark="Requests ▁▂▃",
    )
    payload = build_payload([render_embed(notice)])
    assert validate_execute(payload) == []
    embed = payload["embeds"][0]
    assert all(f["inline"] for f in embed["fields"][:8])
    assert "```" in embed["description"]


def test_dutch_amount_style():
    """AMOUNT_STYLE=nl: the same numbers as a Dutch bookkeeper writes them, in fields and table alike."""
    assert report.localize("€41,094 · 0.29% (1,148)", "nl") == "€41.094 · 0,29% (1.148)"
    tally = route_tally({"GET /export.csv": (12345, 0, 7)})
    tally.add("revenue", 4109450)
    assert "GET /export.csv      12,3k" in report.route_table(tally, "nl")  # the route keeps its dot
    notice = report.summary_notice(
        service="ozark",
        schedule=parse_schedule("daily@18:00", AMS),
        tick=local(2025, 10, 14, 18, 0),
        tally=tally,
        values=report.figures(tally, None),
        previous=None,
        to_date={},
        currency="EUR",
        style="nl",
    )
    fields = {f.name: f.value for f in notice.fields}
    assert fields["Requests"] == "12.345" and fields["Revenue"] == "€41.094"
