"""What operators see of a running app: metrics per request, a log line per request that
was refused or failed (per request, when the access log is on), /healthz, /metrics, and
the requests in flight that a shutdown waits for."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
import weakref
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.metrics import CONTENT_TYPE, Metrics
from bot.store import operations as operations_db
from handlers.services import Services

log = logging.getLogger("supportbot.requests")

HEALTH_TIMEOUT = 2.0  # seconds the database may take to answer a health check
# Outcomes the error handler and the middleware record in the request's context.
OUTCOME_KEY = "outcome"
OK, REFUSED, FAILED, UNKNOWN_USER = "ok", "refused", "error", "unknown_user"


class Lifecycle:
    """The operational state of one app: its metrics, the requests being handled, and
    whether it is shutting down (then new requests are turned away)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.metrics = Metrics()
        self.draining = False
        self.in_flight = 0
        self.answered = 0
        # After how many answered requests the heap is settled again (see settle_warm_heap);
        # none unless the bot serves (``handlers.app.serve``).
        self.settle_heap_after: tuple[int, ...] = ()
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()
        self.answered += 1
        if self.answered in self.settle_heap_after:
            settle_warm_heap()

    async def wait_idle(self, within: float) -> bool:
        """Wait until no request is in flight; False when ``within`` seconds came first."""
        try:
            await asyncio.wait_for(self._idle.wait(), within)
        except TimeoutError:
            return False
        return True


def settle_warm_heap() -> None:
    """Leave what the first requests loaded (code imported on first use, compiled
    statements and templates, the caches they filled) out of the garbage collector's
    full passes, as ``bot.cli.settle_heap`` does for what is loaded at start: each full
    pass then walks only what requests leave behind (under load, 1–2 ms instead of
    7–11 ms every second or so). Whatever cyclic garbage is alive at that moment is
    never collected: a bounded cost, paid once per settling."""
    gc.collect()
    gc.freeze()


_LIFECYCLES: weakref.WeakKeyDictionary[AsyncApp, Lifecycle] = weakref.WeakKeyDictionary()


def lifecycle_of(app: AsyncApp) -> Lifecycle:
    return _LIFECYCLES[app]


def find(app: AsyncApp) -> Lifecycle | None:
    """The app's operational state, if it has one (apps built by ``build_app`` do)."""
    return _LIFECYCLES.get(app)


def command_name(body: dict[str, Any]) -> str:
    """What a request is, in few enough values to be a metric label: the slash command,
    ``event:<type>``, or the interaction type (``block_actions``, ``view_submission``…)."""
    command = body.get("command")
    if isinstance(command, str) and command.startswith("/"):
        return command[:40]
    kind = body.get("type")
    if kind == "event_callback":
        event = body.get("event") or {}
        return f"event:{str(event.get('type') or 'unknown')[:40]}"
    return str(kind or "unknown")[:40]


def set_outcome(context: AsyncBoltContext, outcome: str) -> None:
    context[OUTCOME_KEY] = outcome


class ObservedApp(AsyncApp):
    """The Bolt app, each dispatch counted in flight (or turned away while the process
    shuts down), then logged and measured once acknowledged. Bolt's middleware cannot
    wrap the rest of the chain, and both transports (HTTP, Socket Mode) go through
    ``async_dispatch``, so this is where a request begins and ends.

    ``share_clients`` (one workspace, one bot token): the Web API client of a request is
    kept per team instead of built for each request (see ``_init_context``)."""

    share_clients = False
    _SHARED_CLIENTS_MAX = 64  # teams (an Enterprise Grid may have several); then per request

    def _init_context(self, req: AsyncBoltRequest) -> None:
        """Bolt builds a new ``AsyncWebClient`` for every request, so that a listener may
        change its token without touching other requests'; building one costs about as
        much as the rest of a cached answer. With a single bot token nothing changes it
        (no installation to authorize with), except the token of a workflow function
        run, which still gets a client of its own."""
        if not self.share_clients or req.context.function_bot_access_token is not None:
            super()._init_context(req)
            return
        shared: dict[str | None, tuple[Any, Any]] = self.__dict__.setdefault("_shared_clients", {})
        team = req.context.team_id
        kept = shared.get(team)
        if kept is None:
            super()._init_context(req)
            if len(shared) < self._SHARED_CLIENTS_MAX:
                shared[team] = (req.context["logger"], req.context["client"])
            return
        req.context["logger"], req.context["client"] = kept
        req.context["token"] = self._token
        req.context["listener_runner"] = self.listener_runner

    async def async_dispatch(self, req: AsyncBoltRequest) -> BoltResponse:
        state = _LIFECYCLES.get(self)
        if state is None:
            return await super().async_dispatch(req)
        if state.draining:
            # Not acknowledged: Slack gives up on this instance (HTTP) or delivers the
            # envelope again elsewhere (Socket Mode).
            return BoltResponse(status=503, body="shutting down")
        started = time.perf_counter()
        state.enter()
        response: BoltResponse | None = None
        try:
            response = await super().async_dispatch(req)
            return response
        finally:
            state.leave()
            _record(state, req, response, time.perf_counter() - started)


