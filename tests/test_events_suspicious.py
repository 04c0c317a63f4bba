"""Suspicious activity: duplicate entries and repeated failed logins, with the time passed in."""

from __future__ import annotations

import logging
import time

from test_logs_support import settings, telemetry

from otel_discord.detect.dedupe import ExceptionRegistry
from otel_discord.detect.events import EventDetector, EventOptions
from otel_discord.detect.logs import LogDetector, LogOptions
from otel_discord.detect.suspicious import DuplicateEntries, FailedLogins
from otel_discord.notice import Category, Kind, Severity

MIN = 60.0


def invoice(number, client="Bakkerij de Vries", amount=2450.0, **extra):
    return {"invoice.number": number, "invoice.client": client, "invoice.amount": amount, **extra}


class TestDuplicateEntries:
    def test_same_client_and_amount_within_the_window(self):
        """The second entry within 10 minutes is suspicious; the first never is."""
        detector = DuplicateEntries(window=10 * MIN)
        assert detector.observe("invoice.created", invoice("250089"), at=0) is None
        finding = detector.observe("invoice.created", invoice("250091"), at=3 * MIN)
        assert finding is not None
        assert (finding.event_name, finding.severity, finding.category) == (
            "suspicious.duplicate_entry",
            Severity.WARNING,
            Category.SECURITY,
        )
        assert finding.attributes["duplicate.number"] == "250091"
        assert finding.attributes["duplicate.previous_number"] == "250089"
        assert finding.attributes["duplicate.seconds_apart"] == 180

    def test_client_spelling_is_normalised_but_amounts_must_match(self):
        """Case and spacing of the client do not hide a duplicate; a different amount is no duplicate."""
        detector = DuplicateEntries(window=10 * MIN)
        detector.observe("invoice.created", invoice("1", client="Bakkerij de Vries"), at=0)
        assert detector.observe("invoice.created", invoice("2", client="bakkerij  de vries "), at=1) is not None
        assert detector.observe("invoice.created", invoice("3", amount=2450.5), at=2) is None
        assert detector.observe("invoice.created", invoice("4", client="Smit"), at=3) is None

    def test_outside_the_window_or_other_events(self):
        """Eleven minutes apart is fine; updates and payments are not new entries."""
        detector = DuplicateEntries(window=10 * MIN)
        detector.observe("invoice.created", invoice("1"), at=0)
        assert detector.observe("invoice.created", invoice("2"), at=11 * MIN) is None
        assert detector.observe("invoice.updated", invoice("2"), at=11 * MIN + 1) is None
        assert detector.observe("invoice.paid", invoice("2"), at=11 * MIN + 2) is None

    def test_one_notice_for_a_burst(self):
        """A third and fourth copy within the window do not alert again; after the window a new burst does."""
        detector = DuplicateEntries(window=10 * MIN)
        results = [detector.observe("invoice.created", invoice(str(n)), at=n * MIN) for n in range(4)]
        assert [r is not None for r in results] == [False, True, False, False]
        assert detector.observe("invoice.created", invoice("9"), at=12 * MIN) is not None  # 11 min after the alert

    def test_window_zero_turns_it_off_and_memory_is_bounded(self):
        """DUPLICATE_WINDOW_S=0 disables the check; at most `capacity` keys are kept."""
        off = DuplicateEntries(window=0)
        off.observe("invoice.created", invoice("1"), at=0)
        assert off.observe("invoice.created", invoice("2"), at=1) is None
        bounded = DuplicateEntries(window=10 * MIN, capacity=100)
        for n in range(10_000):
            bounded.observe("invoice.created", invoice(str(n), client=f"client {n}"), at=n)
        assert len(bounded._seen) == 100


