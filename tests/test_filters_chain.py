"""Each filter on its own: which notices it holds back, and why, as read from the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_discord.config import ConfigError, resolve
from otel_discord.notice import Category, Kind, Notice, Severity
from otel_discord.route.filters import FilterChain

HOOK = "https://discord.com/api/webhooks/{id}/tok-{id}"


def chain(tmp_path: Path, body: str = "", **environ) -> FilterChain:
    path = tmp_path / "c.yaml"
    path.write_text(f"channels:\n  default: {HOOK.format(id=1)}\n  ops: {HOOK.format(id=2)}\n" + body)
    return FilterChain.from_settings(resolve("logs", config_file=path, environ=environ, spool_dir=tmp_path))


def event(name: str, category: Category, severity: Severity = Severity.INFO, **attributes) -> Notice:
    return Notice(Kind.EVENT, severity, category, name, event_name=name, attributes=attributes)


def paid(amount, severity: Severity = Severity.INFO) -> Notice:
    return event("invoice.paid", Category.PAYMENT, severity, **{"invoice.amount": amount})


class TestLevels:
    def test_channel_minimum(self, tmp_path):
        """Below a channel's minimum level a notice is not posted there, but still elsewhere."""
        filters = chain(tmp_path, "filters:\n  min_level:\n    channels: {ops: warning}\n")
        login = event("auth.login", Category.USER)
        assert filters(login, "ops") == "below_channel_level"
        assert filters(login, "default") is None
        assert filters(event("auth.login_failed", Category.SECURITY, Severity.WARNING), "ops") is None

    def test_category_minimum(self, tmp_path):
        """Below a category's minimum level a notice is not posted anywhere."""
        filters = chain(tmp_path, "filters:\n  min_level:\n    categories: {performance: error}\n")
        slow = Notice(Kind.SLOW_QUERY, Severity.WARNING, Category.PERFORMANCE, "slow")
        assert filters(slow, "default") == "below_category_level"
        assert filters(slow.replace(severity=Severity.ERROR), "default") is None

    def test_unknown_channel_is_an_error(self, tmp_path):
        with pytest.raises(ConfigError, match=r"^config file filters\.min_level\.channels\.opz: unknown channel"):
            chain(tmp_path, "filters:\n  min_level:\n    channels: {opz: info}\n")


class TestEvents:
    def test_disabled_glob(self, tmp_path):
        """A disabled event type is not posted; other events and errors are."""
        filters = chain(tmp_path, "filters:\n  events:\n    disabled: ['auth.session_*', auth.logout]\n")
        assert filters(event("auth.session_timeout", Category.USER), "default") == "event_disabled"
        assert filters(event("auth.logout", Category.USER), "default") == "event_disabled"
        assert filters(event("auth.login", Category.USER), "default") is None
        assert filters(Notice(Kind.ERROR, Severity.ERROR, Category.ERROR, "boom"), "default") is None

    def test_enabled_list_limits_events(self, tmp_path):
        """With ``enabled`` only those event types are posted; ``disabled`` wins over it."""
        filters = chain(tmp_path, "filters:\n  events:\n    enabled: ['invoice.*']\n    disabled: [invoice.updated]\n")
        assert filters(paid(2000), "default") is None
        assert filters(event("invoice.updated", Category.INVOICE, **{"invoice.amount": 2000}), "default") == (
            "event_disabled"
        )
        assert filters(event("auth.login", Category.USER), "default") == "event_not_enabled"


class TestAmount:
    def test_below_the_minimum_is_not_posted(self, tmp_path):
        """The default minimum is €1,000: €999.99 is held back, €1,000 is posted."""
        filters = chain(tmp_path)
        assert filters(paid(999.99), "default") == "below_min_amount"
        assert filters(paid(1000), "default") is None
        assert filters(paid(-1500), "default") is None  # a credit note counts by its size

    def test_warnings_pass_whatever_the_amount(self, tmp_path):
        """An overdue invoice of €200 still matters: warnings and worse are not filtered by amount."""
        filters = chain(tmp_path)
        overdue = event("invoice.overdue", Category.INVOICE, Severity.WARNING, **{"invoice.amount": 200.0})
        assert filters(overdue, "default") is None

    def test_setting_and_categories(self, tmp_path):
        """MIN_AMOUNT comes from the environment before the file; categories pick the finance events."""
        filters = chain(
            tmp_path,
            "min_amount: 5000\nfilters:\n  amount:\n    categories: [export]\n",
            OTEL_EXPORTER_DISCORD_MIN_AMOUNT="100",
        )
        assert filters(paid(50), "default") is None  # payment is no longer a finance category here
        export = event("export.downloaded", Category.EXPORT, **{"export.amount": 50.0})
        assert filters(export, "default") == "below_min_amount"
        assert filters(export.replace(attributes={"export.amount": 150.0}), "default") is None

    def test_zero_turns_it_off(self, tmp_path):
        assert chain(tmp_path, "min_amount: 0\n")(paid(1), "default") is None

    def test_high_value_skips_the_level_filters(self, tmp_path):
        """A high-value payment is posted even to a channel whose minimum level it is below."""
        filters = chain(tmp_path, "filters:\n  min_level:\n    channels: {ops: error}\n")
        assert filters(paid(4999), "ops") == "below_channel_level"
        assert filters(paid(5000), "ops") is None
        assert filters.amount.is_high_value(paid(5000))
        assert not filters.amount.is_high_value(event("btw.payment.updated", Category.BTW, **{"btw.amount": 9000}))

    def test_bad_amount_names_the_setting(self, tmp_path):
        with pytest.raises(ConfigError, match="OTEL_EXPORTER_DISCORD_MIN_AMOUNT: must be an amount"):
            chain(tmp_path, OTEL_EXPORTER_DISCORD_MIN_AMOUNT="lots")