def attach(app: AsyncApp, services: Services) -> Lifecycle:
    """Give ``app`` (an :class:`ObservedApp`) its operational state."""
    lifecycle = Lifecycle(services)
    _LIFECYCLES[app] = lifecycle
    return lifecycle


def _record(
    lifecycle: Lifecycle, req: AsyncBoltRequest, response: BoltResponse | None, seconds: float
) -> None:
    body = req.body if isinstance(req.body, dict) else {}
    if body.get("type") == "url_verification":
        return
    team, user = req.context.team_id, req.context.user_id
    outcome = req.context.get(OUTCOME_KEY)
    if response is not None and response.status == 401:
        # Unauthenticated: nothing in the body can be trusted, not even as a label.
        command, outcome, team, user = "unauthenticated", "rejected", None, None
    else:
        command = command_name(body)
    if outcome is None:
        if response is None:
            outcome = FAILED
        elif response.status == 200:
            outcome = OK
        else:
            outcome = f"http_{response.status}"
    lifecycle.metrics.observe_request(command, outcome, seconds)
    if outcome == OK and not lifecycle.services.settings.access_log:
        # Requests that went well are logged only when asked for (SUPPORTBOT_ACCESS_LOG):
        # a formatted, written line costs more than the bot's own work on a command
        # answered from memory. /metrics counts them all.
        return
    # Ids and names only: never the text typed, nor anything secret.
    log.info(
        "request",
        extra={
            "fields": {
                "team": team,
                "user": user,
                "command": command,
                "outcome": outcome,
                "latency_ms": round(seconds * 1000, 1),
            }
        },
    )


# --------------------------------------------------------------------------- routes


async def health(lifecycle: Lifecycle) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) of /healthz: 200 when the database answers and the outbox
    is moving; else 503 with a short reason."""
    if lifecycle.draining:
        return 503, {"ok": False, "reason": "shutting down"}
    services = lifecycle.services
    now = services.clock()
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT), services.store.read() as conn:
            await operations_db.ping(conn)
            figures = await operations_db.figures(conn, now=now)
    except Exception as exc:  # any failure to read means the same to a load balancer
        logging.getLogger(__name__).warning("health check: database unavailable: %r", exc)
        return 503, {"ok": False, "reason": "database unavailable"}
    age = figures.oldest_due_age(now)
    body: dict[str, Any] = {
        "ok": True,
        "outbox_pending": figures.outbox_pending,
        "outbox_dead": figures.outbox_dead,
        "outbox_oldest_due_age_seconds": round(age, 1),
    }
    limit = services.settings.outbox_stuck_seconds
    if age > limit:
        body.update(
            ok=False, reason=f"outbox stuck: an entry due {age:.0f} s ago (limit {limit} s)"
        )
        return 503, body
    return 200, body


async def metrics_text(lifecycle: Lifecycle) -> bytes:
    services = lifecycle.services
    now = services.clock()
    figures: operations_db.Figures | None = None
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT), services.store.read() as conn:
            figures = await operations_db.figures(conn, now=now)
    except Exception as exc:  # the request figures are still worth serving
        logging.getLogger(__name__).warning("metrics: database unavailable: %r", exc)
    return lifecycle.metrics.exposition(figures, now)


def add_routes(web_application: web.Application, lifecycle: Lifecycle) -> None:
    """``GET /healthz`` and ``GET /metrics``."""

    async def healthz(_request: web.Request) -> web.Response:
        status, body = await health(lifecycle)
        return web.Response(status=status, text=json.dumps(body), content_type="application/json")

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(
            body=await metrics_text(lifecycle), headers={"Content-Type": CONTENT_TYPE}
        )

    web_application.router.add_get("/healthz", healthz)
    web_application.router.add_get("/metrics", metrics)
