"""The Slack app manifest is valid for Slack and declares the whole command contract."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "manifest.yml"
# Slack's published schema (slackapi/manifest-schema, MIT) lives beside the project.
SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "slack" / "manifest.schema.1.0.0.json"

ENDPOINT = "https://supportbot.example.com/slack/events"

# Every command of the contract, with the sub-commands its usage hint must mention.
COMMANDS: dict[str, tuple[str, ...]] = {
    "/ticket": (
        "new",
        "show",
        "list",
        "note",
        "take",
        "assign",
        "wait",
        "sev",
        "resolve",
        "reopen",
    ),
    "/escalate": (),
    "/reassign": (),
    "/ea": ("lookup",),
    "/entitlements": ("renewals",),
    "/access": ("grant", "revoke", "register", "superuser"),
    "/faq": (),
    "/audit": (),
    "/supportbot": ("help", "whoami", "lang"),
}

BOT_SCOPES = {
    "commands",
    "chat:write",
    "chat:write.public",
    "users:read",
    "users:read.email",
    "im:write",
    "channels:read",
    "groups:read",
}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "manifest.yml must be a YAML mapping"
    return data


@pytest.fixture(scope="module")
def commands(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    listed = manifest["features"]["slash_commands"]
    by_name = {c["command"]: c for c in listed}
    assert len(by_name) == len(listed), "a slash command is declared twice"
    return by_name


def test_manifest_is_valid_against_slack_schema(manifest: dict[str, Any]) -> None:
    if not SCHEMA.is_file():
        pytest.fail(
            f"Slack manifest schema not found at {SCHEMA}; it is expected in ../shared/slack/ "
            "beside the project (slackapi/manifest-schema, manifest.schema.1.0.0.json)"
        )
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    problems = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in validator.iter_errors(manifest)
    ]
    assert problems == []


def test_display_information(manifest: dict[str, Any]) -> None:
    info = manifest["display_information"]
    assert info["name"] == "Partner Support"
    assert info["description"].strip()
    # The schema names this constraint "regex", which JSON Schema does not enforce.
    assert re.fullmatch(r"#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?", info["background_color"])


def test_bot_user_and_home(manifest: dict[str, Any]) -> None:
    features = manifest["features"]
    assert features["bot_user"] == {"display_name": "supportbot", "always_online": True}
    assert features["app_home"]["home_tab_enabled"] is True
    assert features["app_home"]["messages_tab_enabled"] is True


def test_every_contract_command_is_declared(commands: dict[str, dict[str, Any]]) -> None:
    assert set(commands) == set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_declaration(name: str, commands: dict[str, dict[str, Any]]) -> None:
    command = commands[name]
    assert command["url"] == ENDPOINT
    # Raw <@U…> mentions are parsed by the handlers, so Slack must not rewrite them.
    assert command["should_escape"] is False
    # Short enough to read in the autocomplete menu.
    assert 0 < len(command["description"]) <= 100
    hint = command["usage_hint"]
    missing = [word for word in COMMANDS[name] if not re.search(rf"\b{word}\b", hint)]
    assert missing == [], f"{name} usage hint does not mention {missing}"


def test_access_hint_shows_superuser_move(commands: dict[str, dict[str, Any]]) -> None:
    assert "superuser <EA> <email>" in commands["/access"]["usage_hint"]


def test_bot_scopes(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert len(scopes) == len(set(scopes)), "a bot scope is listed twice"
    assert set(scopes) >= BOT_SCOPES


def test_settings_use_the_events_endpoint(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert settings["interactivity"] == {"is_enabled": True, "request_url": ENDPOINT}
    assert settings["event_subscriptions"]["request_url"] == ENDPOINT
    assert "app_home_opened" in settings["event_subscriptions"]["bot_events"]
    assert settings["org_deploy_enabled"] is False
    # HTTP mode by default; Socket Mode is chosen at run time by SLACK_APP_TOKEN.
    assert settings["socket_mode_enabled"] is False
