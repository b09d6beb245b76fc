"""What people type is data, never markup, template or SQL.

- A `<!channel>`, `<!here>`, `<@U…>` or `<https://…|label>` typed by someone reaches
  every message the bot sends (queue posts, DMs, chat.update, acks, modals, App Home)
  escaped, so it pings nobody and links nowhere; the text itself is kept.
- `{{ 7*7 }}` and `{% raw %}` stay literal: user text is a template value, never a
  template.
- Quotes, semicolons, `%` and `_` are only characters: lookups match them literally, and
  no SQL in the code is assembled from strings.
- Odd and overlong Unicode (bidi overrides, zero-width joiners, emoji, combining marks,
  10 000 characters) gets an answer within Slack's limits (the fake Slack checks every
  payload, acks included).
- Random text for every command, over HTTP, never gets an error page or the
  "unexpected error" reply (hypothesis).
"""

from __future__ import annotations

import ast
import json
import re
import secrets
from pathlib import Path
from typing import Any

from conftest import ROOT, BotUnderTest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slackreq import Response
from test_hardening import js, row_counts

from bot.domain import OrgKind
from bot.entitlements import lookup_accounts
from bot.errors import UserError
from bot.importer import import_document
from bot.render import t
from bot.store import Store
from bot.store import outbox as outbox_db
from bot.store import tickets as tickets_db
from bot.visibility import load_actor

ALICE = "alice.martin@acme.example"  # ACME superuser, French
LEA = "lea.girard@nuage.example"  # nuage agent
MARC = "marc.dupont@nuage.example"  # nuage ATC
EOIN = "eoin.byrne@vmware.example"  # VMware engineer
GRACE = "grace.holloway@riverbank.example"  # Riverbank superuser
PAUL = "paul.lefevre@distrilog.example"  # distributor agent (EA look-up)
ACME_PROD = "411023871"

# What a person may type to make the bot ping or link on its behalf.
EVIL = "Urgent <!channel> <!here> <!everyone> <@U0EVIL1> <!subteam^S0EVIL> <#C0EVIL> <https://evil.example/x|click here>"
# Their raw forms must never reach Slack from user text.
RAW_MARKERS = (
    "<!channel",
    "<!here",
    "<!everyone",
    "<@U0EVIL",
    "<!subteam",
    "<#C0EVIL",
    "<https://evil",
)
TEMPLATE = "{{ 7*7 }} {% raw %}x{% endraw %} {{ config }} {# c #} ${7*7}"


def as_slack_sends(text: str) -> str:
    """Slash command text arrives with &, < and > as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Seen:
    """Everything the bot produced in a scenario: acks and what Slack received."""

    def __init__(self, bot: BotUnderTest) -> None:
        self.bot = bot
        self.acks: list[Any] = []

    async def command(self, command: str, text: str, *, as_: str) -> dict[str, Any]:
        response = await self.bot.command(command, text, as_=as_)
        return await self.keep(response)

    async def keep(self, response: Response) -> dict[str, Any]:
        assert response.status == 200, response.text
        data = response.json
        assert isinstance(data, dict)
        self.acks.append(data)
        await slack_accepts(self.bot, data)
        return data

    def outputs(self) -> list[tuple[str, str]]:
        """(where, text) for every text Slack reads as markup, in every ack and every
        call Slack got."""
        found = [("ack", text) for a in self.acks for text in markup_texts(a)]
        for call in self.bot.fake.calls:
            found += [(call.method, text) for text in markup_texts(call.args)]
        return found


def markup_texts(payload: Any) -> list[str]:
    """The strings Slack parses for mentions and links: a message's top-level ``text``
    and every ``mrkdwn`` text object. Plain-text objects (headers, labels, options,
    buttons), values and private metadata are shown as they are, or not at all."""
    found: list[str] = []
    if isinstance(payload, dict) and isinstance(payload.get("text"), str):
        found.append(payload["text"])

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
                found.append(node["text"])
            for key, value in node.items():
                if key != "private_metadata":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for key in ("blocks", "view", "attachments"):
        if isinstance(payload, dict) and key in payload:
            walk(payload[key])
    return found


async def slack_accepts(bot: BotUnderTest, ack: dict[str, Any]) -> None:
    """Have the fake Slack check an ack's text and blocks as it checks messages."""
    message = {k: ack[k] for k in ("text", "blocks") if k in ack}
    if "view" in ack:  # a modal update: check its blocks
        message = {"blocks": ack["view"].get("blocks", [])}
    url = bot.fake.response_url(f"ack-check-{secrets.token_hex(4)}")
    async with bot.requests.session.post(url, json=message) as response:
        assert response.status == 200, await response.text()


