"""The Bolt app and the ways to serve it: HTTP (aiohttp) or Socket Mode."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.config import Settings
from bot.errors import UserError
from bot.outbox import OutboxWorker
from bot.render import t
from bot.store import Store
from handlers import dispatch, guard, middleware, register_handlers
from handlers.common import error_text
from handlers.services import Services

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024  # Slack's payloads are far smaller; refuse anything bigger
REMINDER_SCAN_SECONDS = 30.0


def _json_response(payload: dict[str, Any]) -> BoltResponse:
    return BoltResponse(
        status=200,
        body=json.dumps(payload),
        headers={"content-type": ["application/json;charset=utf-8"]},
    )


def build_app(
    services: Services, *, client: AsyncWebClient | None = None, verify_requests: bool = True
) -> AsyncApp:
    """The one Bolt app of the product; the console builds it too, without signatures."""
    settings = services.settings
    if client is None:
        client = AsyncWebClient(token=settings.bot_token, base_url=settings.api_url)
    app = AsyncApp(
        client=client,
        signing_secret=settings.signing_secret or "",
        request_verification_enabled=verify_requests,
        # The listener runs to its end before Slack gets the answer: no polling for the
        # ack, and what the answer announces is done (still well within Slack's 3 s).
        process_before_response=True,
        raise_error_for_unhandled_request=False,
    )
    app.use(guard.ReplayGuard())  # first of our middleware: replays and repeated deliveries
    middleware.register(app, services)
    register_handlers(dispatch.prefiltered(app))  # each listener with a cheap first test

    @app.error
    async def on_error(
        error: Exception, body: dict[str, Any], request: AsyncBoltRequest
    ) -> BoltResponse | None:
        locale = request.context.get("locale") or settings.default_locale
        if isinstance(error, UserError):
            text = error_text(error, locale)
        else:
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

    def __init__(self, services: Services, client: AsyncWebClient) -> None:
        self.services = services
        worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.worker = OutboxWorker(
            services.store, client, worker_id=worker_id, clock=services.clock
        )
        self.stop_event = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def _scan_reminders(self) -> None:
        while not self.stop_event.is_set():
            try:
                await self.worker.scan_reminders(self.services.clock())
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

    async def stop(self) -> None:
        self.stop_event.set()
        for task in self.tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)
        self.tasks = []


def web_app(app: AsyncApp, background: BackgroundWork | None = None) -> web.Application:
    """The HTTP endpoint: ``POST /slack/events`` and ``GET /healthz``."""

    async def events(request: web.Request) -> web.Response:
        bolt_request = await to_bolt_request(request)
        bolt_response = await guard.dispatch(app, bolt_request)
        return await to_aiohttp_response(bolt_response)

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    web_application = web.Application(client_max_size=MAX_BODY_BYTES)
    web_application.router.add_post("/slack/events", events)
    web_application.router.add_get("/healthz", healthz)
    if background is not None:

        async def start_background(_app: web.Application) -> None:
            background.start()

        async def stop_background(_app: web.Application) -> None:
            await background.stop()

        web_application.on_startup.append(start_background)
        web_application.on_cleanup.append(stop_background)
    return web_application


async def prepare(settings: Settings) -> Services:
    """Open the store; on an empty database create the schema (never load demo data)."""
    store = Store(settings.database_url)
    await store.migrate()
    return Services(store=store, settings=settings)


async def serve(settings: Settings) -> None:
    """Run the bot until interrupted: Socket Mode with an app token, else HTTP."""
    settings.require_slack()
    services = await prepare(settings)
    app = build_app(services)
    background = BackgroundWork(services, app.client)
    where = services.store.url.render_as_string(hide_password=True)
    if settings.socket_mode:
        from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

        log.info("starting in Socket Mode; database %s", where)
        background.start()
        try:
            await AsyncSocketModeHandler(app, settings.app_token).start_async()
        finally:
            await background.stop()
            await services.store.dispose()
        return
    access_log = logging.getLogger("aiohttp.access") if settings.access_log else None
    runner = web.AppRunner(web_app(app, background), access_log=access_log)
    await runner.setup()
    site = web.TCPSite(runner, host="0.0.0.0", port=settings.port)
    await site.start()
    log.info("listening on port %d at /slack/events (HTTP mode); database %s", settings.port, where)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await services.store.dispose()
