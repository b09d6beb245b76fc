"""The manifest declares what the ticket threads need: the events, the message
shortcuts and their scopes, and nothing the bot does not listen to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.blocks.threads import ThreadIds

MANIFEST = Path(__file__).resolve().parents[1] / "manifest.yml"

THREAD_EVENTS = {
    "app_mention",
    "message.channels",
    "message.groups",
    "message.im",
    "reaction_added",
}
# Each event and what Slack requires to deliver it (and to read back a reacted message).
THREAD_SCOPES = {
    "app_mentions:read",  # app_mention
    "channels:history",  # message.channels, conversations.history in public channels
    "groups:history",  # message.groups, conversations.history in private channels
    "im:history",  # message.im
    "reactions:read",  # reaction_added
}
MESSAGE_SHORTCUTS = {
    ThreadIds.TICKET_FROM_MESSAGE,
    ThreadIds.REPLY_TO_CUSTOMER,
    ThreadIds.REPLY_TO_VENDOR,
}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_events_are_exactly_those_listened_to(manifest: dict[str, Any]) -> None:
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert len(events) == len(set(events))
    assert set(events) == THREAD_EVENTS | {"app_home_opened", "app_uninstalled", "tokens_revoked"}


def test_message_shortcuts_match_the_handlers(manifest: dict[str, Any]) -> None:
    shortcuts = manifest["features"]["shortcuts"]
    assert {s["callback_id"] for s in shortcuts} == {str(s) for s in MESSAGE_SHORTCUTS}
    assert all(s["type"] == "message" for s in shortcuts)
    assert "ticket_from_message" in {s["callback_id"] for s in shortcuts}  # the contract's id
    for shortcut in shortcuts:
        assert len(shortcut["name"]) <= 24 and 0 < len(shortcut["description"]) <= 150


def test_the_scopes_the_events_need_are_granted(manifest: dict[str, Any]) -> None:
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert scopes >= THREAD_SCOPES
    # Nothing the threads do not use: no writes to reactions, no reading of files.
    assert not {s for s in scopes if s.startswith(("reactions:write", "files:", "mpim:"))}


def test_customers_may_reply_in_the_messages_tab(manifest: dict[str, Any]) -> None:
    # The customer thread of a ticket opened by command is the bot's DM notice.
    assert manifest["features"]["app_home"]["messages_tab_read_only_enabled"] is False
