"""Which listener answers a request, found without trying every one.

Bolt tries the listeners one after the other; each test builds the keyword arguments
of its matcher function (a dict of some thirty entries) before looking at the request,
and the listener that matches is called with another such dict. With about fifty
listeners, that was a visible share of every request's cost.

- Registration (:func:`prefiltered`): each listener gets a first matcher that reads the
  request body directly (the slash command's name, the action id, the view's callback
  id, the event type) and turns the other requests away at once.
- Dispatch (:func:`route`): the listeners registered with a plain name become one entry
  of Bolt's list, :class:`Routes`, which looks the request's name up in a table and
  tries only the listeners that can answer it, in their order of registration (those
  registered with a pattern are tried for every request of their kind). The one chosen
  is called with just the arguments it names.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple, cast

from slack_bolt.async_app import AsyncApp
from slack_bolt.listener.async_listener import AsyncCustomListener, AsyncListener
from slack_bolt.listener_matcher.async_listener_matcher import AsyncListenerMatcher
from slack_bolt.request import payload_utils
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

Constraint = str | re.Pattern[str]
Reader = Callable[[dict[str, Any]], object]


def _accepts(constraint: Constraint, value: object) -> bool:
    """Bolt's rule: a string is compared whole, a pattern searched."""
    if not isinstance(value, str):
        return False
    if isinstance(constraint, str):
        return constraint == value
    return constraint.search(value) is not None


class BodyMatcher(AsyncListenerMatcher):
    """True when ``read(body)`` is accepted by ``constraint`` (see ``_accepts``)."""

    def __init__(self, constraint: Constraint, read: Reader) -> None:
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
        read: Reader,
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


# The body's readers, each the name of one kind of request: a request is of one kind.
_READERS: tuple[Reader, ...] = (
    _command,
    _action_id,
    _view_callback,
    _shortcut_callback,
    _event_type,
)
Key = tuple[Reader, str]


def _request_key(body: dict[str, Any]) -> Key | None:
    for read in _READERS:
        value = read(body)
        if isinstance(value, str):
            return read, value
    return None


Argument = Callable[[AsyncBoltRequest, BoltResponse, AsyncCustomListener], Any]
# What a listener may name, read off the request the way Bolt's keyword injection does
# (slack_bolt.kwargs_injection); any other name is taken from the context, as Bolt does.
_ARGUMENTS: dict[str, Argument] = {
    "ack": lambda req, _resp, _listener: req.context.ack,
    "body": lambda req, _resp, _listener: req.body,
    "context": lambda req, _resp, _listener: req.context,
    "client": lambda req, _resp, _listener: req.context.client,
    "logger": lambda _req, _resp, listener: listener.logger,
    "req": lambda req, _resp, _listener: req,
    "request": lambda req, _resp, _listener: req,
    "resp": lambda _req, resp, _listener: resp,
    "response": lambda _req, resp, _listener: resp,
    "command": lambda req, _resp, _listener: payload_utils.to_command(req.body),
    "action": lambda req, _resp, _listener: payload_utils.to_action(req.body),
    "view": lambda req, _resp, _listener: payload_utils.to_view(req.body),
    "event": lambda req, _resp, _listener: payload_utils.to_event(req.body),
    "shortcut": lambda req, _resp, _listener: payload_utils.to_shortcut(req.body),
    "message": lambda req, _resp, _listener: payload_utils.to_message(req.body),
    "options": lambda req, _resp, _listener: payload_utils.to_options(req.body),
    "say": lambda req, _resp, _listener: req.context.say,
    "respond": lambda req, _resp, _listener: req.context.respond,
}
# The other names Bolt's injection gives a value of its own (some built on first use, so
# not in the context yet): listeners naming one are called through that injection.
_BOLT_ONLY = frozenset(
    {
        *("self", "cls", "args", "payload", "next", "next_", "error", "step"),
        *("complete", "fail", "set_status", "set_title", "set_suggested_prompts"),
        *("get_thread_context", "save_thread_context", "say_stream"),
    }
)