def assert_nothing_pings(seen: Seen) -> None:
    leaks = [(where, text) for where, text in seen.outputs() if any(m in text for m in RAW_MARKERS)]
    assert leaks == []


async def assert_delivered_cleanly(bot: BotUnderTest) -> None:
    await bot.drain()
    async with bot.store.read() as conn:
        stuck = [e for e in await outbox_db.entries(conn) if e["status"] != "sent"]
    assert stuck == []
    bot.fake.assert_no_errors()


# --- pings -------------------------------------------------------------------------------------


async def test_typed_mentions_and_links_reach_no_message_unescaped(bot_app: BotUnderTest) -> None:
    seen = Seen(bot_app)
    typed = as_slack_sends(EVIL)
    opened = await seen.command(
        "/ticket", f"new sev3 ea:{ACME_PROD} product:vsphere {typed}", as_=LEA
    )
    assert "T-1" in opened["text"]
    await seen.command("/ticket", f"note T-1 {typed}", as_=LEA)
    await seen.command("/ticket", f"wait T-1 {typed}", as_=LEA)
    await seen.command("/ticket", f"note T-1 {typed}", as_=ALICE)
    await seen.command("/escalate", f"T-1 sev3 {typed}", as_=MARC)
    await seen.command("/ticket", "take T-1", as_=EOIN)
    await seen.command("/reassign", f"T-1 {typed}", as_=EOIN)
    await seen.command("/ticket", f"resolve T-1 {typed}", as_=LEA)
    await seen.command("/ticket", f"reopen T-1 {typed}", as_=ALICE)
    await seen.command("/ticket", "show T-1", as_=LEA)
    await seen.command("/ticket", "list all", as_=ALICE)
    # the raw form too (an app set to escape mentions gets real <!channel> tokens)
    await seen.command("/ticket", f"new sev4 ea:{ACME_PROD} {EVIL}", as_=ALICE)
    # echoes of wrong input
    for command, text in [
        ("/ticket", typed),
        ("/ticket", f"show {typed}"),
        ("/ea", f"lookup {typed}"),
        ("/ea", typed),
        ("/faq", typed),
        ("/supportbot", f"lang {typed}"),
        ("/access", f"grant {ACME_PROD} {typed} all"),
        ("/entitlements", f"{ACME_PROD} product:{typed}"),
        ("/audit", typed),
    ]:
        await seen.command(command, text, as_=LEA if command != "/access" else ALICE)
    # the form, whose fields Slack sends as typed
    state: dict[str, dict[str, Any]] = {
        "ticket.ea": {
            "ticket.ea": {"type": "static_select", "selected_option": {"value": ACME_PROD}}
        },
        "ticket.severity": {
            "ticket.severity": {"type": "static_select", "selected_option": {"value": "3"}}
        },
        "ticket.queue": {
            "ticket.queue": {"type": "radio_buttons", "selected_option": {"value": "technical"}}
        },
        "ticket.product": {"ticket.product": "vsphere"},
        "ticket.subject": {"ticket.subject": EVIL},
        "ticket.description": {"ticket.description": EVIL},
    }
    await seen.keep(
        await bot_app.requests.view_submission(bot_app.user(ALICE), "ticket.new", state)
    )
    for email in (LEA, ALICE, EOIN):
        event = {"type": "app_home_opened", "user": bot_app.user(email), "tab": "home"}
        assert (await bot_app.requests.event(event)).status == 200
    await bot_app.fake.wait_for(lambda c: len(bot_app.fake.calls_to("views.publish")) == 3)
    await assert_delivered_cleanly(bot_app)

    assert_nothing_pings(seen)
    # the text is kept, escaped, where people read it
    escaped = "&lt;!channel&gt;"
    assert any(escaped in text for where, text in seen.outputs() if where == "ack")
    for channel in ("C0NUAGEQ", "C0VMWGSS", bot_app.user(ALICE)):
        assert any(escaped in c.args["text"] for c in bot_app.fake.posts(channel)), channel
    assert any(escaped in json.dumps(c.args) for c in bot_app.fake.calls_to("chat.update"))
    assert any(escaped in json.dumps(c.args) for c in bot_app.fake.calls_to("views.publish"))
    async with bot_app.store.read() as conn:
        stored = await tickets_db.get_ticket(conn, ticket_id=1)
    assert stored is not None and stored.subject == EVIL


