"""Settings resolution: argument → signal variable → generic variable → file → default."""

from __future__ import annotations

import pytest

from otel_discord.config import ConfigError, resolve

HOOK = "https://discord.com/api/webhooks/1/" + "t" * 68
OTHER = "https://discord.com/api/webhooks/2/" + "u" * 68


@pytest.mark.parametrize(
    "label, environ, kwargs, file_text, expected",
    [
        ("default", {}, {}, None, 500.0),
        ("file", {}, {}, "slow_query_ms: 250", 250.0),
        ("generic env over file", {"OTEL_EXPORTER_DISCORD_SLOW_QUERY_MS": "300"}, {}, "slow_query_ms: 250", 300.0),
        (
            "signal env over generic",
            {"OTEL_EXPORTER_DISCORD_SLOW_QUERY_MS": "300", "OTEL_EXPORTER_DISCORD_TRACES_SLOW_QUERY_MS": "100"},
            {},
            None,
            100.0,
        ),
        (
            "argument over everything",
            {"OTEL_EXPORTER_DISCORD_TRACES_SLOW_QUERY_MS": "100"},
            {"slow_query_ms": 42},
            "slow_query_ms: 250",
            42.0,
        ),
    ],
)
def test_config_precedence(tmp_path, label, environ, kwargs, file_text, expected):
    """Each source overrides the ones below it."""
    environ = {"OTEL_EXPORTER_DISCORD_WEBHOOK_URL": HOOK, **environ}
    if file_text is not None:
        path = tmp_path / "otel-discord.yaml"
        path.write_text(file_text)
        environ["OTEL_EXPORTER_DISCORD_CONFIG"] = str(path)
    settings = resolve("traces", environ=environ, **kwargs)
    assert settings.slow_query_ms == expected, label


def test_signal_variable_only_applies_to_its_signal():
    """OTEL_EXPORTER_DISCORD_LOGS_* does not change the traces exporter."""
    environ = {"OTEL_EXPORTER_DISCORD_WEBHOOK_URL": HOOK, "OTEL_EXPORTER_DISCORD_LOGS_TIMEOUT": "3"}
    assert resolve("traces", environ=environ).timeout == 10.0
    assert resolve("logs", environ=environ).timeout == 3.0


@pytest.mark.parametrize(
    "variable, value, words",
    [
        ("OTEL_EXPORTER_DISCORD_SLOW_QUERY_MS", "fast", "OTEL_EXPORTER_DISCORD_SLOW_QUERY_MS"),
        ("OTEL_EXPORTER_DISCORD_TIMEOUT", "-1", "positive"),
        ("OTEL_EXPORTER_DISCORD_QUEUE_SIZE", "0", "OTEL_EXPORTER_DISCORD_QUEUE_SIZE"),
        ("OTEL_EXPORTER_DISCORD_TRACE_URL", "http://jaeger/trace", "{trace_id}"),
        ("OTEL_EXPORTER_DISCORD_MASK_PII", "perhaps", "true or false"),
        ("OTEL_EXPORTER_DISCORD_USERNAME", "Discord Bot", "discord"),
    ],
)
def test_bad_values_name_the_variable(variable, value, words):
    """A bad value raises ConfigError naming the variable and the problem."""
    with pytest.raises(ConfigError) as info:
        resolve(environ={"OTEL_EXPORTER_DISCORD_WEBHOOK_URL": HOOK, variable: value})
    assert variable in str(info.value)
    assert words in str(info.value)


def test_missing_webhook_is_a_clear_error():
    """Without any webhook the error says which variable to set."""
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_DISCORD_WEBHOOK_URL is not set"):
        resolve(environ={})


def test_bad_webhook_error_never_contains_the_token():
    """A refused webhook URL is reported with its token masked."""
    secret = "s3cr3t" * 11
    with pytest.raises(ConfigError) as info:
        resolve(environ={"OTEL_EXPORTER_DISCORD_WEBHOOK_URL": f"https://evil.example/api/webhooks/9/{secret}"})
    assert secret not in str(info.value)
    assert "OTEL_EXPORTER_DISCORD_WEBHOOK_URL" in str(info.value)


def test_channels_from_env_and_file_with_env_references(tmp_path):
    """Channels come from OTEL_EXPORTER_DISCORD_WEBHOOK_URL_<NAME> and from the file's ${VAR} references."""
    path = tmp_path / "c.yaml"
    path.write_text("channels:\n  finance-activity:\n    webhook_url: ${FINANCE_HOOK}\n    username: Ozark Finance\n")
    settings = resolve(
        environ={
            "OTEL_EXPORTER_DISCORD_CONFIG": str(path),
            "FINANCE_HOOK": HOOK,
            "OTEL_EXPORTER_DISCORD_WEBHOOK_URL_SYSTEM_DEBUG": OTHER,
        }
    )
    assert set(settings.channels) == {"finance-activity", "system-debug"}
    assert settings.channels["finance-activity"].username == "Ozark Finance"
    assert settings.channels["system-debug"].webhook.webhook_id == "2"


def test_file_reference_to_unset_variable_names_it(tmp_path):
    """A ${VAR} in the file that is not set is reported by name."""
    path = tmp_path / "c.yaml"
    path.write_text("channels:\n  errors:\n    webhook_url: ${NOPE_HOOK}\n")
    with pytest.raises(ConfigError, match="NOPE_HOOK"):
        resolve(environ={"OTEL_EXPORTER_DISCORD_CONFIG": str(path)})


def test_describe_masks_tokens():
    """The effective configuration printed for users never shows a token."""
    settings = resolve(environ={"OTEL_EXPORTER_DISCORD_WEBHOOK_URL": HOOK})
    assert "t" * 68 not in str(settings.describe())