class TestFailedLogins:
    def test_five_failures_from_one_address_alert_once(self):
        """The fifth failure within 10 minutes alerts; more failures in that window stay quiet."""
        detector = FailedLogins(limit=5, window=10 * MIN)
        attempt = {"client.address": "203.0.113.7", "user.name": "anna"}
        results = [detector.observe("auth.login_failed", attempt, at=n * 30) for n in range(9)]
        assert [r is not None for r in results] == [False] * 4 + [True] + [False] * 4
        finding = results[4]
        assert (finding.event_name, finding.severity, finding.category) == (
            "suspicious.failed_logins",
            Severity.ERROR,
            Category.SECURITY,
        )
        assert finding.attributes["client.address"] == "203.0.113.7"
        assert finding.attributes["auth.failures"] == 5

    def test_again_only_after_the_window(self):
        """A continuing attack alerts again once the window has passed."""
        detector = FailedLogins(limit=5, window=10 * MIN)
        attempt = {"client.address": "203.0.113.7"}
        alerts = [n for n in range(40) if detector.observe("auth.login_failed", attempt, at=n * MIN)]
        assert alerts == [4, 14, 24, 34]

    def test_addresses_and_windows_are_separate(self):
        """Failures spread over addresses, or slower than the window, do not add up."""
        detector = FailedLogins(limit=3, window=10 * MIN)
        spread = [detector.observe("auth.login_failed", {"client.address": f"10.0.0.{n % 3}"}, at=n) for n in range(6)]
        assert spread == [None] * 6  # two failures from each of three addresses
        assert detector.observe("auth.login_failed", {"client.address": "10.0.0.1"}, at=7) is not None
        slow = FailedLogins(limit=3, window=10 * MIN)
        assert not any(slow.observe("auth.login_failed", {"client.address": "x"}, at=n * 6 * MIN) for n in range(10))

    def test_usernames_tried_are_listed(self):
        """The alert names the accounts that were tried."""
        detector = FailedLogins(limit=3, window=10 * MIN)
        for n, user in enumerate(("admin", "anna", "admin")):
            finding = detector.observe("auth.login_failed", {"client.address": "x", "user.name": user}, at=n)
        assert finding is not None and finding.attributes["auth.usernames"] == "admin, anna"

    def test_memory_is_bounded(self):
        """A scan from many addresses keeps at most `capacity` of them."""
        detector = FailedLogins(limit=5, window=10 * MIN, capacity=50)
        for n in range(5000):
            detector.observe("auth.login_failed", {"client.address": f"10.{n // 256}.{n % 256}.1"}, at=n)
        assert len(detector._by_address) == 50


def test_detector_turns_findings_into_security_notices():
    """Through the log detector: a duplicate invoice and a login attack each add one SECURITY notice."""
    s = settings({"OTEL_EXPORTER_DISCORD_FAILED_LOGIN_LIMIT": "3"})
    detector = LogDetector(
        s, LogOptions.from_settings(s), EventDetector(EventOptions.from_settings(s)), exceptions=ExceptionRegistry()
    )
    with telemetry() as t:
        t.event("invoice.created", **invoice("250089"))
        t.event("invoice.created", **invoice("250090"))
        for _ in range(3):
            t.event("auth.login_failed", level=logging.WARNING, **{"client.address": "203.0.113.7", "user.name": "x"})
        notices = detector(t.records(), now=time.time())
    assert [n.event_name for n in notices] == [
        "invoice.created",
        "invoice.created",
        "suspicious.duplicate_entry",
        "auth.login_failed",
        "auth.login_failed",
        "auth.login_failed",
        "suspicious.failed_logins",
    ]
    duplicate, attack = notices[2], notices[6]
    assert (duplicate.kind, duplicate.category, duplicate.severity) == (Kind.EVENT, Category.SECURITY, Severity.WARNING)
    assert duplicate.title == "🚩 SUSPICIOUS_DUPLICATE_ENTRY"
    assert duplicate.description.startswith("Possible duplicate entry: #250090 repeats #250089 - Client: Bakkerij")
    assert (attack.category, attack.severity) == (Category.SECURITY, Severity.ERROR)
    assert attack.description.startswith("3 failed logins from 203.0.113.7 within 10 min")
