"""Listener registration with a cheap first test per listener.

Bolt tries the listeners one after the other; each test builds the keyword arguments
of its matcher function (a dict of some thirty entries) before looking at the request.
With about thirty listeners, that was a visible share of every request's cost. Each
listener registered here gets a first matcher that reads the request body directly
(the slash command's name, the action id, the view's callback id, the event type) and
turns the other requests away at once; Bolt's own matcher still decides for the one
listener that passes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, cast

from slack_bolt.async_app import AsyncApp
from slack_bolt.listener_matcher.async_listener_matcher import AsyncListenerMatcher
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

Constraint = str | re.Pattern[str]


def _accepts(constraint: Constraint, value: object) -> bool:
    """Bolt's rule: a string is compared whole, a pattern searched."""
    if not isinstance(value, str):
        return False
    if isinstance(constraint, str):
        return constraint == value
    return constraint.search(value) is not None


class BodyMatcher(AsyncListenerMatcher):
    """True when ``read(body)`` is accepted by ``constraint`` (see ``_accepts``)."""

    def __init__(self, constraint: Constraint, read: Callable[[dict[str, Any]], object]) -> None:
        self.constraint = constraint
        self.read = read

    async def async_matches(self, req: AsyncBoltRequest, resp: BoltResponse) -> bool:
        body = req.body
        return isinstance(body, dict) and _accepts(self.constraint, self.read(body))


def _command(body: dict[str, Any]) -> object:
    return body.get("command")


def _action_id(body: dict[str, Any]) -> object:
    if body.get("type") != "block_actions":
        return None
    actions = body.get("actions") or [{}]
    return actions[0].get("action_id") if isinstance(actions[0], dict) else None


def _view_callback(body: dict[str, Any]) -> object:
    if body.get("type") != "view_submission":
        return None
    view = body.get("view")
    return view.get("callback_id") if isinstance(view, dict) else None


def _shortcut_callback(body: dict[str, Any]) -> object:
    # global shortcuts are "shortcut", message shortcuts "message_action"
    if body.get("type") not in ("shortcut", "message_action"):
        return None
    return body.get("callback_id")


def _event_type(body: dict[str, Any]) -> object:
    if body.get("type") != "event_callback":
        return None
    event = body.get("event")
    return event.get("type") if isinstance(event, dict) else None


class PrefilteredRegistration:
    """What ``register(app)`` functions use of the app (``command``, ``action``,
    ``view``, ``shortcut``, ``event``), registering each listener with its first test. Constraints
    other than a string or a pattern are registered as they are."""

    def __init__(self, app: AsyncApp) -> None:
        self.app = app

    def command(self, constraint: Any, **kwargs: Any) -> Callable[..., Any]:
        return self._register(self.app.command(constraint, **kwargs), constraint, _command)

    def action(self, constraint: Any, **kwargs: Any) -> Callable[..., Any]:
        return self._register(self.app.action(constraint, **kwargs), constraint, _action_id)

    def view(self, constraint: Any, **kwargs: Any) -> Callable[..., Any]:
        return self._register(self.app.view(constraint, **kwargs), constraint, _view_callback)

    def shortcut(self, constraint: Any, **kwargs: Any) -> Callable[..., Any]:
        return self._register(
            self.app.shortcut(constraint, **kwargs), constraint, _shortcut_callback
        )

    def event(self, constraint: Any, **kwargs: Any) -> Callable[..., Any]:
        return self._register(self.app.event(constraint, **kwargs), constraint, _event_type)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    def _register(
        self,
        decorator: Callable[..., Any],
        constraint: Any,
        read: Callable[[dict[str, Any]], object],
    ) -> Callable[..., Any]:
        def register(function: Callable[..., Any]) -> Any:
            listeners = self.app._async_listeners
            before = len(listeners)
            registered = decorator(function)
            if isinstance(constraint, str | re.Pattern) and len(listeners) == before + 1:
                listener = listeners[-1]
                listener.matchers = [BodyMatcher(constraint, read), *listener.matchers]
            return registered

        return register


def prefiltered(app: AsyncApp) -> AsyncApp:
    """``app`` as the handlers' ``register`` functions see it (same interface)."""
    return cast(AsyncApp, PrefilteredRegistration(app))
