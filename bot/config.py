"""Settings from the environment (and an optional ``.env``), typed, failing fast.

Every setting is listed in ``.env.sample``. Values are read once, at start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///supportbot.db"
DEFAULT_API_URL = "https://slack.com/api/"
LOCALES = ("en", "fr")
LOG_FORMATS = ("text", "json")
DEFAULT_OUTBOX_STUCK_SECONDS = 300
# The store runs on asyncio: the async driver of each supported database, also what a
# plain "postgresql://…" or "sqlite:///…" URL is taken to mean.
ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    # secrets stay out of the printed form, so no log line or traceback shows them
    bot_token: str | None = field(repr=False)
    signing_secret: str | None = field(repr=False)
    app_token: str | None = field(repr=False)
    api_url: str
    port: int
    database_url: str
    default_locale: str
    # PORT given explicitly: Socket Mode then serves /healthz and /metrics on it.
    # (not compared: the same port, given or defaulted, is the same setting)
    port_set: bool = field(default=False, compare=False)
    log_format: str = "text"
    # /healthz fails once a due outbox entry has waited this long (delivery is stuck).
    outbox_stuck_seconds: int = DEFAULT_OUTBOX_STUCK_SECONDS
    # A log line for every request, those that went well too (the bot's request line,
    # and aiohttp's line per HTTP request); off by default: it costs a formatted,
    # written line on every request. Refused and failed requests are logged anyway.
    access_log: bool = False
    # Distributed app (OAuth): each workspace installs the bot through /slack/install and
    # its bot token comes from that installation, not from SLACK_BOT_TOKEN.
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    state_secret: str | None = field(default=None, repr=False)
    # Where Slack sends the installer back; unset: the redirect URL of the app's settings.
    install_redirect_uri: str | None = None

    @property
    def socket_mode(self) -> bool:
        return self.app_token is not None

    @property
    def oauth(self) -> bool:
        """OAuth mode: installed in many workspaces, one installation (token) per team."""
        return self.client_id is not None

    @property
    def has_slack(self) -> bool:
        return self.bot_token is not None or self.oauth

    def require_slack(self) -> None:
        """Fail with one clear line when a value needed to talk to Slack is missing."""
        check_install_mode(self)
        if self.oauth:
            if not self.signing_secret:
                raise ConfigError(
                    "SLACK_SIGNING_SECRET is required with SLACK_CLIENT_ID (OAuth mode serves HTTP)"
                )
            return
        if not self.bot_token:
            raise ConfigError("SLACK_BOT_TOKEN is required to connect to Slack (xoxb-…)")
        if not self.bot_token.startswith("xoxb-"):
            raise ConfigError("SLACK_BOT_TOKEN must be a bot token starting with xoxb-")
        if self.socket_mode:
            if not (self.app_token or "").startswith("xapp-"):
                raise ConfigError("SLACK_APP_TOKEN must be an app-level token starting with xapp-")
        elif not self.signing_secret:
            raise ConfigError(
                "SLACK_SIGNING_SECRET is required in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)"
            )


OAUTH_SETTINGS = ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_STATE_SECRET")


def check_install_mode(settings: Settings) -> None:
    """One install mode at a time: the three OAuth settings together or none of them;
    in OAuth mode no SLACK_BOT_TOKEN (each team's token comes from its installation, so
    a fixed one would be ambiguous) and no Socket Mode (Slack must reach /slack/install
    and /slack/oauth_redirect over HTTP, and a distributed app cannot use Socket Mode)."""
    given = dict(
        zip(
            OAUTH_SETTINGS,
            (settings.client_id, settings.client_secret, settings.state_secret),
            strict=True,
        )
    )
    missing = [name for name, value in given.items() if not value]
    if len(missing) == len(OAUTH_SETTINGS):
        return
    if missing:
        present = ", ".join(name for name in OAUTH_SETTINGS if name not in missing)
        raise ConfigError(
            f"{missing[0]} is required with {present}: OAuth mode needs all three of "
            f"{', '.join(OAUTH_SETTINGS)} (or none of them for a single workspace)"
        )
    if settings.bot_token:
        raise ConfigError(
            "SLACK_BOT_TOKEN cannot be set with SLACK_CLIENT_ID: in OAuth mode each "
            "workspace's token comes from its installation; unset SLACK_BOT_TOKEN "
            "(or the three OAuth settings for a single workspace)"
        )
    if settings.socket_mode:
        raise ConfigError(
            "SLACK_APP_TOKEN (Socket Mode) cannot be used with SLACK_CLIENT_ID: the OAuth "
            "install flow is served over HTTP; unset SLACK_APP_TOKEN"
        )


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | str | None = ".env"
) -> Settings:
    """Read the settings: the process environment wins over the ``.env`` file."""
    values: dict[str, str | None] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update(dotenv_values(env_file))
    values.update(os.environ if environ is None else environ)

    def get(name: str) -> str | None:
        return _clean(values.get(name))

    port_text = get("PORT") or "3000"
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"PORT must be a whole number, not {port_text!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"PORT must be between 0 and 65535, not {port}")

    locale = (get("SUPPORTBOT_DEFAULT_LOCALE") or "en").lower()
    if locale not in LOCALES:
        raise ConfigError(
            f"SUPPORTBOT_DEFAULT_LOCALE must be one of {', '.join(LOCALES)}, not {locale!r}"
        )

    log_format = (get("SUPPORTBOT_LOG_FORMAT") or "text").lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError(
            f"SUPPORTBOT_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}"
        )

    stuck_text = get("SUPPORTBOT_OUTBOX_STUCK_SECONDS") or str(DEFAULT_OUTBOX_STUCK_SECONDS)
    try:
        outbox_stuck_seconds = int(stuck_text)
    except ValueError:
        raise ConfigError(
            f"SUPPORTBOT_OUTBOX_STUCK_SECONDS must be a whole number of seconds, not {stuck_text!r}"
        ) from None
    if outbox_stuck_seconds <= 0:
        raise ConfigError(
            f"SUPPORTBOT_OUTBOX_STUCK_SECONDS must be at least 1, not {outbox_stuck_seconds}"
        )

    api_url = get("SLACK_API_URL") or DEFAULT_API_URL
    parts = urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"SLACK_API_URL must be an http(s) URL, not {api_url!r}")
    if not api_url.endswith("/"):
        api_url += "/"

    access_log = flag("SUPPORTBOT_ACCESS_LOG", get("SUPPORTBOT_ACCESS_LOG"), default=False)

    redirect_uri = get("SLACK_INSTALL_REDIRECT_URI")
    if redirect_uri is not None:
        parts = urlsplit(redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"SLACK_INSTALL_REDIRECT_URI must be an http(s) URL, not {redirect_uri!r}"
            )

    settings = Settings(
        bot_token=get("SLACK_BOT_TOKEN"),
        signing_secret=get("SLACK_SIGNING_SECRET"),
        app_token=get("SLACK_APP_TOKEN"),
        api_url=api_url,
        port=port,
        database_url=database_url(get("SUPPORTBOT_DATABASE_URL") or DEFAULT_DATABASE_URL),
        default_locale=locale,
        port_set=get("PORT") is not None,
        log_format=log_format,
        outbox_stuck_seconds=outbox_stuck_seconds,
        access_log=access_log,
        client_id=get("SLACK_CLIENT_ID"),
        client_secret=get("SLACK_CLIENT_SECRET"),
        state_secret=get("SLACK_STATE_SECRET"),
        install_redirect_uri=redirect_uri,
    )
    check_install_mode(settings)
    return settings


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def flag(name: str, value: str | None, *, default: bool) -> bool:
    """An on/off setting: 1/true/yes/on or 0/false/no/off, any case; unset: ``default``."""
    if value is None:
        return default
    word = value.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name} must be on or off (1/true/yes/on, 0/false/no/off), not {value!r}")


def database_url(text: str) -> str:
    """Check a SQLAlchemy URL and give it the async driver the store needs."""
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        # The value may hold a password: do not repeat it.
        raise ConfigError(
            f"SUPPORTBOT_DATABASE_URL is not a database URL (like {DEFAULT_DATABASE_URL})"
        ) from None
    driver = ASYNC_DRIVERS.get(url.drivername)
    if driver is None:
        raise ConfigError(
            "SUPPORTBOT_DATABASE_URL must be a SQLite or PostgreSQL URL "
            f"(sqlite+aiosqlite://… or postgresql+asyncpg://…), not {url.drivername}://…"
        )
    if driver == url.drivername:
        return text
    return url.set(drivername=driver).render_as_string(hide_password=False)
