"""group.py: which notices group, the window, the edit debounce, and the Seen field an edit writes."""

from __future__ import annotations

import pytest

from otel_discord.deliver.grouping import with_seen
from otel_discord.group import (
    AUDIT_CHANNEL,
    Group,
    GroupPolicy,
    fold_notice,
    group_key,
    seen_text,
)
from otel_discord.notice import Category, Field, Kind, Notice, Severity
from otel_discord.render import limits
from otel_discord.render.embed import render_embed

NOW = 1_750_000_000.0  # 2025-06-15T15:06:40Z


def error(fingerprint: str = "ValueError|app.py:parse|/pay", **kw) -> Notice:
    return Notice(
        Kind.ERROR, Severity.ERROR, Category.ERROR, "ValueError: boom", fingerprint=fingerprint, timestamp=NOW, **kw
    )


class TestGroupKey:
    def test_errors_group_by_fingerprint(self):
        """Two notices with one fingerprint share a key; another fingerprint is another group."""
        assert group_key(error(), "ops") == group_key(error(), "ops") == "ValueError|app.py:parse|/pay"
        assert group_key(error("other"), "ops") == "other"

    def test_empty_fingerprint_is_never_grouped(self):
        """Business events carry no fingerprint: every paid invoice is a message of its own."""
        paid = Notice(Kind.EVENT, Severity.SUCCESS, Category.PAYMENT, "invoice #250090 paid")
        assert group_key(paid, "sales") is None

    def test_audit_channels_are_never_grouped(self):
        """Whatever the fingerprint, nothing for an audit channel is grouped."""
        assert group_key(error(), AUDIT_CHANNEL) is None
        assert group_key(error(), "compliance", exempt={"compliance"}) is None
        assert group_key(error(), "ops", exempt={"compliance"}) is not None


class TestPolicy:
    policy = GroupPolicy(window=600, edit_interval=10)

    def test_repeats_within_the_window_edit_the_message(self):
        """From the message's creation for ``window`` seconds; then a new message starts."""
        group = self.policy.started("111", 1, NOW, NOW, NOW)
        assert self.policy.accepts(group, NOW + 599)
        assert not self.policy.accepts(group, NOW + 600)
        assert not self.policy.accepts(None, NOW)

    def test_fold_counts_and_widens_first_and_last_seen(self):
        group = self.policy.started("111", 3, NOW - 5, NOW, NOW)
        folded = self.policy.fold(group, 4, NOW - 10, NOW + 7)
        assert (folded.count, folded.written, folded.first_seen, folded.last_seen) == (7, 3, NOW - 10, NOW + 7)
        assert folded.dirty and not group.dirty

    @pytest.mark.parametrize(
        ("edited_ago", "flushing", "expected"),
        [(0.0, False, 10.0), (4.0, False, 6.0), (10.0, False, 0.0), (60.0, False, 0.0), (0.0, True, 0.0)],
    )
    def test_edits_are_debounced_unless_flushing(self, edited_ago, flushing, expected):
        """At most one edit per interval per message; a flush writes at once."""
        group = Group("111", NOW - 100, count=5, written=2, edited_at=NOW - edited_ago)
        assert self.policy.edit_delay(group, NOW, flushing=flushing) == pytest.approx(expected)

    def test_a_clock_set_back_never_delays_an_edit(self):
        """The last edit seems to lie in the future after NTP moved the clock back: edit now, not in 2 h."""
        group = Group("111", NOW, count=5, written=2, edited_at=NOW + 7200)
        assert self.policy.edit_delay(group, NOW) == 0.0

    def test_an_up_to_date_message_needs_no_edit(self):
        group = Group("111", NOW, count=5, written=5, edited_at=NOW - 1000)
        assert self.policy.edit_delay(group, NOW, flushing=True) is None

    def test_edited_keeps_later_folds_dirty(self):
        """An edit that wrote 5 while 2 more arrived leaves the group behind by 2: the last count is written."""
        group = Group("111", NOW, count=7, written=2, edited_at=NOW)
        after = self.policy.edited(group, written=5, now=NOW + 10)
        assert (after.written, after.edited_at, after.dirty) == (5, NOW + 10, True)

    def test_invalid_policy_is_refused(self):
        with pytest.raises(ValueError):
            GroupPolicy(window=0)


class TestSeen:
    def test_seen_text_matches_what_render_shows(self):
        """An edit writes the same Seen field the renderer puts on a folded notice."""
        notice = error(count=37, first_seen=NOW - 420)
        rendered = {f["name"]: f["value"] for f in render_embed(notice)["fields"]}
        assert rendered["Seen"] == seen_text(37, NOW - 420, NOW) == "×37 · first 14:59:40 UTC · last 15:06:40 UTC"

    def test_seen_text_across_days_shows_the_date(self):
        assert seen_text(2, NOW - 86400, NOW) == "×2 · first 2025-06-14 15:06:40 UTC · last 15:06:40 UTC"

    def test_with_seen_adds_the_field_before_trace_and_leaves_the_embed_alone(self):
        embed = render_embed(error(trace_id="0af7651916cd43dd8448eb211c80319c"))
        updated = with_seen(embed, 12, NOW - 60, NOW)
        assert [f["name"] for f in updated["fields"]][-2:] == ["Seen", "Trace"]
        assert "Seen" not in [f["name"] for f in embed.get("fields", [])]  # a copy
        again = with_seen(updated, 13, NOW - 60, NOW + 1)
        assert [f["value"] for f in again["fields"] if f["name"] == "Seen"] == [seen_text(13, NOW - 60, NOW + 1)]
        assert len(again["fields"]) == len(updated["fields"])

    def test_a_full_field_list_stays_within_discords_limit(self):
        """25 fields already: the Seen field replaces the last own field instead of making 26."""
        notice = error(
            fields=tuple(Field(f"k{i}", "v") for i in range(30)), trace_id="0af7651916cd43dd8448eb211c80319c"
        )
        embed = render_embed(notice)
        assert len(embed["fields"]) == limits.FIELDS
        updated = with_seen(embed, 2, NOW, NOW)
        assert len(updated["fields"]) == limits.FIELDS
        assert [f["name"] for f in updated["fields"]][-2:] == ["Seen", "Trace"]

    def test_fold_notice(self):
        folded = fold_notice(error(), 4, NOW - 30, NOW + 5)
        assert (folded.count, folded.first_seen, folded.timestamp) == (5, NOW - 30, NOW + 5)
