"""The Bolt app and the ways to serve it: HTTP (aiohttp) or Socket Mode."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.config import Settings
from bot.errors import UserError
from bot.installations import Installations
from bot.outbox import OutboxWorker
from bot.render import t
from bot.store import Store
from bot.tickets import release_lapsed_grants
from handlers import dispatch, guard, installations, lifecycle, middleware, register_handlers
from handlers.common import error_text
from handlers.services import Services

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024  # Slack's payloads are far smaller; refuse anything bigger
REMINDER_SCAN_SECONDS = 30.0
# On SIGTERM/SIGINT: how long requests in flight, then the outbox worker's and the
# reminder scanner's current rounds, may take to finish before the process stops anyway.
SHUTDOWN_GRACE_SECONDS = 10.0
# The served bot settles its heap again once warm: after its first requests have
# loaded what they use, and once more after many more (lifecycle.settle_warm_heap).
SETTLE_HEAP_AFTER = (1_000, 20_000)


def _json_response(payload: dict[str, Any]) -> BoltResponse:
    return BoltResponse(
        status=200,
        body=json.dumps(payload),
        headers={"content-type": ["application/json;charset=utf-8"]},
    )


def build_app(
    services: Services, *, client: AsyncWebClient | None = None, verify_requests: bool = True
) -> AsyncApp:
    """The one Bolt app of the product; the console builds it too, without signatures.

    Single-workspace mode: every request is answered with ``client`` (SLACK_BOT_TOKEN).
    OAuth mode (``services.installations`` from :meth:`Installations.oauth`): Bolt serves
    the install flow and authorizes each request with its own team's installation."""
    settings = services.settings
    doors = services.installations
    if doors is not None and doors.is_oauth:
        oauth = installations.oauth_options(settings, doors)
    else:
        oauth = {}
        if client is None:
            client = doors.base if doors is not None else None
        if client is None:
            client = AsyncWebClient(token=settings.bot_token, base_url=settings.api_url)
        if doors is None:
            services.installations = Installations.single(client)
    app = lifecycle.ObservedApp(
        client=client if not oauth else doors.base,  # type: ignore[union-attr]
        # The HTTP endpoint checks the signature itself, over the raw bytes and before
        # anything is parsed (guard.from_http, with this secret); Bolt's own check would
        # only repeat it. Socket Mode requests are not signed. No secret: no check (the
        # console).
        signing_secret=(settings.signing_secret or "") if verify_requests else "",
        request_verification_enabled=False,
        # The listener runs to its end before Slack gets the answer: no polling for the
        # ack, and what the answer announces is done (still well within Slack's 3 s).
        process_before_response=True,
        raise_error_for_unhandled_request=False,
        **oauth,
    )
    # One token for every request: each team's Web API client is built once.
    app.share_clients = not oauth
    lifecycle.attach(app, services)  # counts and logs every request, even those refused
    app.use(guard.ReplayGuard())  # first of our middleware: replays and repeated deliveries
    middleware.register(app, services)
    register_handlers(dispatch.prefiltered(app))  # each listener with a cheap first test
    dispatch.route(app)  # and a request tries only the listeners that can answer it

    @app.error
    async def on_error(
        error: Exception, body: dict[str, Any], request: AsyncBoltRequest
    ) -> BoltResponse | None:
        locale = request.context.get("locale") or settings.default_locale
        if isinstance(error, UserError):
            lifecycle.set_outcome(request.context, lifecycle.REFUSED)
            text = error_text(error, locale)
        else:
            lifecycle.set_outcome(request.context, lifecycle.FAILED)
            reference = uuid.uuid4().hex[:10]
            log.error("unexpected error %s", reference, exc_info=error)
            text = t("errors.unexpected", locale, correlation_id=reference)
        if body.get("command"):
            return _json_response({"response_type": "ephemeral", "text": text})
        if body.get("type") == "view_submission":
            view = body.get("view") or {}
            field = next(
                (b.get("block_id") for b in view.get("blocks", []) if b.get("type") == "input"),
                None,
            )
            if isinstance(error, UserError) and isinstance(error.params.get("block_id"), str):
                field = error.params["block_id"]
            if field:
                return _json_response({"response_action": "errors", "errors": {field: text[:150]}})
        response_url = body.get("response_url")
        if response_url:
            middleware.background(
                AsyncWebhookClient(response_url).send(text=text, response_type="ephemeral")
            )
        return None

    return app