class TestUsers:
    def test_ignore_list(self, tmp_path):
        """Notices about an ignored user (by ``user.name`` or ``enduser.id``, globs) are not posted."""
        filters = chain(tmp_path, "filters:\n  users:\n    ignore: ['uptime-*']\n")
        assert filters(event("auth.login", Category.USER, **{"user.name": "uptime-robot"}), "default") == (
            "user_ignored"
        )
        error = Notice(Kind.ERROR, Severity.ERROR, Category.ERROR, "boom", attributes={"enduser.id": "Uptime-2"})
        assert filters(error, "default") == "user_ignored"
        assert filters(event("auth.login", Category.USER, **{"user.name": "anna"}), "default") is None

    def test_watch_list_skips_every_filter(self, tmp_path):
        """Everything about a watched user is posted: small amounts, disabled events, denied IPs."""
        filters = chain(
            tmp_path,
            """filters:
  users: {watch: [anna]}
  events: {disabled: [auth.logout]}
  ip: {deny: [10.0.0.0/8]}
""",
        )
        assert filters(event("auth.logout", Category.USER, **{"user.name": "ANNA"}), "default") is None
        assert filters(event("auth.logout", Category.USER, **{"user.name": "bram"}), "default") == "event_disabled"
        small = paid(10).replace(attributes={"invoice.amount": 10, "user.name": "anna", "client.address": "10.1.2.3"})
        assert filters(small, "default") is None

    def test_both_lists_is_an_error(self, tmp_path):
        with pytest.raises(ConfigError, match=r"^config file filters\.users: anna cannot be on both"):
            chain(tmp_path, "filters:\n  users: {watch: [anna], ignore: [Anna]}\n")


class TestNetwork:
    def test_deny_list(self, tmp_path):
        """A client address inside a denied range is not posted (IPv4-mapped IPv6 included)."""
        filters = chain(tmp_path, "filters:\n  ip:\n    deny: [10.0.0.0/8, '2001:db8::/32']\n")
        login = event("auth.login_failed", Category.SECURITY, Severity.WARNING)
        assert filters(login.replace(attributes={"client.address": "10.20.30.40"}), "default") == "ip_denied"
        assert filters(login.replace(attributes={"client.address": "::ffff:10.0.0.1"}), "default") == "ip_denied"
        assert filters(login.replace(attributes={"client.address": "2001:db8::7"}), "default") == "ip_denied"
        assert filters(login.replace(attributes={"client.address": "203.0.113.7"}), "default") is None
        assert filters(login, "default") is None  # no address: not affected

    def test_allow_list(self, tmp_path):
        """With an allow list only those ranges are posted; a deny inside it still wins."""
        filters = chain(tmp_path, "filters:\n  ip:\n    allow: [192.168.0.0/16]\n    deny: [192.168.66.0/24]\n")
        login = event("auth.login", Category.USER)
        assert filters(login.replace(attributes={"client.address": "192.168.1.5"}), "default") is None
        assert filters(login.replace(attributes={"client.address": "192.168.66.5"}), "default") == "ip_denied"
        assert filters(login.replace(attributes={"client.address": "8.8.8.8"}), "default") == "ip_not_allowed"
        assert filters(login.replace(attributes={"client.address": "not-an-ip"}), "default") is None

    def test_bad_range_names_the_key(self, tmp_path):
        with pytest.raises(ConfigError, match=r"^config file filters\.ip\.deny\[1\]: '10\.0\.0\.0/33'"):
            chain(tmp_path, "filters:\n  ip:\n    deny: [10.0.0.0/8, 10.0.0.0/33]\n")


def test_unknown_filter_section_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"^config file filters\.amounts: unknown key"):
        chain(tmp_path, "filters:\n  amounts: {}\n")