async def test_user_text_is_never_a_template(bot_app: BotUnderTest) -> None:
    seen = Seen(bot_app)
    opened = await seen.command("/ticket", f"new sev3 ea:{ACME_PROD} {TEMPLATE}", as_=LEA)
    assert TEMPLATE in json.dumps(opened, ensure_ascii=False)
    noted = await seen.command("/ticket", f"note T-1 {TEMPLATE}", as_=LEA)
    assert "T-1" in noted["text"]
    shown = await seen.command("/ticket", "show T-1", as_=LEA)
    assert TEMPLATE in json.dumps(shown, ensure_ascii=False)
    for command, text in [("/faq", TEMPLATE), ("/ea", f"lookup {TEMPLATE}"), ("/ticket", TEMPLATE)]:
        await seen.command(command, text, as_=LEA)
    await assert_delivered_cleanly(bot_app)
    queue_post = bot_app.fake.posts("C0NUAGEQ")[0].args["text"]
    assert TEMPLATE in queue_post
    for _where, sent in seen.outputs():
        assert "49" not in re.sub(r"\d{3,}", "", sent)  # 7*7 was never computed


# --- SQL ---------------------------------------------------------------------------------------


SQL_LIKE = [
    "%%%",
    "___",
    "%_%",
    "' OR '1'='1",
    "'; DROP TABLE tickets; --",
    '" OR ""="',
    "acme%",
    "%acme",
    "\\%\\_\\",
    "a';--",
]


async def test_wildcards_and_quotes_in_a_lookup_match_themselves(bot_app: BotUnderTest) -> None:
    seen = Seen(bot_app)
    found = await seen.command("/ea", "lookup acme", as_=PAUL)
    assert ACME_PROD in json.dumps(found)  # the look-up works
    too_short = await seen.command("/ea", "lookup %", as_=PAUL)
    assert not re.search(r"\b\d{9}\b", json.dumps(too_short))
    before = await row_counts(bot_app.store)
    for query in SQL_LIKE:
        answer = await seen.command("/ea", f"lookup {as_slack_sends(query)}", as_=PAUL)
        assert not re.search(r"\b\d{9}\b", json.dumps(answer)), query
    after = await row_counts(bot_app.store)
    assert {k: v for k, v in after.items() if k != "audit_entries"} == {
        k: v for k, v in before.items() if k != "audit_entries"
    }


async def test_quotes_and_semicolons_are_stored_as_typed(bot_app: BotUnderTest) -> None:
    subject = 'Robert\'); DROP TABLE tickets; -- 100% _done_ \\ "quoted"'
    opened = await bot_app.command(
        "/ticket", f"new sev3 ea:{ACME_PROD} {as_slack_sends(subject)}", as_=ALICE
    )
    assert "T-1" in js(opened)["text"]
    await bot_app.command("/ticket", "note T-1 x'; DELETE FROM outbox; --", as_=ALICE)
    async with bot_app.store.read() as conn:
        ticket = await tickets_db.get_ticket(conn, ticket_id=1)
        notes = [e.data.get("text") for e in await tickets_db.events_of(conn, ticket_id=1)]
        assert len(await outbox_db.entries(conn)) >= 1
    assert ticket is not None and ticket.subject == subject
    assert "x'; DELETE FROM outbox; --" in notes
    listed = await bot_app.command("/ticket", "list ea:411023871' OR '1'='1", as_=ALICE)
    assert "T-1" not in js(listed)["text"]


TRICKY_DIRECTORY: dict[str, Any] = {
    "vendors": [
        {
            "id": "vmw",
            "name": "VMware",
            "queue_channel": "C0VMWQ",
            "timezone": "Europe/Dublin",
            "business_hours": "mon-fri 08:00-20:00",
        }
    ],
    "organizations": [
        {"id": "cotton", "kind": "customer", "name": "100% Cotton_Ltd"},
        {"id": "cotton2", "kind": "customer", "name": "1000 Cotton Ltd"},
        {"id": "obrien", "kind": "customer", "name": "O'Brien; DROP TABLE accounts;--"},
        {"id": "plain", "kind": "customer", "name": "Plain Holdings"},
        {"id": "seller", "kind": "partner", "name": "Seller", "partner_type": "reseller"},
    ],
    "contacts": [
        {"email": "agent@seller.example", "org": "seller", "name": "Agent", "roles": ["agent"]},
    ],
    "accounts": [
        {"ea": "100000001", "vendor": "vmw", "customer": "cotton", "name": "Cotton"},
        {"ea": "100000002", "vendor": "vmw", "customer": "cotton2", "name": "Cotton 2"},
        {"ea": "100000003", "vendor": "vmw", "customer": "obrien", "name": "O'Brien"},
        {"ea": "100000004", "vendor": "vmw", "customer": "plain", "name": "Plain"},
    ],
}


