"""The Slack app manifest is valid for Slack and declares the whole command contract."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "manifest.yml"
# Slack's published schema (slackapi/manifest-schema, MIT; the license is beside it).
SCHEMA = ROOT / "tests" / "schemas" / "slack-manifest" / "manifest.schema.1.0.0.json"
# Where the product's Slack calls and listeners are written.
SOURCES = ("bot", "handlers")

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

# What needs each bot scope. A scope is declared when something below that the product
# uses needs it, and only then. Extending the app (a new Web API call, event or shortcut)
# means adding its line here when it is not listed yet; the tests below then ask for the
# scope in manifest.yml, or for its removal once nothing needs it any more.
# Web API method -> the scopes it needs. chat.postMessage also needs chat:write.public:
# queue channels are posted to without the bot being a member of them.
METHOD_SCOPES: dict[str, frozenset[str]] = {
    "chat.postMessage": frozenset({"chat:write", "chat:write.public"}),
    "chat.update": frozenset({"chat:write"}),
    "chat.postEphemeral": frozenset({"chat:write"}),
    "conversations.open": frozenset({"im:write"}),
    "conversations.history": frozenset({"channels:history", "groups:history"}),
    "conversations.replies": frozenset({"channels:history", "groups:history"}),
    "conversations.info": frozenset({"channels:read", "groups:read"}),
    "reactions.add": frozenset({"reactions:write"}),
    # users.info gives the profile's email only with users:read.email
    "users.info": frozenset({"users:read", "users:read.email"}),
    "users.lookupByEmail": frozenset({"users:read.email"}),
    "views.open": frozenset(),
    "views.push": frozenset(),
    "views.update": frozenset(),
    "views.publish": frozenset(),
}
# Bot event (as manifest.yml subscribes to it) -> the scopes it needs.
EVENT_SCOPES: dict[str, frozenset[str]] = {
    "app_home_opened": frozenset(),
    "app_uninstalled": frozenset(),
    "tokens_revoked": frozenset(),
    "app_mention": frozenset({"app_mentions:read"}),
    "message.channels": frozenset({"channels:history"}),
    "message.groups": frozenset({"groups:history"}),
    "message.im": frozenset({"im:history"}),
    "message.mpim": frozenset({"mpim:history"}),
    "reaction_added": frozenset({"reactions:read"}),
    "member_joined_channel": frozenset({"channels:read", "groups:read"}),
}
# manifest.yml feature -> the scopes it needs when present.
FEATURE_SCOPES: dict[str, frozenset[str]] = {
    "slash_commands": frozenset({"commands"}),
    "shortcuts": frozenset({"commands"}),
}
# How the code names a Web API call: slack_sdk's helpers (client.users_info(…)), and a
# method named as text where a call is made or owed (api_call("users.lookupByEmail"),
# outbox entries with method="chat.postMessage").
_HELPER_CALL = re.compile(r"\bclient\.(?!api_call\b)([a-z]+)_([A-Za-z]+)\(")
_NAMED_CALL = re.compile(r"""(?:api_call\(\s*|method=)["']([a-z]+\.[A-Za-z.]+)["']""")
_EVENT_LISTENER = re.compile(r"""\.event\(\s*["']([a-z_]+)["']""")


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


def _source_texts() -> Iterator[tuple[str, str]]:
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            # the console imitates Slack: the methods it answers are not calls of the product
            if path.relative_to(ROOT).as_posix() != "handlers/console.py":
                yield path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")


def web_api_calls() -> dict[str, str]:
    """Every Web API method the product calls or owes, with a file that does."""
    found: dict[str, str] = {}
    for name, text in _source_texts():
        for family, method in _HELPER_CALL.findall(text):
            found.setdefault(f"{family}.{method}", name)
        for method in _NAMED_CALL.findall(text):
            found.setdefault(method, name)
    return found


def event_listeners() -> set[str]:
    return {event for _, text in _source_texts() for event in _EVENT_LISTENER.findall(text)}


def test_the_call_scan_sees_the_known_calls() -> None:
    # The scan below is only as good as its patterns: these calls exist today.
    calls = web_api_calls()
    assert {"chat.postMessage", "chat.update", "users.info", "users.lookupByEmail"} <= set(calls)
    assert "views.open" in calls
    assert "app_home_opened" in event_listeners()


def test_every_web_api_call_has_its_scopes_listed() -> None:
    unknown = sorted(set(web_api_calls()) - set(METHOD_SCOPES))
    assert unknown == [], f"add the scopes these Web API methods need to METHOD_SCOPES: {unknown}"


def test_every_subscribed_event_has_a_listener(manifest: dict[str, Any]) -> None:
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    unknown = sorted(set(events) - set(EVENT_SCOPES))
    assert unknown == [], f"add the scopes these events need to EVENT_SCOPES: {unknown}"
    # message.channels and the like arrive as "message" events
    unheard = sorted(e for e in events if e.split(".")[0] not in event_listeners())
    assert unheard == [], f"subscribed to events no listener handles: {unheard}"


def needed_scopes(manifest: dict[str, Any]) -> dict[str, str]:
    """Scope -> what needs it (a Web API call in a file, an event, a feature)."""
    needs: dict[str, str] = {}
    for method, where in sorted(web_api_calls().items()):
        for scope in METHOD_SCOPES.get(method, frozenset()):
            needs.setdefault(scope, f"{method} in {where}")
    for event in manifest["settings"]["event_subscriptions"]["bot_events"]:
        for scope in EVENT_SCOPES.get(event, frozenset()):
            needs.setdefault(scope, f"the {event} event")
    for feature, scopes in FEATURE_SCOPES.items():
        if manifest["features"].get(feature):
            for scope in scopes:
                needs.setdefault(scope, f"features.{feature}")
    return needs


def test_bot_scopes_are_exactly_the_needed_ones(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert len(scopes) == len(set(scopes)), "a bot scope is listed twice"
    needs = needed_scopes(manifest)
    unused = sorted(set(scopes) - set(needs))
    missing = {scope: why for scope, why in needs.items() if scope not in scopes}
    assert unused == [], f"manifest.yml declares scopes nothing uses: {unused}"
    assert missing == {}, f"manifest.yml lacks scopes the code needs: {missing}"


def test_settings_use_the_events_endpoint(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert settings["interactivity"] == {"is_enabled": True, "request_url": ENDPOINT}
    assert settings["event_subscriptions"]["request_url"] == ENDPOINT
    assert "app_home_opened" in settings["event_subscriptions"]["bot_events"]
    # Enterprise Grid org-wide installs (OAuth mode); the redirect back from Slack's
    # consent screen lands on the endpoint Bolt's install flow serves.
    assert settings["org_deploy_enabled"] is True
    assert manifest["oauth_config"]["redirect_urls"] == [
        ENDPOINT.replace("/slack/events", "/slack/oauth_redirect")
    ]
    assert {"app_uninstalled", "tokens_revoked"} <= set(
        settings["event_subscriptions"]["bot_events"]
    )
    # HTTP mode by default; Socket Mode is chosen at run time by SLACK_APP_TOKEN.
    assert settings["socket_mode_enabled"] is False
