"""pack and build_payload: embeds into messages Discord accepts, with mentions locked down."""

from __future__ import annotations

import pytest

from otel_discord.notice import Category, Field, Kind, Notice, Severity
from otel_discord.render import limits
from otel_discord.render.embed import render_embed
from otel_discord.render.limits import embed_size
from otel_discord.render.payload import build_payload, pack
from otel_discord.testing.validate import validate_execute


def embed(size: int, url: str | None = None, tag: str = "") -> dict:
    """An embed whose counted size is exactly ``size`` (title of ``size`` characters)."""
    item = {"title": (tag + "x" * size)[:size]}
    if url:
        item["url"] = url
    return item


class TestPack:
    def test_small_embeds_share_one_message(self) -> None:
        """Up to ten small embeds go into one message, in order."""
        embeds = [embed(10, tag=str(i)) for i in range(10)]
        assert pack(embeds) == [embeds]

    def test_eleventh_embed_starts_a_new_message(self) -> None:
        """No message holds more than ten embeds."""
        groups = pack([embed(10) for _ in range(23)])
        assert [len(g) for g in groups] == [10, 10, 3]

    def test_character_budget_starts_a_new_message(self) -> None:
        """Embeds that would pass 6000 characters together go into separate messages."""
        groups = pack([embed(4000), embed(2500), embed(1000), embed(3000)])
        assert [[embed_size(e) for e in g] for g in groups] == [[4000], [2500, 1000], [3000]]

    def test_exactly_6000_fits(self) -> None:
        """The limit is inclusive."""
        assert len(pack([embed(3000), embed(3000)])) == 1

    def test_same_url_never_shares_a_message(self) -> None:
        """Discord shows only the first embed of several with the same url, so they are split."""
        a, b, c = (
            embed(5, "https://x.example/1", "a"),
            embed(5, "https://x.example/1", "b"),
            embed(5, "https://x.example/2", "c"),
        )
        assert pack([a, b, c]) == [[a], [b, c]]

    def test_embeds_without_url_do_not_conflict(self) -> None:
        """Only equal, present urls force a split."""
        assert len(pack([embed(5), embed(5)])) == 1

    def test_order_is_kept_and_nothing_is_lost(self) -> None:
        """Concatenating the groups gives back the input."""
        embeds = [embed(n * 300 % 5000 + 1, tag=str(n)) for n in range(30)]
        assert [e for g in pack(embeds) for e in g] == embeds

    def test_custom_limits(self) -> None:
        """max_embeds and budget can be lowered, e.g. to leave room for edits."""
        assert [len(g) for g in pack([embed(10)] * 5, max_embeds=2)] == [2, 2, 1]
        assert [len(g) for g in pack([embed(10)] * 5, budget=25)] == [2, 2, 1]

    def test_empty_input_gives_no_messages(self) -> None:
        """Nothing to send means no groups."""
        assert pack([]) == []


class TestBuildPayload:
    def test_allowed_mentions_is_always_locked(self) -> None:
        """Without trusted ids, nothing in the message can ping."""
        payload = build_payload([{"title": "t"}], content="@everyone <@&123> look")
        assert payload["allowed_mentions"] == {"parse": []}

    def test_trusted_roles_and_users_are_listed(self) -> None:
        """Configured ids are the only ones allowed to ping."""
        payload = build_payload([], content="<@&111> <@222>", mention_roles=["111", "111"], mention_users=[222])
        assert payload["allowed_mentions"] == {"parse": [], "roles": ["111"], "users": ["222"]}

    def test_invalid_mention_ids_are_dropped(self) -> None:
        """Anything but a numeric id is ignored."""
        payload = build_payload([{"title": "t"}], mention_roles=["everyone", "12a", "<@&1>"])
        assert payload["allowed_mentions"] == {"parse": []}

    def test_content_is_cut_to_2000(self) -> None:
        """Content never exceeds Discord's 2000 characters."""
        assert len(build_payload([], content="x" * 5000)["content"]) == limits.CONTENT

    def test_empty_optional_keys_are_left_out(self) -> None:
        """No empty content, username, avatar or zero flags are sent."""
        payload = build_payload([{"title": "t"}], content="  ", username="", avatar_url="", flags=0)
        assert set(payload) == {"embeds", "allowed_mentions"}

    def test_username_avatar_and_flags(self) -> None:
        """Given options appear in the payload."""
        payload = build_payload(
            [{"title": "t"}], username="otel alerts", avatar_url="https://example.com/a.png", flags=4096
        )
        assert (payload["username"], payload["avatar_url"], payload["flags"]) == (
            "otel alerts",
            "https://example.com/a.png",
            4096,
        )

    def test_usernames_discord_rejects_are_left_out(self) -> None:
        """A name containing "discord", "clyde" or equal to "here" falls back to the webhook's name."""
        for name in ("My Discord Bot", "clyde", "here", "x" * 81):
            assert "username" not in build_payload([{"title": "t"}], username=name)

    def test_flags_discord_forbids_are_removed(self) -> None:
        """Only SUPPRESS_EMBEDS and SUPPRESS_NOTIFICATIONS survive."""
        assert build_payload([{"title": "t"}], flags=4096 | 1 | 32768)["flags"] == 4096
        assert "flags" not in build_payload([{"title": "t"}], flags=64)

    def test_empty_message_is_refused(self) -> None:
        """A payload with neither content nor embeds cannot be built."""
        with pytest.raises(ValueError, match="content or at least one embed"):
            build_payload([], content=None)

    def test_too_many_embeds_are_refused(self) -> None:
        """More than ten embeds or 6000 characters must go through pack first."""
        with pytest.raises(ValueError, match="pack"):
            build_payload([embed(1)] * 11)
        with pytest.raises(ValueError, match="pack"):
            build_payload([embed(3001), embed(3000)])

    def test_rendered_alert_is_accepted_by_the_strict_validator(self) -> None:
        """A real rendered embed in a built payload passes Discord's rules."""
        notice = Notice(
            kind=Kind.ERROR,
            severity=Severity.CRITICAL,
            category=Category.ERROR,
            title="ValueError: kaboom",
            description="@everyone look",
            code="x\ny",
            count=3,
            first_seen=1_700_000_000,
            timestamp=1_700_000_100,
            trace_id="ab" * 16,
        )
        payload = build_payload(
            [render_embed(notice)],
            content="<@&123456789012345678> critical",
            mention_roles=["123456789012345678"],
            username="otel alerts",
        )
        assert validate_execute(payload) == []


def test_mentions_in_text_are_defanged_and_cannot_ping() -> None:
    """@everyone and <@&123> from an exception are defanged in the embed and the payload allows no pings."""
    notice = Notice(
        kind=Kind.ERROR,
        severity=Severity.ERROR,
        category=Category.ERROR,
        title="@everyone down",
        description="ping <@&123> and @here",
        fields=(Field("who", "<@456>"),),
    )
    payload = build_payload(pack([render_embed(notice)])[0])
    text = str(payload["embeds"])
    for mention in ("@everyone", "@here", "<@&123>", "<@456>"):
        assert mention not in text
    assert payload["allowed_mentions"] == {"parse": []}
    assert validate_execute(payload) == []
