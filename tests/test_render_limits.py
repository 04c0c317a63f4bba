"""Discord's limits and the helpers that cut text to fit them."""

from __future__ import annotations

from otel_discord.render import limits
from otel_discord.render.limits import (
    embed_size,
    head_for,
    tail_lines_for,
    truncate,
    truncate_lines_keep_tail,
    truncate_tail,
)


class TestConstants:
    def test_documented_limits(self) -> None:
        """The constants are Discord's documented embed and message limits."""
        assert (limits.TITLE, limits.DESCRIPTION, limits.FIELDS) == (256, 4096, 25)
        assert (limits.FIELD_NAME, limits.FIELD_VALUE, limits.FOOTER, limits.AUTHOR) == (256, 1024, 2048, 256)
        assert (limits.EMBEDS_PER_MESSAGE, limits.TOTAL_PER_MESSAGE, limits.CONTENT, limits.URL) == (
            10,
            6000,
            2000,
            2048,
        )

    def test_budget_leaves_room_in_a_message(self) -> None:
        """One rendered embed stays below the per-message total."""
        assert limits.EMBED_BUDGET < limits.TOTAL_PER_MESSAGE


class TestEmbedSize:
    def test_counts_the_texts_discord_counts(self) -> None:
        """Title, description, field names and values, footer text and author name all count."""
        embed = {
            "title": "abc",
            "description": "defg",
            "fields": [{"name": "h", "value": "ij"}, {"name": "k", "value": "l"}],
            "footer": {"text": "mno"},
            "author": {"name": "pq"},
        }
        assert embed_size(embed) == 3 + 4 + 1 + 2 + 1 + 1 + 3 + 2

    def test_urls_colour_and_timestamp_do_not_count(self) -> None:
        """Only text counts: a long URL adds nothing."""
        embed = {
            "title": "t",
            "url": "https://example.com/" + "x" * 1000,
            "color": 1,
            "timestamp": "2024-01-01T00:00:00+00:00",
        }
        assert embed_size(embed) == 1

    def test_whitespace_around_values_is_not_counted(self) -> None:
        """Discord trims leading and trailing whitespace before counting."""
        assert embed_size({"title": "  a b  ", "description": "\n\nc\n"}) == 4

    def test_code_points_not_utf16_units(self) -> None:
        """An emoji outside the BMP counts as one character, as in Python."""
        assert embed_size({"title": "💥" * 10}) == 10

    def test_missing_and_odd_parts_count_zero(self) -> None:
        """An embed without text, or with a null footer, has size zero."""
        assert embed_size({"footer": None, "fields": None, "color": 3}) == 0

    def test_values_that_are_not_text_count_zero(self) -> None:
        """In a hand-made embed, a null title or a numeric field value adds nothing; the text around it counts."""
        embed = {
            "title": None,
            "description": " ab ",
            "footer": {"text": 7},
            "fields": [{"name": "n", "value": 12345}, "not a field", {"name": " xy", "value": "z "}],
        }
        assert embed_size(embed) == 2 + 1 + 2 + 1


class TestTruncate:
    def test_short_text_is_unchanged(self) -> None:
        """Text within the limit comes back as is."""
        assert truncate("hello", 5) == "hello"

    def test_cut_text_ends_with_marker_and_fits(self) -> None:
        """Cut text ends in an ellipsis and is exactly at the limit or shorter."""
        out = truncate("hello world, this is long", 10)
        assert out.endswith("…") and len(out) <= 10 and out.startswith("hello")

    def test_tiny_limits_never_exceed(self) -> None:
        """Even limits smaller than the marker are respected."""
        assert truncate("abcdef", 0) == ""
        assert len(truncate("abcdef", 1)) == 1
        assert len(truncate("abcdef", 2, marker="[cut]")) == 2

    def test_tail_keeps_the_end(self) -> None:
        """truncate_tail keeps the end of the text after a marker."""
        assert truncate_tail("0123456789", 5) == "…6789"


class TestKeepTail:
    TRACE = "\n".join(
        ["Traceback (most recent call last):"]
        + [f'  File "app.py", line {i}, in f{i}' for i in range(50)]
        + ["ValueError: kaboom"]
    )

    def test_short_trace_is_unchanged(self) -> None:
        """A trace within the limit is not touched."""
        assert truncate_lines_keep_tail("a\nb", 10) == "a\nb"

    def test_keeps_innermost_frames_and_the_exception(self) -> None:
        """The last lines survive and the first ones are cut."""
        out = truncate_lines_keep_tail(self.TRACE, 300)
        assert out.endswith('  File "app.py", line 49, in f49\nValueError: kaboom')
        assert "line 0," not in out and len(out) <= 300

    def test_says_how_many_lines_were_cut(self) -> None:
        """The note in front counts exactly the lines that are gone."""
        out = truncate_lines_keep_tail(self.TRACE, 300)
        first, *rest = out.split("\n")
        total = self.TRACE.count("\n") + 1
        assert first == f"… {total - len(rest)} earlier lines cut"

    def test_one_huge_line_keeps_its_end(self) -> None:
        """If the last line alone is too long, its end is kept."""
        out = truncate_lines_keep_tail("frame\n" + "x" * 500 + "END", 100)
        assert out.endswith("END") and len(out) <= 100 and "1 earlier lines cut" in out

    def test_never_exceeds_tiny_limits(self) -> None:
        """Limits smaller than the note still hold."""
        for limit in range(0, 30):
            assert len(truncate_lines_keep_tail(self.TRACE, limit)) <= limit


class TestRawCuts:
    def test_head_for_bounds_work_on_huge_text(self) -> None:
        """A 1 MB text is cut to a few times the limit, at a space when one is near."""
        text = "word " * 200_000
        head = head_for(text, 100)
        assert text.startswith(head) and 300 <= len(head) <= 456 and not head.endswith("wor")

    def test_head_for_leaves_short_text(self) -> None:
        """Text that is already small comes back unchanged."""
        assert head_for("short", 100) == "short"

    def test_tail_lines_for_counts_dropped_lines(self) -> None:
        """The kept tail starts at a line and the number of dropped lines is exact."""
        lines = [f"line {i}" for i in range(100_000)]
        tail, dropped = tail_lines_for("\n".join(lines), 100)
        assert tail.split("\n") == lines[dropped:] and dropped > 99_000

    def test_note_counts_lines_cut_by_the_caller(self) -> None:
        """cut_before adds to the count in the note, even when the rest fits."""
        assert truncate_lines_keep_tail("a\nb", 100, cut_before=7) == "… 7 earlier lines cut\na\nb"
        out = truncate_lines_keep_tail("a\nb\nc", 25, cut_before=7)
        assert out == "… 8 earlier lines cut\nb\nc"
