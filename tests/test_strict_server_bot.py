"""The strict local Discord's bot routes over real HTTP: auth, messages with reactions, reactions, threads,
forum channels, archived threads and rate-limit headers."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import requests

from otel_discord.testing import BotInfo, DiscordServer, WebhookInfo

TIMEOUT = 5
CHECK = quote("✅", safe="")  # %E2%9C%85


def api(server: DiscordServer, path: str) -> str:
    return f"{server.base_url}/api/v10{path}"


def auth(bot: BotInfo) -> dict[str, str]:
    return {"Authorization": f"Bot {bot.token}"}


def card(hook: WebhookInfo, content: str = "card", query: str = "?wait=true") -> dict:
    response = requests.post(
        hook.url + query, json={"content": content, "allowed_mentions": {"parse": []}}, timeout=TIMEOUT
    )
    assert response.status_code == 200, response.text
    return response.json()


class TestAuth:
    @pytest.mark.parametrize("header", [None, "Bearer x", "Bot ", "Bot wrong-token", "bot {token}"])
    def test_bot_routes_need_the_bot_token(self, server, hook, bot, header):
        """Without `Authorization: Bot <token>` (exact scheme) every bot route is 401."""
        message = card(hook)
        headers = {"Authorization": header.format(token=bot.token)} if header else {}
        response = requests.get(
            api(server, f"/channels/{hook.channel_id}/messages/{message['id']}"), headers=headers, timeout=TIMEOUT
        )
        assert response.status_code == 401 and response.json() == {"message": "401: Unauthorized", "code": 0}

    def test_the_token_is_never_in_the_rejection_log(self, server, hook, bot):
        requests.get(
            api(server, f"/channels/{hook.channel_id}/messages"), headers={"Authorization": "Bot nope"}, timeout=TIMEOUT
        )
        assert bot.token not in repr(server.rejected()) and bot.token not in repr(bot)

    def test_unknown_channel_and_message(self, server, hook, bot):
        assert (
            requests.get(
                api(server, "/channels/123456789012345678/messages"), headers=auth(bot), timeout=TIMEOUT
            ).json()["code"]
            == 10003
        )
        assert (
            requests.get(
                api(server, f"/channels/{hook.channel_id}/messages/123"), headers=auth(bot), timeout=TIMEOUT
            ).json()["code"]
            == 10008
        )


class TestMessages:
    def test_a_message_shows_its_reactions_with_me_for_the_bot(self, server, hook, bot):
        message = card(hook)
        url = api(server, f"/channels/{hook.channel_id}/messages/{message['id']}")
        assert "reactions" not in requests.get(url, headers=auth(bot), timeout=TIMEOUT).json()
        assert requests.put(f"{url}/reactions/{CHECK}/@me", headers=auth(bot), timeout=TIMEOUT).status_code == 204
        server.add_reaction(message["id"], "✅", "345678901234567890", name="anna")
        [reaction] = requests.get(url, headers=auth(bot), timeout=TIMEOUT).json()["reactions"]
        assert reaction["emoji"] == {"id": None, "name": "✅"} and reaction["count"] == 2 and reaction["me"] is True

    def test_list_after_returns_the_messages_after_newest_first(self, server, hook, bot):
        ids = [card(hook, f"m{i}")["id"] for i in range(5)]
        url = api(server, f"/channels/{hook.channel_id}/messages")
        got = requests.get(url, params={"after": ids[1], "limit": 2}, headers=auth(bot), timeout=TIMEOUT).json()
        assert [m["id"] for m in got] == [ids[3], ids[2]]
        everything = requests.get(url, headers=auth(bot), timeout=TIMEOUT).json()
        assert [m["content"] for m in everything] == ["m4", "m3", "m2", "m1", "m0"]

    @pytest.mark.parametrize(
        "query, field", [({"limit": 101}, "limit"), ({"limit": 0}, "limit"), ({"after": "abc"}, "after")]
    )
    def test_list_checks_its_query(self, server, hook, bot, query, field):
        response = requests.get(
            api(server, f"/channels/{hook.channel_id}/messages"), params=query, headers=auth(bot), timeout=TIMEOUT
        )
        assert response.status_code == 400 and field in response.json()["errors"]

    def test_post_a_bot_message_validated_by_discords_schema(self, server, hook, bot):
        url = api(server, f"/channels/{hook.channel_id}/messages")
        ok = requests.post(
            url, json={"content": "hi", "allowed_mentions": {"parse": []}}, headers=auth(bot), timeout=TIMEOUT
        )
        assert ok.status_code == 200 and ok.json()["author"]["id"] == bot.id
        too_long = requests.post(url, json={"content": "x" * 2001}, headers=auth(bot), timeout=TIMEOUT)
        assert (
            too_long.status_code == 400
            and too_long.json()["errors"]["content"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
        )
        empty = requests.post(url, json={}, headers=auth(bot), timeout=TIMEOUT)
        assert empty.json()["code"] == 50006


class TestReactions:
    def test_get_reactions_lists_users_and_pages_by_id(self, server, hook, bot):
        message = card(hook)
        users = [str(345678901234567890 + i) for i in range(30)]
        for user in users:
            server.add_reaction(message["id"], "✅", user)
        url = api(server, f"/channels/{hook.channel_id}/messages/{message['id']}/reactions/{CHECK}")
        first = requests.get(url, headers=auth(bot), timeout=TIMEOUT).json()
        assert len(first) == 25  # Discord's default limit
        rest = requests.get(
            url, params={"after": first[-1]["id"], "limit": 100}, headers=auth(bot), timeout=TIMEOUT
        ).json()
        assert [u["id"] for u in first + rest] == users and rest[0]["bot"] is False

    @pytest.mark.parametrize("emoji", ["check", "%E2%9C", "%20", "white_check_mark"])
    def test_a_bad_or_unencoded_emoji_is_10014(self, server, hook, bot, emoji):
        message = card(hook)
        response = requests.put(
            api(server, f"/channels/{hook.channel_id}/messages/{message['id']}/reactions/{emoji}/@me"),
            headers=auth(bot),
            timeout=TIMEOUT,
        )
        assert response.status_code == 400 and response.json()["code"] == 10014

    def test_custom_emoji_name_id_and_removal(self, server, hook, bot, clock):
        message = card(hook)
        url = api(server, f"/channels/{hook.channel_id}/messages/{message['id']}/reactions/ack:123456789012345678/@me")
        assert requests.put(url, headers=auth(bot), timeout=TIMEOUT).status_code == 204
        assert server.reactions(message["id"]) == {"ack:123456789012345678": [bot.id]}
        clock.now += 1.0  # the reaction bucket
        assert requests.delete(url, headers=auth(bot), timeout=TIMEOUT).status_code == 204
        assert server.reactions(message["id"]) == {}

    def test_the_reaction_bucket_is_one_per_second(self, server, hook, bot, clock):
        """Headers advertise 1/1 s; a second PUT within the second is a 429 with Retry-After."""
        message = card(hook)
        base = api(server, f"/channels/{hook.channel_id}/messages/{message['id']}/reactions")
        first = requests.put(f"{base}/{CHECK}/@me", headers=auth(bot), timeout=TIMEOUT)
        assert first.status_code == 204
        assert first.headers["X-RateLimit-Limit"] == "1" and first.headers["X-RateLimit-Remaining"] == "0"
        assert float(first.headers["X-RateLimit-Reset-After"]) == pytest.approx(1.0)
        second = requests.put(f"{base}/{quote('🙋', safe='')}/@me", headers=auth(bot), timeout=TIMEOUT)
        assert second.status_code == 429 and second.headers["Retry-After"] == "1"
        assert second.json()["global"] is False
        clock.now += 1.0
        assert requests.put(f"{base}/{quote('🙋', safe='')}/@me", headers=auth(bot), timeout=TIMEOUT).status_code == 204

    def test_message_routes_report_their_bucket(self, server, hook, bot):
        response = requests.get(
            api(server, f"/channels/{hook.channel_id}/messages"), headers=auth(bot), timeout=TIMEOUT
        )
        assert {
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
            "X-RateLimit-Reset-After",
            "X-RateLimit-Bucket",
        } <= set(response.headers)
        assert server.stats()["bot_requests"] == 1


class TestThreads:
    def start(self, server, hook, bot, message_id, body=None):
        return requests.post(
            api(server, f"/channels/{hook.channel_id}/messages/{message_id}/threads"),
            json={"name": "ERROR · boom", "auto_archive_duration": 1440} if body is None else body,
            headers=auth(bot),
            timeout=TIMEOUT,
        )

    def test_a_thread_from_a_card_has_the_cards_id_and_only_once(self, server, hook, bot):
        message = card(hook)
        started = self.start(server, hook, bot, message["id"])
        assert started.status_code == 201 and started.json()["id"] == message["id"]
        assert started.json()["type"] == 11 and started.json()["parent_id"] == hook.channel_id
        again = self.start(server, hook, bot, message["id"])
        assert again.status_code == 400 and again.json()["code"] == 160004
        # The webhook posts into it with thread_id; the bot reads it as its own channel.
        card(hook, "in the thread", f"?wait=true&thread_id={message['id']}")
        inside = requests.get(api(server, f"/channels/{message['id']}/messages"), headers=auth(bot), timeout=TIMEOUT)
        assert [m["content"] for m in inside.json()] == ["in the thread"]
        shown = requests.get(
            api(server, f"/channels/{hook.channel_id}/messages/{message['id']}"), headers=auth(bot), timeout=TIMEOUT
        ).json()
        assert shown["thread"]["id"] == message["id"]

    @pytest.mark.parametrize(
        "body, field",
        [
            ({"name": ""}, "name"),
            ({"name": "x" * 101}, "name"),
            ({}, "name"),
            ({"name": "t", "auto_archive_duration": 5}, "auto_archive_duration"),
        ],
    )
    def test_thread_bodies_follow_discords_schema(self, server, hook, bot, body, field):
        response = self.start(server, hook, bot, card(hook)["id"], body)
        assert response.status_code == 400 and field in response.json()["errors"]

    def test_archived_threads_refuse_edits_and_reactions_until_a_post_unarchives(self, server, hook, bot):
        message = card(hook)
        self.start(server, hook, bot, message["id"])
        inner = card(hook, "inner", f"?wait=true&thread_id={message['id']}")
        server.archive_thread(message["id"])
        edit = requests.patch(
            f"{hook.url}/messages/{inner['id']}?thread_id={message['id']}", json={"content": "e"}, timeout=TIMEOUT
        )
        assert edit.status_code == 400 and edit.json()["code"] == 50083
        react = requests.put(
            api(server, f"/channels/{message['id']}/messages/{inner['id']}/reactions/{CHECK}/@me"),
            headers=auth(bot),
            timeout=TIMEOUT,
        )
        assert react.json()["code"] == 50083
        card(hook, "wake up", f"?wait=true&thread_id={message['id']}")
        assert [t.archived for t in server.threads()] == [False]

    def test_forum_channels_need_thread_name_or_thread_id(self, server, bot):
        forum = server.create_webhook("incidents", forum=True)
        plain = requests.post(forum.url + "?wait=true", json={"content": "x"}, timeout=TIMEOUT)
        assert plain.status_code == 400 and plain.json()["code"] == 220001
        post = requests.post(
            forum.url + "?wait=true", json={"content": "x", "thread_name": "ERROR · boom"}, timeout=TIMEOUT
        )
        assert post.status_code == 200
        thread_id = post.json()["channel_id"]
        assert thread_id != forum.channel_id and [t.name for t in server.threads()] == ["ERROR · boom"]
        follow = requests.post(
            forum.url + f"?wait=true&thread_id={thread_id}", json={"content": "again"}, timeout=TIMEOUT
        )
        assert follow.json()["channel_id"] == thread_id
        start = requests.post(
            api(server, f"/channels/{forum.channel_id}/messages/{post.json()['id']}/threads"),
            json={"name": "t"},
            headers=auth(bot),
            timeout=TIMEOUT,
        )
        assert start.status_code == 400 and start.json()["code"] == 50024  # forums take no thread from a message

    def test_thread_name_in_a_text_channel_is_220003(self, hook):
        response = requests.post(hook.url, json={"content": "x", "thread_name": "t"}, timeout=TIMEOUT)
        assert response.json()["code"] == 220003
