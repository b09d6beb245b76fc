"""Answers built once per value, searches remembered per catalog, a settled heap.

- an answer asked for again (the same EA card for the same viewer) is serialized once
  and comes back identical, while the use case still decides access at every request:
  a grant revoked in between is refused at once;
- what is remembered equals what the builders make;
- a use case's result made of reference data is kept for the read model's version
  only: a grant deleted by another connection is refused at the next request;
- a value that cannot be hashed is built every time, and still answered;
- the FAQ catalog's remembered searches, languages and answers are the search's own;
- ``supportbot serve`` freezes what lives as long as the process out of the garbage
  collector's full passes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import gc
import json
from typing import Any, NamedTuple

import pytest
from account_fixtures import ACME_PROD, ALICE, actor
from conftest import BotUnderTest
from slack_sdk.models.blocks import Block
from sqlalchemy import text

from bot import entitlements
from bot.blocks import Rendered, _remembered, rendered, section
from bot.blocks import accounts as account_blocks
from bot.cli import settle_heap
from bot.errors import UserError
from bot.faq import AskerContext, FaqCatalog, default_catalog
from bot.store import Store
from handlers import lifecycle

MARC = "marc.dupont@nuage.example"  # ATC of nuage, which holds a grant on ACME_PROD


def shown(response: Any) -> str:
    assert response.status == 200
    return json.dumps(response.json, ensure_ascii=False)


async def test_an_answer_asked_again_is_built_once_and_access_still_decided(
    bot_app: BotUnderTest,
) -> None:
    first = shown(await bot_app.command("/ea", ACME_PROD, as_=MARC))
    hits = _remembered.cache_info().hits
    again = shown(await bot_app.command("/ea", ACME_PROD, as_=MARC))
    assert again == first and "ACME Production" in first
    assert _remembered.cache_info().hits == hits + 1  # served serialized, not rebuilt

    shown(await bot_app.command("/access", f"revoke {ACME_PROD} nuage", as_=ALICE))

    refused = shown(await bot_app.command("/ea", ACME_PROD, as_=MARC))
    assert "ACME Production" not in refused and ACME_PROD in refused


async def test_what_is_remembered_is_what_the_builder_makes(
    demo_store: Store, now: dt.datetime
) -> None:
    card = await entitlements.account_card(
        demo_store, await actor(demo_store, ALICE), ea=ACME_PROD, now=now
    )
    built = account_blocks.account_card(card, "fr")
    expected = Rendered(built.text, tuple(b.to_dict() for b in built.blocks))
    assert rendered(account_blocks.account_card, card, "fr") == expected
    assert rendered(account_blocks.account_card, card, "fr") is rendered(
        account_blocks.account_card, card, "fr"
    )
    # Another day is another card: its answer is built for it.
    tomorrow = dataclasses.replace(card, today=card.today + dt.timedelta(days=1))
    assert rendered(account_blocks.account_card, tomorrow, "fr") is not rendered(
        account_blocks.account_card, card, "fr"
    )
    # The key counts take no part in the hash, but still in the comparison.
    assert card.key_counts
    fewer = dataclasses.replace(card, key_counts={})
    assert hash(fewer) == hash(card) and fewer != card
    assert rendered(account_blocks.account_card, fewer, "fr") != expected


async def test_a_use_case_result_is_kept_for_its_version_only(
    demo_store: Store, now: dt.datetime
) -> None:
    reader = Store(str(demo_store.url))  # another instance on the same database
    try:
        marc = await actor(reader, MARC)
        seen = await settled_version(reader)
        first = await entitlements.account_card(reader, marc, ea=ACME_PROD, now=now)
        again = await entitlements.account_card(reader, marc, ea=ACME_PROD, now=now)
        assert again is first  # kept: same version, same viewer, same day
        async with demo_store.engine.begin() as conn:
            await conn.execute(
                text("DELETE FROM grants WHERE ea = :ea AND partner = 'nuage'"), {"ea": ACME_PROD}
            )
        await settled_version(reader, other_than=seen)
        with pytest.raises(UserError):  # refused at once, and a refusal is never kept
            await entitlements.account_card(reader, marc, ea=ACME_PROD, now=now)
        with pytest.raises(UserError):
            await entitlements.account_card(reader, marc, ea=ACME_PROD, now=now)
    finally:
        await reader.dispose()


async def settled_version(store: Store, *, other_than: int | None = None) -> int:
    """The version ``store`` reads at, once it has one (PostgreSQL: once it listens, so
    that no later "listening again" empties its read model) other than ``other_than``:
    on SQLite the version row read at a request's start, on PostgreSQL its NOTIFY."""
    async with asyncio.timeout(5):
        while True:
            await store.begin_request()
            version = store.read_model.version
            listening = store.is_sqlite or (store._listener is not None and store._listener.live)
            if listening and version is not None and version != other_than:
                return version
            await asyncio.sleep(0.01)


class _Message(NamedTuple):
    text: str
    blocks: list[Block]


def _lines(value: dict[str, str], locale: str) -> _Message:
    return _Message(f"{len(value)} {locale}", [section(f"{k}: {v}") for k, v in value.items()])


def test_a_value_that_cannot_be_hashed_is_built_each_time() -> None:
    before = _remembered.cache_info()
    first = rendered(_lines, {"EA": ACME_PROD}, "en")
    second = rendered(_lines, {"EA": ACME_PROD}, "en")
    assert first == second and first is not second
    assert first.text == "1 en"
    assert first.blocks[0]["text"]["text"] == f"EA: {ACME_PROD}"
    after = _remembered.cache_info()
    assert (after.hits, after.misses) == (before.hits, before.misses)


def test_remembered_searches_and_answers_are_the_catalogs_own() -> None:
    catalog = default_catalog()
    fresh = FaqCatalog(catalog.entries, catalog.templates_dir)
    questions = [
        "how do I activate my software assurance benefits",
        "comment trouver le numéro EA d'un client avant de commander",
        "do we need the customer to grant us rights to act for them now",
        "what is the weather like",
    ]
    for question in questions:
        for audience, partner_type in (("customer", None), ("partner", "reseller")):
            expected = fresh.search(question, audience=audience, partner_type=partner_type)
            for _ in range(2):
                got = catalog.remembered_search(
                    question, audience=audience, partner_type=partner_type
                )
                assert got == expected, question
        assert catalog.language_of(question) == fresh._language.guess(question)
    slug = next(iter(catalog.entries))
    context = AskerContext(locale="fr", audience="partner", partner_type="reseller", name="Léa")
    assert catalog.answer(slug, "fr", context) == fresh._answer(slug, "fr", context)
    assert catalog.answer(slug, "fr", context) == catalog.answer(slug, "fr", context)


def test_serve_freezes_the_long_lived_heap() -> None:
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_a_serving_bot_settles_its_heap_again_once_warm(bot_app: BotUnderTest) -> None:
    state = lifecycle.Lifecycle(bot_app.services)
    assert state.settle_heap_after == ()  # only ``serve`` asks for it
    state.settle_heap_after = (2,)
    gc.unfreeze()
    try:
        state.enter()
        state.leave()
        assert gc.get_freeze_count() == 0
        state.enter()
        state.leave()  # the second answered request
        assert gc.get_freeze_count() > 0
        frozen = gc.get_freeze_count()
        state.enter()
        state.leave()
        assert gc.get_freeze_count() == frozen  # once per threshold, not at every request
    finally:
        gc.unfreeze()