async def test_names_with_quotes_and_wildcards_are_found_literally(store: Store, now) -> None:
    await import_document(store, TRICKY_DIRECTORY)
    async with store.read() as conn:
        agent = await load_actor(conn, email="agent@seller.example", default_locale="en")
    assert agent is not None and agent.org.kind is OrgKind.PARTNER

    async def found(query: str) -> set[str]:
        result = await lookup_accounts(store, agent, query=query, now=now)
        return {m.ea for m in result.matches}

    assert await found("100%") == {"100000001"}
    assert await found("n_L") == {"100000001"}
    assert await found("cotton ltd") == {"100000002"}
    assert await found("o'brien; drop") == {"100000003"}
    for query in ("%%%", "___", "%_%", "' OR 1=1 --", "%'%", "plain%"):
        assert await found(query) == set(), query
    assert await found("plain") == {"100000004"}
    try:
        await found("%")
    except UserError as error:
        assert error.key == "accounts.lookup_too_short"
    else:
        raise AssertionError("a one-character look-up is refused")


# SQLAlchemy's ways of running SQL written as a string.
RAW_SQL = {"text", "literal_column", "exec_driver_sql"}
# The one allowed place: the engine's own connection set-up, from its own constants
# (PRAGMA busy_timeout=<constant>, BEGIN DEFERRED or BEGIN IMMEDIATE).
RAW_SQL_ALLOWED = {("bot/store/engine.py", "exec_driver_sql"), ("bot/store/engine.py", "execute")}


def raw_sql_calls(tree: ast.Module) -> list[tuple[int, str, ast.expr]]:
    """(line, name, first argument) of every call that runs SQL from a string: text()
    and literal_column() imported from SQLAlchemy, ``sa.text()``, ``.exec_driver_sql()``,
    and ``.execute()`` given an f-string or a concatenation."""
    imported: dict[str, str] = {}
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            for alias in node.names:
                if alias.name in RAW_SQL:
                    imported[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name.startswith("sqlalchemy")}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func, name = node.func, None
        if isinstance(func, ast.Name) and func.id in imported:
            name = imported[func.id]
        elif isinstance(func, ast.Attribute):
            from_module = isinstance(func.value, ast.Name) and func.value.id in modules
            if func.attr == "exec_driver_sql" or (from_module and func.attr in RAW_SQL):
                name = func.attr
            elif func.attr == "execute" and isinstance(node.args[0], ast.JoinedStr | ast.BinOp):
                name = "execute"  # a DB-API cursor given SQL built with f"" or +
        if name is not None:
            found.append((node.lineno, name, node.args[0]))
    return found


