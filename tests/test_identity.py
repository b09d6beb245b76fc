"""People of other workspaces: who a Slack person is, and whether they may act as a
contact. Over HTTP: the real Bolt app, signed requests, the fake Web API.

The demo world is a single-workspace install (everyone in ``TEAM_ID``). The customer
ACME shares #acme-support (``C0ACMESUPPORT``) with its partner nuage; people of ACME's
own workspace (``T0ACME``) appear there as external members.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import BotUnderTest, user_id_for
from fakeslack import BOT_USER_ID
from sqlalchemy import select

from bot.domain import IdentityProof
from bot.identity import CODE_ALPHABET, CODE_LENGTH, Person, email_trusted
from bot.store import identities as identities_db
from bot.store import tables
from handlers import middleware

ALICE = "alice.martin@acme.example"  # ACME superuser
DAVID = "david.nguyen@acme.example"  # ACME user
LEA = "lea.girard@nuage.example"  # nuage agent
SOPHIE = "sophie.bernard@nuage.example"  # nuage admin
PAUL = "paul.lefevre@distrilog.example"  # another partner's agent
ACME_CH = "C0ACMESUPPORT"
ACME_TEAM = "T0ACME"
OTHER_TEAM = "T0ELSEWHERE"
MENTION = f"<@{BOT_USER_ID}>"
CODE = re.compile(rf"/supportbot link ([{CODE_ALPHABET}]{{{CODE_LENGTH}}})")


def text_of(response: Any) -> str:
    assert response.status == 200, response.text
    assert response.json["response_type"] == "ephemeral"
    return str(response.json["text"])


async def settle(bot: BotUnderTest) -> None:
    assert await middleware.wait_background(10.0)
    await bot.drain()


def dms_to(bot: BotUnderTest, user_id: str) -> list[str]:
    return [str(c.args["text"]) for c in bot.fake.posts(user_id)]


async def whoami(bot: BotUnderTest, user_id: str, team: str) -> str:
    return text_of(
        await bot.requests.command(
            "/supportbot", "whoami", user_id=user_id, team_id=team, channel_id=ACME_CH
        )
    )


# ------------------------------------------------------------------------ the rule


def test_an_email_is_trusted_only_where_the_workspace_is_vouched_for() -> None:
    from bot.domain import Channel, ChannelRole

    acme_channel = Channel(channel=ACME_CH, org="acme", role=ChannelRole.CUSTOMER, partner="nuage")
    other_channel = Channel(channel="C0OTHER", org="lumiere", role=ChannelRole.CUSTOMER)
    # The contact's own workspace; never another organization's, even in its channel.
    assert email_trusted("acme", workspace_org="acme", at_home=False, channel=None)
    assert not email_trusted("acme", workspace_org="nuage", at_home=True, channel=acme_channel)
    # The operator's own workspace of a single-workspace install.
    assert email_trusted("acme", workspace_org=None, at_home=True, channel=None)
    # A workspace nobody claims: only in a channel of the contact's organization (or of
    # the partner hosting it).
    assert email_trusted("acme", workspace_org=None, at_home=False, channel=acme_channel)
    # Someone of another workspace is never of the organization hosting the channel.
    assert not email_trusted("nuage", workspace_org=None, at_home=False, channel=acme_channel)
    assert not email_trusted("acme", workspace_org=None, at_home=False, channel=other_channel)
    assert not email_trusted("acme", workspace_org=None, at_home=False, channel=None)


# ------------------------------------------- Slack Connect: a customer with a hidden email


async def test_hidden_email_in_a_shared_channel_is_refused_until_an_admin_confirms(
    bot_app: BotUnderTest,
) -> None:
    bot = bot_app
    stranger = "U0EXTALICE"
    bot.fake.add_user(stranger, None, name="Alice M.", locale="fr-FR", team=ACME_TEAM)

    # Refused: a command says how to be known...
    refused = await whoami(bot, stranger, ACME_TEAM)
    assert "/supportbot link" in refused
    # ... and so does the bot in the thread of a message asking for a ticket; no ticket.
    response, message = await bot.requests.message(
        ACME_CH, stranger, f"{MENTION} sev2 ea:411023871 vMotion fails", user_team=ACME_TEAM
    )
    assert response.status == 200
    await settle(bot)
    [answer] = bot.fake.thread(ACME_CH, str(message["ts"]))
    assert "/supportbot link" in str(answer.args["text"])
    assert "T-" not in str(answer.args["text"])

    # She asks to be linked to Alice: nobody knows Alice in Slack yet, so no code can
    # be sent; nuage's admin (a partner of ACME) is asked to confirm.
    asked = text_of(
        await bot.requests.command(
            "/supportbot", f"link {ALICE}", user_id=stranger, team_id=ACME_TEAM, channel_id=ACME_CH
        )
    )
    assert ALICE in asked
    await settle(bot)
    [to_sophie] = dms_to(bot, user_id_for(SOPHIE))
    assert f"/supportbot link confirm {ACME_TEAM} {stranger}" in to_sophie
    assert ALICE in to_sophie
    assert not dms_to(bot, stranger)

    # An agent of another partner may not vouch for ACME's contacts.
    paul = await bot.command("/supportbot", f"link confirm {ACME_TEAM} {stranger}", as_=PAUL)
    assert "garant" in text_of(paul)  # Paul reads French
    assert "/supportbot link" in await whoami(bot, stranger, ACME_TEAM)

    confirmed = text_of(
        await bot.command("/supportbot", f"link confirm {ACME_TEAM} {stranger}", as_=SOPHIE)
    )
    assert "Alice" in confirmed
    await settle(bot)
    assert any("confirm" in text for text in dms_to(bot, stranger))  # told, in her language

    # Served as Alice now, by command and in the shared channel.
    assert ALICE in await whoami(bot, stranger, ACME_TEAM)
    response, message = await bot.requests.message(
        ACME_CH, stranger, f"{MENTION} sev2 ea:411023871 vMotion fails again", user_team=ACME_TEAM
    )
    await settle(bot)
    replies = [str(c.args["text"]) for c in bot.fake.thread(ACME_CH, str(message["ts"]))]
    assert any(re.search(r"T-\d+", text) for text in replies), replies
    async with bot.store.read() as conn:
        identity = await identities_db.find_identity(
            conn, team=ACME_TEAM, user=stranger, enterprise=None
        )
        actors = (
            await conn.execute(
                select(tables.audit_entries.c.actor).where(
                    tables.audit_entries.c.action == "identity.linked"
                )
            )
        ).scalars()
        linked_by = list(actors)
    assert identity is not None and identity.email == ALICE
    assert identity.proof is IdentityProof.ADMIN
    assert linked_by == [SOPHIE]


async def test_the_answer_to_a_link_request_does_not_tell_who_is_in_the_directory(
    bot_app: BotUnderTest,
) -> None:
    bot = bot_app
    bot.fake.add_user("U0EXTNOBODY", None, team=OTHER_TEAM)
    known = text_of(
        await bot.requests.command(
            "/supportbot", f"link {ALICE}", user_id="U0EXTNOBODY", team_id=OTHER_TEAM
        )
    )
    unknown = text_of(
        await bot.requests.command(
            "/supportbot",
            "link nobody@nowhere.example",
            user_id="U0EXTNOBODY",
            team_id=OTHER_TEAM,
        )
    )
    assert known.replace(ALICE, "X") == unknown.replace("nobody@nowhere.example", "X")
    bad = text_of(
        await bot.requests.command(
            "/supportbot", "link not-an-email", user_id="U0EXTNOBODY", team_id=OTHER_TEAM
        )
    )
    assert "not-an-email" in bad
    # Anything else is still refused to someone the bot does not know.
    other = text_of(
        await bot.requests.command("/ea", "411023871", user_id="U0EXTNOBODY", team_id=OTHER_TEAM)
    )
    assert "/supportbot link" in other


# ---------------------------------------- a one-time code, through a workspace known for them


async def test_a_code_sent_where_the_contact_is_known_links_the_new_workspace(
    bot_app: BotUnderTest,
) -> None:
    bot = bot_app
    home = user_id_for(ALICE)
    assert ALICE in text_of(await bot.command("/supportbot", "whoami", as_=ALICE))  # known here
    visitor, mallory = "U0ALICEAWAY", "U0MALLORY"
    bot.fake.add_user(visitor, None, team=OTHER_TEAM)
    bot.fake.add_user(mallory, None, team=OTHER_TEAM)

    async def link(user: str, text: str) -> str:
        return text_of(
            await bot.requests.command(
                "/supportbot", f"link {text}", user_id=user, team_id=OTHER_TEAM
            )
        )

    await link(visitor, ALICE)
    await settle(bot)
    [dm] = [text for text in dms_to(bot, home) if CODE.search(text)]
    code = CODE.search(dm).group(1)  # type: ignore[union-attr]
    assert visitor in dm and OTHER_TEAM in dm

    # The code is worthless typed by anyone else, and a wrong one counts.
    assert "No code is waiting" in await link(mallory, code)
    wrong = "".join("A" if c != "A" else "B" for c in code)
    assert "4 tries left" in await link(visitor, wrong)

    linked = await link(visitor, code.lower())
    assert "Alice" in linked and "ACME" in linked
    assert ALICE in await whoami(bot, visitor, OTHER_TEAM)
    assert "déjà" in await link(visitor, ALICE)  # Alice reads French
    # Used once: typed again, it links nothing.
    async with bot.store.read() as conn:
        assert await identities_db.get_link_code(conn, team=OTHER_TEAM, user=visitor) is None


async def test_a_code_expires_and_dies_after_five_wrong_tries(bot_app: BotUnderTest) -> None:
    bot = bot_app
    await bot.command("/supportbot", "whoami", as_=ALICE)
    visitor = "U0ALICEAWAY"
    bot.fake.add_user(visitor, None, team=OTHER_TEAM)

    async def link(text: str) -> str:
        return text_of(
            await bot.requests.command(
                "/supportbot", f"link {text}", user_id=visitor, team_id=OTHER_TEAM
            )
        )

    await link(ALICE)
    await settle(bot)
    [dm] = [t for t in dms_to(bot, user_id_for(ALICE)) if CODE.search(t)]
    code = CODE.search(dm).group(1)  # type: ignore[union-attr]
    bot.clock.advance(minutes=16)
    assert "No code is waiting" in await link(code)

    await link(ALICE)
    await settle(bot)
    fresh = [CODE.search(t).group(1) for t in dms_to(bot, user_id_for(ALICE)) if CODE.search(t)]  # type: ignore[union-attr]
    code = fresh[-1]
    wrong = "".join("A" if c != "A" else "B" for c in code)
    for _ in range(5):
        await link(wrong)
    assert "No code is waiting" in await link(code)
    assert "/supportbot link" in await whoami(bot, visitor, OTHER_TEAM)


# ------------------------------------------------------------- workspaces of organizations


async def test_a_workspace_linked_to_an_organization_vouches_for_its_emails_only(
    bot_app: BotUnderTest,
) -> None:
    bot = bot_app
    # nuage's admin links ACME's workspace to ACME (nuage is ACME's partner).
    linked = text_of(
        await bot.command("/supportbot", f"workspace link acme {ACME_TEAM}", as_=SOPHIE)
    )
    assert ACME_TEAM in linked and "ACME" in linked
    # David, in ACME's own workspace, with his email visible: served, remembered.
    bot.fake.add_user("U0DAVIDACME", DAVID, team=ACME_TEAM)
    assert DAVID in await whoami(bot, "U0DAVIDACME", ACME_TEAM)
    async with bot.store.read() as conn:
        identity = await identities_db.find_identity(
            conn, team=ACME_TEAM, user="U0DAVIDACME", enterprise=None
        )
    assert identity is not None and identity.proof is IdentityProof.EMAIL
    # Someone of ACME's workspace whose profile claims a nuage email: refused, even in
    # the channel ACME shares with nuage.
    bot.fake.add_user("U0FAKELEA", LEA, team=ACME_TEAM)
    refused = await whoami(bot, "U0FAKELEA", ACME_TEAM)
    assert LEA in refused and "/supportbot link" in refused

    # Unlinked: from a workspace nobody claims, someone the event shows as external
    # (``user_team``) is vouched for by a channel shared with their organization only:
    # David's email counts in ACME's channel; the nuage email claimed from ACME's
    # workspace does not (nuage hosts that channel: its people are not external there).
    unlinked = text_of(
        await bot.command("/supportbot", f"workspace unlink {ACME_TEAM}", as_=SOPHIE)
    )
    assert ACME_TEAM in unlinked
    bot.fake.add_user("U0DAVIDEXT", DAVID, team=ACME_TEAM)
    _response, davids = await bot.requests.message(
        ACME_CH, "U0DAVIDEXT", f"{MENTION} sev3 ea:411023871 a question", user_team=ACME_TEAM
    )
    _response, fakes = await bot.requests.message(
        ACME_CH, "U0FAKELEA", f"{MENTION} sev3 ea:411023871 a question", user_team=ACME_TEAM
    )
    await settle(bot)
    [opened] = bot.fake.thread(ACME_CH, str(davids["ts"]))
    assert re.search(r"T-\d+", str(opened.args["text"]))
    [told] = bot.fake.thread(ACME_CH, str(fakes["ts"]))
    assert "/supportbot link" in str(told.args["text"])


async def test_who_may_link_a_workspace(bot_app: BotUnderTest) -> None:
    bot = bot_app
    # A customer, or an agent, may not; an admin of a partner without a grant on the
    # customer gets the same answer as for an unknown organization.
    for email in (ALICE, LEA):
        text = text_of(await bot.command("/supportbot", "workspace link acme T0ACME", as_=email))
        assert "`acme`" in text and "/supportbot workspace link" in text
    # (Sophie reads French.)
    assert "vous ne l'administrez pas" in text_of(
        await bot.command("/supportbot", "workspace link nowhere T0ACME", as_=SOPHIE)
    )
    assert "n'est pas un identifiant" in text_of(
        await bot.command("/supportbot", "workspace link acme C0ACME", as_=SOPHIE)
    )
    # The workspace the command is typed in, by default; shown by `workspace`.
    assert "n'est lié à aucune" in text_of(
        await bot.command("/supportbot", "workspace", as_=SOPHIE)
    )
    await bot.command("/supportbot", "workspace link nuage", as_=SOPHIE)
    assert "nuage" in text_of(await bot.command("/supportbot", "workspace", as_=SOPHIE)).lower()
    # Taken: another organization must be unlinked first.
    taken = text_of(await bot.command("/supportbot", "workspace link acme", as_=SOPHIE))
    assert "appartient déjà" in taken
    # The home workspace now belongs to nuage: ACME's people there are no longer
    # vouched for by it (they keep what was proven otherwise).
    assert "/supportbot link" in text_of(await bot.command("/supportbot", "whoami", as_=DAVID))
    assert SOPHIE in text_of(await bot.command("/supportbot", "whoami", as_=SOPHIE))


@pytest.mark.parametrize("lang", ["fr", "en"])
async def test_link_answers_in_the_persons_language(bot_app: BotUnderTest, lang: str) -> None:
    bot = bot_app
    bot.fake.add_user("U0EXTLANG", None, team=OTHER_TEAM, locale=f"{lang}-FR")
    text = text_of(
        await bot.requests.command("/supportbot", "link", user_id="U0EXTLANG", team_id=OTHER_TEAM)
    )
    assert "/supportbot link <" in text  # the usage line
    refused = await whoami(bot, "U0EXTLANG", OTHER_TEAM)
    assert ("Seuls les contacts" in refused) == (lang == "fr")


def test_person_defaults_are_not_at_home() -> None:
    assert not Person(user="U1", team="T1").at_home


# ----------------------------------------------------------------------------- dataset


async def test_dataset_declares_workspaces_and_identities(bot_app: BotUnderTest) -> None:
    from bot.importer import import_document

    bot = bot_app
    await import_document(
        bot.store,
        {
            "contacts": [
                {
                    "email": "nina.roux@acme.example",
                    "org": "acme",
                    "name": "Nina Roux",
                    "roles": ["user"],
                    "slack": [{"team": ACME_TEAM, "user": "U0NINA"}],
                }
            ],
            "workspaces": [{"team": ACME_TEAM, "org": "acme"}],
        },
    )
    # Declared: served though Slack shows nothing of her (the fake does not know her).
    assert "nina.roux@acme.example" in await whoami(bot, "U0NINA", ACME_TEAM)
    async with bot.store.read() as conn:
        workspace = await identities_db.get_workspace(conn, team=ACME_TEAM)
    assert workspace is not None and workspace.org == "acme"


async def test_dataset_errors_name_their_path(bot_app: BotUnderTest) -> None:
    from bot.importer import DatasetError, import_document

    with pytest.raises(DatasetError) as refused:
        await import_document(
            bot_app.store,
            {
                "contacts": [
                    {
                        "email": "x1@acme.example",
                        "org": "acme",
                        "name": "X",
                        "roles": ["user"],
                        "slack": [{"team": "C0NOTATEAM", "user": "U0X1"}],
                    },
                    {
                        "email": "x2@acme.example",
                        "org": "acme",
                        "name": "Y",
                        "roles": ["user"],
                        "slack": [{"team": ACME_TEAM, "user": "nobody", "extra": 1}],
                    },
                    {
                        "email": "x3@acme.example",
                        "org": "acme",
                        "name": "Z",
                        "roles": ["user"],
                        "slack": [{"team": ACME_TEAM, "user": "U0SAME"}],
                    },
                    {
                        "email": "x4@acme.example",
                        "org": "acme",
                        "name": "W",
                        "roles": ["user"],
                        "slack": [{"team": ACME_TEAM, "user": "U0SAME"}],
                    },
                ],
                "workspaces": [
                    {"team": "T0NEW", "org": "no-such-org"},
                    {"team": "E0GRID", "org": "acme"},
                    {"team": "E0GRID", "org": "nuage"},
                ],
            },
        )
    errors = "\n".join(refused.value.errors)
    assert "contacts[0].slack[0].team" in errors
    assert "contacts[1].slack[0].extra" in errors
    assert "contacts[3].slack[0]" in errors and "already another contact" in errors
    assert "workspaces[0].org" in errors
    assert "workspaces[2].team" in errors and "duplicate workspace" in errors


async def test_doors_name_the_workspaces_that_reach_a_person_or_a_channel(
    demo_store: Any,
) -> None:
    from bot.identity import Door, doors_to_channel, doors_to_person
    from bot.importer import import_document

    await import_document(
        demo_store,
        {
            "contacts": [
                {
                    "email": "omar.said@acme.example",
                    "org": "acme",
                    "name": "Omar Said",
                    "roles": ["user"],
                    "slack": [
                        {"team": ACME_TEAM, "user": "U0OMAR"},
                        {"team": "E0GRID", "user": "W0OMAR"},
                    ],
                }
            ],
            "workspaces": [{"team": "T0NUAGE", "org": "nuage"}, {"team": "E0VMW", "org": "vmw"}],
        },
    )
    async with demo_store.read() as conn:
        person = await doors_to_person(conn, "Omar.Said@acme.example")
        shared = await doors_to_channel(conn, ACME_CH)  # hosted by nuage
        nuage_queue = await doors_to_channel(conn, "C0NUAGEQ")
        vendor_queue = await doors_to_channel(conn, "C0VMWGSS")
        unknown = await doors_to_channel(conn, "C0NOWHERE")
    assert set(person) == {Door(ACME_TEAM), Door("E0GRID", "E0GRID")}
    assert shared == [Door("T0NUAGE")] and nuage_queue == [Door("T0NUAGE")]
    assert vendor_queue == [Door("E0VMW", "E0VMW")]
    assert unknown == []


async def test_single_workspace_members_are_served_whatever_team_id_the_request_names(
    bot_app: BotUnderTest,
) -> None:
    """The workspace a request comes through is the one it names; a member of it is the
    operator's, even if ``auth.test`` named another team (an Enterprise Grid workspace, a
    test stand-in)."""
    for team in ("T0TEAM", "T0SOMEWHERE"):
        answer = await bot_app.requests.command(
            "/supportbot", "whoami", user_id=user_id_for(LEA), team_id=team
        )
        assert LEA in text_of(answer) and "/supportbot link" not in text_of(answer)