class _Route:
    """One listener as :class:`Routes` tries and calls it."""

    def __init__(self, listener: AsyncListener) -> None:
        self.listener = listener
        first = listener.matchers[0] if listener.matchers else None
        # Registered with a plain name: found by it in the table.
        self.key: Key | None = (
            (first.read, first.constraint)
            if isinstance(first, BodyMatcher) and isinstance(first.constraint, str)
            else None
        )
        # Otherwise tried for every request of the kind its first test reads (a
        # pattern), or of any kind.
        self.kind = first.read if isinstance(first, BodyMatcher) else None
        # A plain name, then Bolt's own test of that name, which the table settles: no
        # test is left to run.
        plain = self.key is not None and len(listener.matchers) == 2
        self.matchers = () if plain else tuple(listener.matchers)
        names = getattr(listener, "arg_names", None)
        self.arguments: tuple[str, ...] | None = None
        if isinstance(listener, AsyncCustomListener) and not _BOLT_ONLY.intersection(names or ()):
            self.arguments = tuple(names or ())

    def serves(self, key: Key) -> bool:
        if self.key is not None:
            return self.key == key
        return self.kind is None or self.kind is key[0]

    async def matches(self, req: AsyncBoltRequest, resp: BoltResponse) -> bool:
        for matcher in self.matchers:
            if not await matcher.async_matches(req, resp):
                return False
        return True

    async def call(self, req: AsyncBoltRequest, resp: BoltResponse) -> BoltResponse | None:
        listener = self.listener
        context = req.context
        if self.arguments is None:
            result = await listener.run_ack_function(request=req, response=resp)
        else:
            custom = cast(AsyncCustomListener, listener)
            kwargs = {}
            for name in self.arguments:
                read = _ARGUMENTS.get(name)
                kwargs[name] = read(req, resp, custom) if read is not None else context.get(name)
            result = await custom.ack_function(**kwargs)
        if listener.auto_acknowledgement and context.ack.response is None:
            await context.ack()  # what Bolt's runner does after an event's listener
        return result


class _Chosen(NamedTuple):
    route: _Route
    response: BoltResponse  # as the route's listener middleware left it
    answer: BoltResponse | None  # that middleware's own answer: the listener is not run


_CHOSEN = "_supportbot_route"  # where the request's context keeps its _Chosen


class Routes(AsyncListener):
    """The app's listeners as one entry of Bolt's list (see the module's docstring).

    It matches a request when one of its listeners does (its own tests, then its
    listener middleware, as Bolt tries a listener), and runs that one. Bolt runs its
    global middleware before, and its listener runner (error handler, ack rules)
    around, as for a listener of its own."""

    def __init__(self, routes: Sequence[_Route]) -> None:
        self.matchers = []
        self.middleware = []
        self.lazy_functions = []
        self.auto_acknowledgement = False  # each route acknowledges as its listener would
        self.ack_timeout = 3
        # Bolt names a listener after this function in its logs.
        self.ack_function = cast(Callable[..., Awaitable[BoltResponse]], self.run_ack_function)
        self.routes = tuple(routes)
        keys = {route.key for route in routes if route.key is not None}
        self._table = {key: tuple(r for r in routes if r.serves(key)) for key in keys}
        self._by_kind = {
            read: tuple(r for r in routes if r.key is None and r.kind in (None, read))
            for read in _READERS
        }
        self._others = tuple(r for r in routes if r.key is None and r.kind is None)

    def _candidates(self, body: Any) -> tuple[_Route, ...]:
        key = _request_key(body) if isinstance(body, dict) else None
        if key is None:
            return self._others
        found = self._table.get(key)
        return found if found is not None else self._by_kind[key[0]]

    async def async_matches(self, *, req: AsyncBoltRequest, resp: BoltResponse) -> bool:
        for route in self._candidates(req.body):
            if not await route.matches(req, resp):
                continue
            response, stopped = await route.listener.run_async_middleware(req=req, resp=resp)
            if stopped and response is None:
                continue  # its middleware says the listener is not for this request
            chosen = _Chosen(route, response or resp, response if stopped else None)
            req.context[_CHOSEN] = chosen
            return True
        return False

    async def run_ack_function(
        self, *, request: AsyncBoltRequest, response: BoltResponse
    ) -> BoltResponse | None:
        chosen: _Chosen = request.context[_CHOSEN]
        if chosen.answer is not None:
            return chosen.answer
        return await chosen.route.call(request, chosen.response)


def route(app: AsyncApp) -> None:
    """Put :class:`Routes` in place of the listeners registered so far (Bolt's list then
    holds it alone; listeners registered later go behind it, as they would have gone
    behind the others). A listener with lazy functions (none of the product's has one)
    ends the routed ones: it and those after it stay as they are, so the order holds."""
    listeners: list[AsyncListener] = app._async_listeners
    count = 0
    while count < len(listeners) and not listeners[count].lazy_functions:
        count += 1
    if count:
        listeners[:count] = [Routes([_Route(listener) for listener in listeners[:count]])]
