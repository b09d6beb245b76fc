"""Slack glue only: parse the text, call one ``bot`` use case, build the reply."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp


def register_handlers(app: AsyncApp) -> None:
    """Register every command family's listeners (each module has ``register(app)``)."""
    from handlers import accounts, faq, home, installations, supportbot, threads, tickets

    for module in (supportbot, tickets, accounts, faq, home, threads, installations):
        module.register(app)
