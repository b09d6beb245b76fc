"""OAuth mode over HTTP: the install flow against the fake Web API, each team's requests
and outbox posts carried by its own token, Enterprise Grid org-wide installs, token
rotation, uninstalls, and the outbox entries no installation can deliver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web
from conftest import NOW, SIGNING_SECRET, MutableClock, user_id_for
from fakeslack import FakeSlack, Installation
from slackreq import SlackRequests

from bot import notify
from bot.config import Settings
from bot.importer import import_document
from bot.installations import Installations
from bot.outbox import OutboxWorker
from bot.store import Store
from bot.store import audit as audit_db
from bot.store import directory as directory_db
from bot.store import outbox as outbox_db
from handlers import middleware
from handlers.app import build_app, web_app
from handlers.installations import bot_scopes
from handlers.services import Services

CLIENT_ID = "1111.2222"
TEAM_A, TEAM_B, GRID, GRID_TEAM = "T0ALPHA", "T0BRAVO", "E0GRID", "T0GRIDWS"


@dataclass
class OAuthBot:
    base: str
    fake: FakeSlack
    store: Store
    requests: SlackRequests
    http: aiohttp.ClientSession
    installations: Installations
    worker: OutboxWorker
    emails: list[str]

    async def install(self, installation: Installation) -> aiohttp.ClientResponse:
        """An admin opens the install link, consents, and comes back with the code."""
        async with self.http.get(f"{self.base}/slack/install", allow_redirects=False) as resp:
            assert resp.status == 302
            location = resp.headers["Location"]
            cookie = resp.cookies["slack-app-oauth-state"].value
        state = parse_qs(urlsplit(location).query)["state"][0]
        assert cookie == state
        url = f"{self.base}/slack/oauth_redirect?code={installation.code}&state={state}"
        async with self.http.get(
            url, headers={"Cookie": f"slack-app-oauth-state={cookie}"}, allow_redirects=False
        ) as resp:
            await resp.read()
            return resp

    async def stored(self, *, enterprise: str | None, team: str | None) -> Any:
        store = self.installations.installation_store
        assert store is not None
        return await store.async_find_installation(
            enterprise_id=enterprise, team_id=team, is_enterprise_install=team is None
        )


def oauth_settings(fake: FakeSlack, store: Store, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "bot_token": None,
        "signing_secret": SIGNING_SECRET,
        "app_token": None,
        "api_url": fake.api_url,
        "port": 0,
        "database_url": str(store.url),
        "default_locale": "en",
        "client_id": CLIENT_ID,
        "client_secret": "app-secret",
        "state_secret": "state-secret",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def oauth_bot(demo_store: Store) -> AsyncIterator[OAuthBot]:
    fake = FakeSlack()
    await fake.start()
    async with demo_store.read() as conn:
        contacts = await directory_db.list_contacts(conn)
    for contact in contacts:
        fake.add_user(user_id_for(contact.email), contact.email, name=contact.name)
    settings = oauth_settings(fake, demo_store)
    clock = MutableClock()
    async with aiohttp.ClientSession() as api_session, aiohttp.ClientSession() as http:
        doors = Installations.oauth(settings, demo_store, session=api_session)
        services = Services(store=demo_store, settings=settings, clock=clock, installations=doors)
        app = build_app(services)
        runner = web.AppRunner(web_app(app))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        worker = OutboxWorker(demo_store, doors, worker_id="oauth-worker", clock=clock)
        yield OAuthBot(
            base=base,
            fake=fake,
            store=demo_store,
            requests=SlackRequests(f"{base}/slack/events", SIGNING_SECRET, http, fake),
            http=http,
            installations=doors,
            worker=worker,
            emails=[c.email for c in contacts],
        )
        await runner.cleanup()
    await fake.stop()
    fake.assert_no_errors()


async def belongs(bot: OAuthBot, team: str, email: str) -> None:
    """The workspace (or grid) ``team`` belongs to the organization of ``email``: its
    people are matched to contacts by email (an installation alone vouches for nobody)."""
    async with bot.store.read() as conn:
        contact = await directory_db.get_contact(conn, email=email)
    assert contact is not None
    await import_document(bot.store, {"workspaces": [{"team": team, "org": contact.org}]})


def served(answer: Any, email: str) -> bool:
    return answer.status == 200 and email in answer.text and "/supportbot link" not in answer.text


def two_teams(fake: FakeSlack) -> tuple[Installation, Installation]:
    return (
        fake.add_installation(code="code-a", team=TEAM_A, bot_token="xoxb-alpha", bot_user="UBOTA"),
        fake.add_installation(code="code-b", team=TEAM_B, bot_token="xoxb-bravo", bot_user="UBOTB"),
    )


async def test_the_install_link_goes_to_slack_with_the_client_id_and_the_manifest_scopes(
    oauth_bot: OAuthBot,
) -> None:
    async with oauth_bot.http.get(f"{oauth_bot.base}/slack/install", allow_redirects=False) as r:
        assert r.status == 302
        query = parse_qs(urlsplit(r.headers["Location"]).query)
        assert "slack-app-oauth-state" in r.cookies
    assert query["client_id"] == [CLIENT_ID]
    assert query["scope"][0].split(",") == list(bot_scopes())
    assert "chat:write" in bot_scopes() and "commands" in bot_scopes()


async def test_an_installation_is_stored_with_its_team_and_token(oauth_bot: OAuthBot) -> None:
    alpha, _ = two_teams(oauth_bot.fake)
    response = await oauth_bot.install(alpha)
    assert response.status == 200
    stored = await oauth_bot.stored(enterprise=None, team=TEAM_A)
    assert (stored.team_id, stored.bot_token, stored.bot_user_id) == (TEAM_A, "xoxb-alpha", "UBOTA")
    assert await oauth_bot.stored(enterprise=None, team=TEAM_B) is None
    async with oauth_bot.store.read() as conn:
        audited = [e for e in await audit_db.entries(conn) if e.action == "slack.installed"]
    assert [e.detail["team"] for e in audited] == [TEAM_A]


@pytest.mark.parametrize("state", ["", "forged.0000", "wrong"])
async def test_a_bad_or_missing_state_installs_nothing(oauth_bot: OAuthBot, state: str) -> None:
    alpha, _ = two_teams(oauth_bot.fake)
    async with oauth_bot.http.get(f"{oauth_bot.base}/slack/install", allow_redirects=False) as r:
        issued = r.cookies["slack-app-oauth-state"].value
    url = f"{oauth_bot.base}/slack/oauth_redirect?code={alpha.code}&state={state}"
    async with oauth_bot.http.get(
        url, headers={"Cookie": f"slack-app-oauth-state={state or issued}"}
    ) as resp:
        page = await resp.text()
    # Bolt's answers: no state at all is a bad request; one not issued here, unauthorized.
    assert resp.status == (400 if not state else 401)
    assert "Installation not completed" in page and "Installation inachevée" in page
    assert await oauth_bot.stored(enterprise=None, team=TEAM_A) is None
    assert oauth_bot.fake.calls_to("oauth.v2.access") == []


async def test_each_team_is_answered_with_its_own_token(oauth_bot: OAuthBot) -> None:
    alpha, bravo = two_teams(oauth_bot.fake)
    for installation in (alpha, bravo):
        assert (await oauth_bot.install(installation)).status == 200
    fake = oauth_bot.fake
    first, second = oauth_bot.emails[0], oauth_bot.emails[1]
    await belongs(oauth_bot, TEAM_A, first)
    await belongs(oauth_bot, TEAM_B, second)
    fake.clear()
    answer = await oauth_bot.requests.command(
        "/supportbot", "whoami", user_id=user_id_for(first), team_id=TEAM_A
    )
    assert served(answer, first)
    assert set(fake.tokens_of("users.info")) == {"xoxb-alpha"}
    fake.clear()
    answer = await oauth_bot.requests.command(
        "/supportbot", "whoami", user_id=user_id_for(second), team_id=TEAM_B
    )
    assert served(answer, second)
    assert set(fake.tokens_of("users.info")) == {"xoxb-bravo"}
    # The outbox: each entry through the installation of the team it names.
    async with oauth_bot.store.write() as conn:
        for team in (TEAM_A, TEAM_B):
            await notify.to_channel(conn, channel=f"C0{team}", text="hello", at=NOW, team=team)
    fake.clear()
    assert await oauth_bot.worker.run_once() == 2
    posts = {call.args["channel"]: call.token for call in fake.posts()}
    assert posts == {f"C0{TEAM_A}": "xoxb-alpha", f"C0{TEAM_B}": "xoxb-bravo"}
    assert all("team" not in call.args for call in fake.posts())


async def test_an_org_wide_install_serves_the_workspaces_of_its_enterprise(
    oauth_bot: OAuthBot,
) -> None:
    grid = oauth_bot.fake.add_installation(
        code="code-grid",
        team=None,
        enterprise=GRID,
        bot_token="xoxb-grid",
        bot_user="UBOTG",
        is_enterprise_install=True,
    )
    assert (await oauth_bot.install(grid)).status == 200
    stored = await oauth_bot.stored(enterprise=GRID, team=None)
    assert (stored.enterprise_id, stored.team_id, stored.is_enterprise_install) == (
        GRID,
        None,
        True,
    )
    email = oauth_bot.emails[0]
    await belongs(oauth_bot, GRID, email)  # the whole grid: all its workspaces
    oauth_bot.fake.clear()
    answer = await oauth_bot.requests.command(
        "/supportbot",
        "whoami",
        user_id=user_id_for(email),
        team_id=GRID_TEAM,
        enterprise_id=GRID,
        is_enterprise_install=True,
    )
    assert served(answer, email)
    assert set(oauth_bot.fake.tokens_of("users.info")) == {"xoxb-grid"}
    client = await oauth_bot.installations.client_for(enterprise_id=GRID, team_id=GRID_TEAM)
    assert client is not None and client.token == "xoxb-grid"
    assert await oauth_bot.installations.client_for(enterprise_id="E0OTHER", team_id="T0X") is None


async def test_a_token_about_to_expire_is_refreshed_and_used(oauth_bot: OAuthBot) -> None:
    rotating = oauth_bot.fake.add_installation(
        code="code-r",
        team=TEAM_A,
        bot_token="xoxe.xoxb-alpha",
        refresh_token="xoxe-1-refresh",
        expires_in=600,  # ten minutes: within the rotation window
    )
    assert (await oauth_bot.install(rotating)).status == 200
    oauth_bot.fake.clear()
    email = oauth_bot.emails[0]
    await belongs(oauth_bot, TEAM_A, email)
    answer = await oauth_bot.requests.command(
        "/supportbot", "whoami", user_id=user_id_for(email), team_id=TEAM_A
    )
    assert served(answer, email)
    refreshes = oauth_bot.fake.calls_to("oauth.v2.access")
    assert [c.args.get("grant_type") for c in refreshes] == ["refresh_token"]
    assert refreshes[0].args["refresh_token"] == "xoxe-1-refresh"
    new_token = rotating.tokens[-1]
    assert new_token != "xoxe.xoxb-alpha"
    assert set(oauth_bot.fake.tokens_of("users.info")) == {new_token}
    stored = await oauth_bot.stored(enterprise=None, team=TEAM_A)
    assert stored.bot_token == new_token
    # The outbox uses the refreshed token too.
    async with oauth_bot.store.write() as conn:
        await notify.to_channel(conn, channel="C0Q", text="later", at=NOW, team=TEAM_A)
    assert await oauth_bot.worker.run_once() == 1
    assert oauth_bot.fake.posts()[-1].token == new_token


@pytest.mark.parametrize("event", ["app_uninstalled", "tokens_revoked"])
async def test_an_uninstall_forgets_the_team_and_stops_its_outbox(
    oauth_bot: OAuthBot, event: str
) -> None:
    alpha, bravo = two_teams(oauth_bot.fake)
    for installation in (alpha, bravo):
        await oauth_bot.install(installation)
    async with oauth_bot.store.write() as conn:
        for team in (TEAM_A, TEAM_B):
            await notify.to_channel(conn, channel=f"C0{team}", text="owed", at=NOW, team=team)
    body: dict[str, Any] = {"type": event}
    if event == "tokens_revoked":
        body["tokens"] = {"oauth": [], "bot": ["UBOTA"]}
    answer = await oauth_bot.requests.event(body, team_id=TEAM_A)
    assert answer.status == 200
    assert await middleware.wait_background(10.0)  # the work follows the ack
    oauth_bot.fake.revoke(alpha)
    assert await oauth_bot.stored(enterprise=None, team=TEAM_A) is None
    assert (await oauth_bot.stored(enterprise=None, team=TEAM_B)).bot_token == "xoxb-bravo"
    async with oauth_bot.store.read() as conn:
        dead = await outbox_db.entries(conn, status=outbox_db.DEAD)
        audited = [e for e in await audit_db.entries(conn) if e.action == "slack.uninstalled"]
    assert [e["payload"]["team"] for e in dead] == [TEAM_A]
    assert f"no installation for team {TEAM_A}" in dead[0]["last_error"]
    assert [(e.detail["team"], e.detail["event"]) for e in audited] == [(TEAM_A, event)]
    # B's entry still goes out with B's token; A's is not tried.
    oauth_bot.fake.clear()
    assert await oauth_bot.worker.run_once() == 1
    assert [(c.args["channel"], c.token) for c in oauth_bot.fake.posts()] == [
        (f"C0{TEAM_B}", "xoxb-bravo")
    ]
    # A later command from A is refused by Bolt's authorize, in both languages, and
    # nothing is called with a token.
    oauth_bot.fake.clear()
    answer = await oauth_bot.requests.command(
        "/supportbot", "whoami", user_id=user_id_for(oauth_bot.emails[0]), team_id=TEAM_A
    )
    assert answer.status == 200 and answer.text == ""
    said = [c.args.get("text", "") for c in oauth_bot.fake.responses(answer.response_name)]
    assert len(said) == 1 and "not installed" in said[0] and "n'est pas" in said[0]
    assert [c for c in oauth_bot.fake.calls if c.token] == []
    assert oauth_bot.fake.posts() == []


async def test_an_entry_for_a_team_without_installation_is_given_up_once(
    oauth_bot: OAuthBot,
) -> None:
    alpha, bravo = two_teams(oauth_bot.fake)
    for installation in (alpha, bravo):
        await oauth_bot.install(installation)
    async with oauth_bot.store.write() as conn:
        await notify.to_channel(conn, channel="C0NOWHERE", text="x", at=NOW, team="T0NEVER")
        # No team named and two installations: which one to use cannot be told.
        await notify.to_person(conn, email=oauth_bot.emails[0], text="y", at=NOW)
    oauth_bot.fake.clear()
    assert await oauth_bot.worker.run_once() == 0
    assert await oauth_bot.worker.run_once() == 0
    async with oauth_bot.store.read() as conn:
        dead = await outbox_db.entries(conn, status=outbox_db.DEAD)
        pending = await outbox_db.pending_count(conn)
    assert pending == 0
    assert [e["attempts"] for e in dead] == [1, 1]
    assert "no installation for team T0NEVER" in dead[0]["last_error"]
    assert "not exactly one installation" in dead[1]["last_error"]
    assert oauth_bot.fake.calls == []


async def test_with_one_installation_an_entry_without_team_goes_through_it(
    oauth_bot: OAuthBot,
) -> None:
    alpha, _ = two_teams(oauth_bot.fake)
    await oauth_bot.install(alpha)
    async with oauth_bot.store.write() as conn:
        await notify.to_channel(conn, channel="C0Q", text="z", at=NOW)
    oauth_bot.fake.clear()
    assert await oauth_bot.worker.run_once() == 1
    assert [c.token for c in oauth_bot.fake.posts()] == ["xoxb-alpha"]


async def test_the_slack_tables_are_those_slack_sdk_defines(store: Store) -> None:
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
    from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
    from sqlalchemy import MetaData, inspect

    expected = MetaData()
    SQLAlchemyInstallationStore.build_installations_table(expected, "slack_installations")
    SQLAlchemyInstallationStore.build_bots_table(expected, "slack_bots")
    SQLAlchemyOAuthStateStore.build_oauth_states_table(expected, "slack_oauth_states")

    def described(sync_conn: Any) -> dict[str, Any]:
        inspector = inspect(sync_conn)
        return {
            name: (
                [
                    (
                        c["name"],
                        c["type"]._type_affinity,
                        getattr(c["type"], "length", None),
                        c["nullable"],
                    )
                    for c in inspector.get_columns(name)
                ],
                sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(name)),
            )
            for name in expected.tables
        }

    async with store.engine.connect() as conn:
        migrated = await conn.run_sync(described)
    for name, table in expected.tables.items():
        columns, indexes = migrated[name]
        assert columns == [
            (
                c.name,
                c.type._type_affinity,
                getattr(c.type, "length", None),
                c.nullable and not c.primary_key,
            )
            for c in table.columns
        ], name
        assert indexes == sorted((i.name, tuple(c.name for c in i.columns)) for i in table.indexes)


def test_partial_oauth_settings_name_the_missing_one() -> None:
    from bot.config import ConfigError, load_settings

    base = {"SLACK_SIGNING_SECRET": "s"}
    with pytest.raises(ConfigError, match="SLACK_STATE_SECRET is required"):
        load_settings({**base, "SLACK_CLIENT_ID": "1", "SLACK_CLIENT_SECRET": "2"}, env_file=None)
    with pytest.raises(ConfigError, match="SLACK_CLIENT_ID is required"):
        load_settings({**base, "SLACK_CLIENT_SECRET": "2"}, env_file=None)
    full = {**base, "SLACK_CLIENT_ID": "1", "SLACK_CLIENT_SECRET": "2", "SLACK_STATE_SECRET": "3"}
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN cannot be set"):
        load_settings({**full, "SLACK_BOT_TOKEN": "xoxb-1"}, env_file=None)
    with pytest.raises(ConfigError, match="Socket Mode"):
        load_settings({**full, "SLACK_APP_TOKEN": "xapp-1"}, env_file=None)
    settings = load_settings(full, env_file=None)
    assert settings.oauth and settings.has_slack and settings.bot_token is None
    settings.require_slack()
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET is required"):
        load_settings(
            {k: v for k, v in full.items() if k != "SLACK_SIGNING_SECRET"}, env_file=None
        ).require_slack()


async def test_a_customer_in_a_partners_shared_channel_is_linked_then_served_through_the_right_doors(
    oauth_bot: OAuthBot,
) -> None:
    """nuage (partner) and ACME (customer) each installed the app; ACME's people appear
    in nuage's #acme-support as external members, emails hidden."""
    bot, fake = oauth_bot, oauth_bot.fake
    nuage = fake.add_installation(code="c-n", team="T0NUAGE", bot_token="xoxb-nuage")
    acme = fake.add_installation(code="c-a", team="T0ACME", bot_token="xoxb-acme")
    for installation in (nuage, acme):
        assert (await bot.install(installation)).status == 200
    sophie = "sophie.bernard@nuage.example"  # nuage admin
    await belongs(bot, "T0NUAGE", sophie)
    answer = await bot.requests.command(
        "/supportbot", "whoami", user_id=user_id_for(sophie), team_id="T0NUAGE"
    )
    assert served(answer, sophie)  # known in nuage's workspace from now on
    stranger = "U0EXTALICE"
    fake.add_user(stranger, None, team="T0ACME")

    # Her message naming the bot comes through nuage's installation: refused, and told
    # how to be known in its thread — posted with nuage's token (nuage hosts the channel).
    response, message = await bot.requests.message(
        "C0ACMESUPPORT",
        stranger,
        "<@UBOTN> sev2 ea:411023871 vMotion fails",
        user_team="T0ACME",
        team_id="T0NUAGE",
    )
    assert response.status == 200
    assert await middleware.wait_background(10.0)
    fake.clear()
    await bot.worker.run_once()
    [told] = fake.posts("C0ACMESUPPORT")
    assert told.args["thread_ts"] == message["ts"] and "/supportbot link" in told.args["text"]
    assert told.token == "xoxb-nuage"

    asked = await bot.requests.command(
        "/supportbot", "link alice.martin@acme.example", user_id=stranger, team_id="T0ACME"
    )
    assert asked.status == 200 and "alice.martin@acme.example" in asked.text
    fake.clear()
    await bot.worker.run_once()
    confirm = [c for c in fake.posts() if "/supportbot link confirm" in str(c.args["text"])]
    assert [
        (c.args["channel"], c.token) for c in confirm if c.args["channel"] == user_id_for(sophie)
    ] == [(user_id_for(sophie), "xoxb-nuage")]

    confirmed = await bot.requests.command(
        "/supportbot",
        f"link confirm T0ACME {stranger}",
        user_id=user_id_for(sophie),
        team_id="T0NUAGE",
    )
    assert confirmed.status == 200 and stranger in confirmed.text
    fake.clear()
    await bot.worker.run_once()
    # She is told in her own workspace, with ACME's installation.
    assert [(c.args["channel"], c.token) for c in fake.posts(stranger)] == [(stranger, "xoxb-acme")]
    answer = await bot.requests.command("/supportbot", "whoami", user_id=stranger, team_id="T0ACME")
    assert served(answer, "alice.martin@acme.example")
