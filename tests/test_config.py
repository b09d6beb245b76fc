"""Settings: defaults, the .env file, and errors that name the variable."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from dotenv import dotenv_values

from bot.config import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
NAMES = {
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "PORT",
    "SUPPORTBOT_DATABASE_URL",
    "SUPPORTBOT_DEFAULT_LOCALE",
    "SUPPORTBOT_LOG_FORMAT",
    "SUPPORTBOT_OUTBOX_STUCK_SECONDS",
    "SUPPORTBOT_ACCESS_LOG",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "SLACK_STATE_SECRET",
    "SLACK_INSTALL_REDIRECT_URI",
}


def settings(**values: str) -> Settings:
    return load_settings(values, env_file=None)


def test_defaults() -> None:
    assert settings() == Settings(
        bot_token=None,
        signing_secret=None,
        app_token=None,
        api_url="https://slack.com/api/",
        port=3000,
        database_url="sqlite+aiosqlite:///supportbot.db",
        default_locale="en",
    )
    assert not settings().socket_mode
    assert not settings().has_slack


def test_every_value_is_read() -> None:
    got = settings(
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_SIGNING_SECRET="s3cret",
        SLACK_APP_TOKEN="xapp-1",
        SLACK_API_URL="http://127.0.0.1:8080/api",
        PORT=" 8081 ",
        SUPPORTBOT_DATABASE_URL="postgresql+asyncpg://bot@db.internal:5432/supportbot",
        SUPPORTBOT_DEFAULT_LOCALE="FR",
    )
    assert got == Settings(
        bot_token="xoxb-1",
        signing_secret="s3cret",
        app_token="xapp-1",
        api_url="http://127.0.0.1:8080/api/",  # the client joins method names onto it
        port=8081,
        database_url="postgresql+asyncpg://bot@db.internal:5432/supportbot",
        default_locale="fr",
    )
    assert got.socket_mode
    assert got.has_slack


def test_blank_values_count_as_unset() -> None:
    got = settings(SLACK_BOT_TOKEN="  ", SLACK_APP_TOKEN="", PORT="", SLACK_API_URL=" ")
    assert (got.bot_token, got.app_token, got.port, got.api_url) == (
        None,
        None,
        3000,
        "https://slack.com/api/",
    )


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings().port = 1  # type: ignore[misc]


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# local settings\n"
        "SLACK_BOT_TOKEN=xoxb-from-file\n"
        'SLACK_SIGNING_SECRET="secret from file"  # quoted\n'
        "PORT=4000\n"
        "SUPPORTBOT_DEFAULT_LOCALE=fr\n"
        "UNRELATED=1\n",
        encoding="utf-8",
    )
    from_file = load_settings({}, env_file=env_file)
    assert (from_file.bot_token, from_file.signing_secret, from_file.port) == (
        "xoxb-from-file",
        "secret from file",
        4000,
    )
    assert from_file.default_locale == "fr"

    both = load_settings({"PORT": "5000", "SLACK_BOT_TOKEN": "xoxb-from-env"}, env_file=env_file)
    assert (both.port, both.bot_token, both.signing_secret) == (
        5000,
        "xoxb-from-env",
        "secret from file",
    )


def test_a_missing_env_file_is_fine(tmp_path: Path) -> None:
    assert load_settings({}, env_file=tmp_path / "nothing.env") == settings()


def test_process_environment_and_dot_env_of_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("PORT=4100\nSLACK_API_URL=http://fake.test/api/\n")
    monkeypatch.setenv("PORT", "4200")
    got = load_settings()
    assert got.port == 4200
    assert got.api_url == "http://fake.test/api/"


@pytest.mark.parametrize("port", ["abc", "3000.5", "0x10", "3 000"])
def test_a_port_that_is_no_number(port: str) -> None:
    with pytest.raises(ConfigError, match=r"^PORT must be a whole number, not '"):
        settings(PORT=port)


@pytest.mark.parametrize("port", ["-1", "65536", "100000"])
def test_a_port_out_of_range(port: str) -> None:
    with pytest.raises(ConfigError, match=rf"^PORT must be between 0 and 65535, not {port}$"):
        settings(PORT=port)


def test_a_bad_port_in_the_env_file_names_the_variable(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=eighty\n")
    with pytest.raises(ConfigError, match="PORT"):
        load_settings({}, env_file=env_file)


@pytest.mark.parametrize("locale", ["de", "fr_FR", "english"])
def test_an_unknown_locale(locale: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings(SUPPORTBOT_DEFAULT_LOCALE=locale)
    assert str(info.value) == (
        f"SUPPORTBOT_DEFAULT_LOCALE must be one of en, fr, not {locale.lower()!r}"
    )


@pytest.mark.parametrize(
    "url", ["slack.com/api/", "ftp://slack.com/api/", "http://", "https:///api/", "//slack.com"]
)
def test_a_bad_api_url(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings(SLACK_API_URL=url)
    assert str(info.value) == f"SLACK_API_URL must be an http(s) URL, not {url!r}"


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("sqlite+aiosqlite:///supportbot.db", "sqlite+aiosqlite:///supportbot.db"),
        ("sqlite:////var/lib/bot/bot.db", "sqlite+aiosqlite:////var/lib/bot/bot.db"),
        ("postgresql://bot:pw@db:5432/support", "postgresql+asyncpg://bot:pw@db:5432/support"),
        ("postgres://bot@db/support", "postgresql+asyncpg://bot@db/support"),
        ("postgresql+asyncpg://bot@db/support", "postgresql+asyncpg://bot@db/support"),
    ],
)
def test_database_urls_get_the_async_driver(given: str, used: str) -> None:
    assert settings(SUPPORTBOT_DATABASE_URL=given).database_url == used


def test_a_database_url_that_is_not_one() -> None:
    with pytest.raises(ConfigError) as info:
        settings(SUPPORTBOT_DATABASE_URL="my database with password hunter2")
    message = str(info.value)
    assert message.startswith("SUPPORTBOT_DATABASE_URL is not a database URL")
    assert "hunter2" not in message


@pytest.mark.parametrize(
    "url", ["mysql://bot:hunter2@db/support", "postgresql+psycopg2://bot:hunter2@db/x"]
)
def test_an_unsupported_database(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings(SUPPORTBOT_DATABASE_URL=url)
    message = str(info.value)
    assert message.startswith("SUPPORTBOT_DATABASE_URL must be a SQLite or PostgreSQL URL")
    assert "hunter2" not in message


# --- what Slack needs ------------------------------------------------------------------------


def test_require_slack_without_a_token() -> None:
    with pytest.raises(ConfigError) as info:
        settings(SLACK_SIGNING_SECRET="s").require_slack()
    assert str(info.value) == "SLACK_BOT_TOKEN is required to connect to Slack (xoxb-…)"


def test_require_slack_with_a_user_token() -> None:
    with pytest.raises(ConfigError) as info:
        settings(SLACK_BOT_TOKEN="xoxp-1", SLACK_SIGNING_SECRET="s").require_slack()
    assert str(info.value) == "SLACK_BOT_TOKEN must be a bot token starting with xoxb-"


def test_require_slack_in_http_mode_needs_the_signing_secret() -> None:
    with pytest.raises(ConfigError) as info:
        settings(SLACK_BOT_TOKEN="xoxb-1").require_slack()
    assert str(info.value) == (
        "SLACK_SIGNING_SECRET is required in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)"
    )
    settings(SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s").require_slack()


def test_require_slack_in_socket_mode() -> None:
    with pytest.raises(ConfigError) as info:
        settings(SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xoxb-2").require_slack()
    assert str(info.value) == "SLACK_APP_TOKEN must be an app-level token starting with xapp-"
    # Socket Mode needs no signing secret.
    socket = settings(SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1")
    socket.require_slack()
    assert socket.socket_mode


@pytest.mark.parametrize(
    ("value", "expected"),
    [("on", True), ("1", True), ("TRUE", True), ("yes", True), ("off", False), ("0", False)],
)
def test_the_access_log_setting(value: str, expected: bool) -> None:
    assert settings().access_log is False
    assert settings(SUPPORTBOT_ACCESS_LOG=value).access_log is expected


def test_a_bad_access_log_setting_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="SUPPORTBOT_ACCESS_LOG must be on or off"):
        settings(SUPPORTBOT_ACCESS_LOG="sometimes")


def test_env_sample_lists_every_setting() -> None:
    sample = dotenv_values(ROOT / ".env.sample")
    assert set(sample) == NAMES
    # The sample's values are the defaults (or empty), so copying it changes nothing.
    got = load_settings({}, env_file=ROOT / ".env.sample")
    assert got == settings()


def test_secrets_stay_out_of_the_printed_settings() -> None:
    settings = load_settings(
        {
            "SLACK_BOT_TOKEN": "xoxb-123-secret",
            "SLACK_SIGNING_SECRET": "sign-secret",
            "SLACK_APP_TOKEN": "xapp-1-secret",
        },
        env_file=None,
    )
    printed = repr(settings)
    assert "secret" not in printed and settings.bot_token == "xoxb-123-secret"


def test_log_format_and_outbox_threshold() -> None:
    assert (settings().log_format, settings().outbox_stuck_seconds) == ("text", 300)
    got = settings(SUPPORTBOT_LOG_FORMAT="JSON", SUPPORTBOT_OUTBOX_STUCK_SECONDS="60")
    assert (got.log_format, got.outbox_stuck_seconds) == ("json", 60)


def test_a_bad_log_format() -> None:
    with pytest.raises(ConfigError) as info:
        settings(SUPPORTBOT_LOG_FORMAT="xml")
    assert str(info.value) == "SUPPORTBOT_LOG_FORMAT must be one of text, json, not 'xml'"


@pytest.mark.parametrize("value", ["soon", "0", "-5"])
def test_a_bad_outbox_threshold(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings(SUPPORTBOT_OUTBOX_STUCK_SECONDS=value)
    assert str(info.value).startswith("SUPPORTBOT_OUTBOX_STUCK_SECONDS must be")


def test_port_given_or_not() -> None:
    # Socket Mode serves /healthz and /metrics only on a port given explicitly.
    assert not settings().port_set
    assert settings(PORT="3000").port_set
    assert not settings(PORT=" ").port_set
