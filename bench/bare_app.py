"""The baseline: a bare Bolt ``AsyncApp`` whose command handler only acks.

It is served exactly like the product (``handlers.app.serve``): the same Bolt options
(signature verification on, ``process_before_response=True``), the product's aiohttp
endpoint (``handlers.app.web_app``) on an ``AppRunner`` without access log (the
product's default), and the same logging as ``supportbot serve``.

    SLACK_SIGNING_SECRET=... python -m bench.bare_app --port 8902
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import sys

from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from handlers.app import web_app

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # as bot.cli sets it for serve


def build_bare_app(
    signing_secret: str, *, token: str = "xoxb-bench", api_url: str | None = None
) -> AsyncApp:
    """The same ``AsyncApp`` options as ``handlers.app.build_app``, and one listener."""
    client = AsyncWebClient(token=token, base_url=api_url or "http://127.0.0.1:9/api/")
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        request_verification_enabled=True,
        process_before_response=True,
        raise_error_for_unhandled_request=False,
    )

    async def handle(ack: AsyncAck) -> None:
        await ack(text="ok")

    app.command(re.compile(r"^/.+$"))(handle)
    return app


async def serve(port: int, signing_secret: str, api_url: str | None) -> None:
    app = build_bare_app(signing_secret, api_url=api_url)
    runner = web.AppRunner(web_app(app), access_log=None)  # the product's default
    await runner.setup()
    site = web.TCPSite(runner, host="0.0.0.0", port=port)  # as handlers.app.serve
    await site.start()
    logging.getLogger(__name__).info("bare app listening on port %d at /slack/events", port)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bare Bolt app that only acks, for benchmarks")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    args = parser.parse_args(argv)
    secret = os.environ.get("SLACK_SIGNING_SECRET")
    if not secret:
        print("SLACK_SIGNING_SECRET is required", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, secret, os.environ.get("SLACK_API_URL")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