def test_no_sql_is_assembled_from_strings() -> None:
    """Every query is SQLAlchemy Core with bound parameters: nothing in bot/ or
    handlers/ runs SQL from a string built at run time."""
    offenders, seen = [], []
    for path in sorted([*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py")]):
        relative = path.relative_to(ROOT).as_posix()
        if "/migrations/" in relative:
            continue
        for line, name, argument in raw_sql_calls(ast.parse(path.read_text(encoding="utf-8"))):
            seen.append((relative, name))
            if isinstance(argument, ast.Constant):
                continue
            if (relative, name) not in RAW_SQL_ALLOWED:
                offenders.append(f"{relative}:{line} {name}(…)")
    assert offenders == []
    assert ("bot/store/engine.py", "exec_driver_sql") in seen  # the scan does see calls
    engine = (ROOT / "bot/store/engine.py").read_text(encoding="utf-8")
    assert 'get("sqlite_begin", "DEFERRED")' in engine  # its one variable part is ours


# --- odd and overlong input ------------------------------------------------------------------

ODD = {
    "bidi": "Sujet \u202eTNEGRU\u202c avec \u2067inversion\u2069 \u200f",
    "zero-width": "T\u200b-\u200d1 z\u200cer\u2060o \ufeffwidth",
    "emoji": "👩‍💻🔥 server 🇫🇷 down 🙈" * 3,
    "combining": "Z̷̢̛a̸̡͝l̵̨̛g̶̢̛o̸̡͝ " + "e" + "\u0301" * 200,
    "scripts": "שלום مرحبا こんにちは Привет 你好",
    "control": "tab\there\x0bvertical\x1cseparators\u2028line\u2029para",
    "long": ("word " * 2000).strip(),
    "one long word": "x" * 10_000,
}


async def test_odd_and_overlong_text_is_answered_within_slacks_limits(
    bot_app: BotUnderTest,
) -> None:
    seen = Seen(bot_app)
    for number, (name, text) in enumerate(ODD.items(), start=1):
        typed = as_slack_sends(text)
        opened = await seen.command("/ticket", f"new sev3 ea:{ACME_PROD} {typed}", as_=LEA)
        assert f"T-{number}" in opened["text"], name
        await seen.command("/ticket", f"note T-{number} {typed}", as_=LEA)
        await seen.command("/ticket", f"show T-{number}", as_=LEA)
        for command, query in [("/faq", typed), ("/ea", f"lookup {typed}"), ("/ticket", typed)]:
            await seen.command(command, query, as_=LEA)
    state: dict[str, dict[str, Any]] = {
        "ticket.ea": {
            "ticket.ea": {"type": "static_select", "selected_option": {"value": ACME_PROD}}
        },
        "ticket.subject": {"ticket.subject": ODD["one long word"]},
        "ticket.description": {"ticket.description": ODD["long"] * 2},
    }
    await seen.keep(
        await bot_app.requests.view_submission(bot_app.user(ALICE), "ticket.new", state)
    )
    await seen.command("/ticket", "list all", as_=LEA)
    event = {"type": "app_home_opened", "user": bot_app.user(LEA), "tab": "home"}
    await bot_app.requests.event(event)
    await bot_app.fake.wait_for(lambda c: c.method == "views.publish")
    await assert_delivered_cleanly(bot_app)
    async with bot_app.store.read() as conn:
        for ticket in await tickets_db.list_tickets(conn):
            assert 0 < len(ticket.subject) <= 200
            assert len(ticket.description or "") <= 2900


# --- any text, every command ------------------------------------------------------------------

COMMANDS = [
    "/ticket",
    "/escalate",
    "/reassign",
    "/ea",
    "/entitlements",
    "/access",
    "/audit",
    "/faq",
    "/supportbot",
]
ACTORS = [ALICE, LEA, MARC, EOIN, GRACE, PAUL]
WORDS = [
    "new", "show", "list", "note", "take", "assign", "wait", "sev", "resolve", "reopen",
    "lookup", "renewals", "grant", "revoke", "register", "superuser", "help", "whoami",
    "lang", "fr", "en", "all", "open", "mine", "breaching", "business", "sev1", "sev4", "2",
    "T-1", "#2", "T-999999999", "0", "-1", ACME_PROD, "411023872", "733190462", "999999999",
    "ea:411023871", "ea:", "ea:x", "product:vsphere", "product:", "type:nfr", "folder:Home",
    "until:2027-01-31", "until:2026-02-30", "harbor", "nuage", "view_license_keys,manage_roles",
    "<@U0EVIL1>", "&lt;!channel&gt;", "&amp;", "{{ 7*7 }}", "%", "_", "'", ";", "--", "\u202e",
    "\u200b", "👩‍💻", "e\u0301", "alice.martin@acme.example", "@acme.example", "x" * 300,
]  # fmt: skip
command_text = st.one_of(
    st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join),
    st.text(max_size=200),
    st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=30)), max_size=6).map(" ".join),
)
UNEXPECTED = [
    t("errors.unexpected", locale, correlation_id="@@").split("@@")[0] for locale in ("en", "fr")
]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    command=st.sampled_from(COMMANDS),
    text=command_text,
    email=st.sampled_from(ACTORS),
)
async def test_any_text_for_any_command_gets_a_proper_answer(
    bot_app: BotUnderTest, command: str, text: str, email: str
) -> None:
    response = await bot_app.command(command, text, as_=email)
    assert response.status == 200, response.text
    data = response.json
    assert isinstance(data, dict) and data["response_type"] == "ephemeral" and data["text"]
    assert not any(phrase in data["text"] for phrase in UNEXPECTED), data["text"]
    await slack_accepts(bot_app, data)
    await bot_app.drain(rounds=5)
    async with bot_app.store.read() as conn:
        dead = [e for e in await outbox_db.entries(conn) if e["status"] == "dead"]
    assert dead == []
    bot_app.fake.assert_no_errors()


def test_the_parser_sla_and_importer_have_property_tests() -> None:
    """The hypothesis suites this file relies on for the layers below HTTP."""
    tests = Path(__file__).resolve().parent
    for name, subject in [
        ("test_parser_properties.py", "bot.parser"),
        ("test_sla_properties.py", "bot.sla"),
        ("test_importer_properties.py", "bot.importer"),
    ]:
        source = (tests / name).read_text(encoding="utf-8")
        tree = ast.parse(source)
        given_tests = [
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test_")
            and any("given" in ast.unparse(d) for d in node.decorator_list)
        ]
        assert len(given_tests) >= 3, name
        assert subject in source, name