class BackgroundWork:
    """The outbox worker and the SLA reminder scanner, for the life of the process."""

    def __init__(self, services: Services, installations: Installations) -> None:
        self.services = services
        worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.worker = OutboxWorker(
            services.store, installations, worker_id=worker_id, clock=services.clock
        )
        self.stop_event = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def _scan_reminders(self) -> None:
        while not self.stop_event.is_set():
            try:
                await self.worker.scan_reminders(self.services.clock())
                # Grants that lapsed since: their partner's open tickets move on.
                await release_lapsed_grants(self.services.store, now=self.services.clock())
            except Exception:
                log.exception("reminder scan failed; trying again shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), REMINDER_SCAN_SECONDS)

    def start(self) -> None:
        self.stop_event.clear()
        self.tasks = [
            asyncio.create_task(self.worker.run_forever(self.stop_event)),
            asyncio.create_task(self._scan_reminders()),
        ]

    async def stop(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Stop after the current round of each; a round still running after ``grace``
        seconds is cancelled (a claimed outbox entry then goes back when its lease ends)."""
        self.stop_event.set()
        if self.tasks:
            _done, late = await asyncio.wait(self.tasks, timeout=grace)
            for task in late:
                log.warning("background task still busy after %.0f s: cancelled", grace)
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []


def web_app(app: AsyncApp, background: BackgroundWork | None = None) -> web.Application:
    """The HTTP endpoint: ``POST /slack/events``, ``GET /healthz`` and ``GET /metrics``."""

    # Bolt keeps the secret it checks with; the raw-bytes check uses the same one.
    signing_secret = str(getattr(app, "_signing_secret", "") or "")

    async def events(request: web.Request) -> web.Response:
        bolt_response = await guard.from_http(app, request, signing_secret=signing_secret)
        return await to_aiohttp_response(bolt_response)

    web_application = web.Application(client_max_size=MAX_BODY_BYTES)
    web_application.router.add_post("/slack/events", events)
    installations.add_routes(web_application, app)
    state = lifecycle.find(app)
    if state is not None:
        lifecycle.add_routes(web_application, state)
    else:
        # A plain Bolt app (the benchmarks' bare one) has no store to check: alive is all.
        async def alive(_request: web.Request) -> web.Response:
            return web.json_response({"ok": True})

        web_application.router.add_get("/healthz", alive)
    if background is not None:

        async def start_background(_app: web.Application) -> None:
            background.start()

        async def stop_background(_app: web.Application) -> None:
            await background.stop()

        web_application.on_startup.append(start_background)
        web_application.on_cleanup.append(stop_background)
    return web_application


@contextlib.asynccontextmanager
async def web_api_client(settings: Settings) -> AsyncIterator[AsyncWebClient]:
    """The process's Web API client on one aiohttp session kept open until shutdown.

    Without a session of its own, slack_sdk opens a new one for every call, hence a new
    connection (TCP, and TLS towards Slack) before each message the outbox delivers; a
    kept session reuses its connections. Close it only once nothing calls Slack any more.
    """
    session = aiohttp.ClientSession()
    try:
        yield AsyncWebClient(token=settings.bot_token, base_url=settings.api_url, session=session)
    finally:
        await session.close()


@contextlib.asynccontextmanager
async def web_api_installations(settings: Settings, store: Store) -> AsyncIterator[Installations]:
    """The installations of the process (one client, or one per team's token), all on
    one aiohttp session kept open until shutdown (see :func:`web_api_client`)."""
    session = aiohttp.ClientSession()
    try:
        yield Installations.for_settings(settings, store, session=session)
    finally:
        await session.close()


async def prepare(settings: Settings) -> Services:
    """Open the store; on an empty database create the schema (never load demo data)."""
    store = Store(settings.database_url)
    await store.migrate()
    return Services(store=store, settings=settings)


def _on_signals(stop: asyncio.Event) -> Callable[[], None]:
    """Set ``stop`` on SIGTERM or SIGINT; returns the undo."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for number in signals:
        loop.add_signal_handler(number, stop.set)

    def undo() -> None:
        for number in signals:
            loop.remove_signal_handler(number)

    return undo


async def _drain(app: AsyncApp, deadline: float) -> None:
    """Turn new requests away, then wait (until ``deadline``) for those in flight, and
    for what they started after their acknowledgement."""
    state = lifecycle.lifecycle_of(app)
    state.draining = True
    if not await state.wait_idle(max(deadline - time.monotonic(), 0.0)):
        log.warning("shutdown: %d request(s) still in flight, stopping anyway", state.in_flight)
    await middleware.wait_background(max(deadline - time.monotonic(), 0.0))


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run the bot until SIGTERM or SIGINT (or ``stop``): Socket Mode with an app token,
    else HTTP. Then shut down gracefully: stop accepting, let requests in flight finish
    (bounded by SHUTDOWN_GRACE_SECONDS), stop the outbox worker and the reminder scanner
    after their current round, close the Web API session and the database."""
    settings.require_slack()
    services = await prepare(settings)
    where = services.store.url.render_as_string(hide_password=True)
    stop = stop or asyncio.Event()
    undo_signals = _on_signals(stop)
    try:
        # The session closes after the requests in flight and the background work stopped.
        async with web_api_installations(settings, services.store) as doors:
            services.installations = doors
            app = build_app(services)
            lifecycle.lifecycle_of(app).settle_heap_after = SETTLE_HEAP_AFTER
            background = BackgroundWork(services, doors)
            if settings.socket_mode:
                await _serve_socket_mode(settings, app, background, stop, where)
            else:
                await _serve_http(settings, app, background, stop, where)
    finally:
        undo_signals()
        await services.store.dispose()
    log.info("stopped")


async def _serve_http(
    settings: Settings, app: AsyncApp, background: BackgroundWork, stop: asyncio.Event, where: str
) -> None:
    # aiohttp's cleanup stops listening, then waits up to shutdown_timeout for the
    # requests being handled; the background work stops on the app's cleanup after.
    # aiohttp's access log (a line per HTTP request) only when asked for: the bot logs
    # each Slack request itself
    access_log = logging.getLogger("aiohttp.access") if settings.access_log else None
    runner = web.AppRunner(
        web_app(app, background), shutdown_timeout=SHUTDOWN_GRACE_SECONDS, access_log=access_log
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host="0.0.0.0", port=settings.port)
        await site.start()
        log.info(
            "listening on port %d at /slack/events (HTTP mode%s); database %s",
            settings.port,
            ", OAuth: /slack/install and /slack/oauth_redirect" if settings.oauth else "",
            where,
        )
        await stop.wait()
        log.info("shutting down: no new requests, finishing those in flight")
        deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
        await site.stop()
        await _drain(app, deadline)
    finally:
        await runner.cleanup()


async def _serve_socket_mode(
    settings: Settings, app: AsyncApp, background: BackgroundWork, stop: asyncio.Event, where: str
) -> None:
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

    ops_runner: web.AppRunner | None = None
    if settings.port_set:
        # Socket Mode needs no HTTP endpoint; operators still need health and metrics.
        ops_app = web.Application()
        lifecycle.add_routes(ops_app, lifecycle.lifecycle_of(app))
        ops_runner = web.AppRunner(ops_app, shutdown_timeout=1.0)
        await ops_runner.setup()
        await web.TCPSite(ops_runner, host="0.0.0.0", port=settings.port).start()
    handler = AsyncSocketModeHandler(app, settings.app_token)
    try:
        await handler.connect_async()
        background.start()
        log.info(
            "connected in Socket Mode; database %s%s",
            where,
            f"; /healthz and /metrics on port {settings.port}" if ops_runner else "",
        )
        await stop.wait()
        log.info("shutting down: no new requests, finishing those in flight")
        # Envelopes arriving now are not acknowledged, so Slack delivers them elsewhere;
        # those in flight still send their acknowledgement before the socket closes.
        await _drain(app, time.monotonic() + SHUTDOWN_GRACE_SECONDS)
    finally:
        await handler.close_async()
        await background.stop()
        if ops_runner is not None:
            await ops_runner.cleanup()
