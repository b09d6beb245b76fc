"""Bilingual command words (bot/vocabulary.py): every keyword has a French form accepted
whatever the locale, severities accept the vendor's labels, help shows the reader's
words; and over HTTP, French commands do what the English ones do."""

from __future__ import annotations

import pytest
from conftest import BotUnderTest

from bot import vocabulary
from bot.errors import UserError
from bot.parser import severity, split_args
from bot.render import t
from bot.store import tickets as tickets_db

MICROSOFT = {1: "A", 2: "B", 3: "C", 4: "C"}
VMWARE = {1: "Sev 1", 2: "Sev 2", 3: "Sev 3", 4: "Sev 4"}

ALICE = "alice.martin@acme.example"  # ACME customer, French; three EAs, one Microsoft
CLAIRE = "claire.dubois@acme.example"
GRACE = "grace.holloway@riverbank.example"  # Riverbank customer, English, one VMware EA
HELEN = "helen.carter@northwind.example"  # Northwind customer, one Microsoft EA


@pytest.mark.parametrize(
    ("command", "word", "canonical"),
    [
        ("/ticket", "nouveau", "new"),
        ("/ticket", "RÉSOUDRE", "resolve"),
        ("/ticket", "resoudre", "resolve"),
        ("/ticket", "liste", "list"),
        ("/ticket", "gravité", "sev"),
        ("/ticket", "new", "new"),
        ("/ea", "recherche", "lookup"),
        ("/entitlements", "renouvellements", "renewals"),
        ("/access", "révoquer", "revoke"),
        ("/access", "accorder", "grant"),
        ("/supportbot", "aide", "help"),
        ("/supportbot", "langue", "lang"),
    ],
)
def test_subcommands_in_both_languages(command: str, word: str, canonical: str) -> None:
    assert vocabulary.subcommand(command, word) == canonical


def test_unknown_words_are_not_subcommands() -> None:
    assert vocabulary.subcommand("/ticket", "bonjour") is None
    assert vocabulary.subcommand("/ea", "nouveau") is None  # another command's word
    assert vocabulary.subcommand("/nothing", "new") is None


def test_every_keyword_has_a_french_form() -> None:
    for command, words in vocabulary.SUBCOMMANDS.items():
        for canonical, french in words.items():
            assert french, (command, canonical)
    missing = [k for k, french in vocabulary.OPTIONS.items() if not french]
    assert missing == ["ea", "type"]  # the same word in both languages
    assert all(vocabulary.FLAGS.values())


def test_words_shown_in_each_language() -> None:
    assert vocabulary.word("new", "fr") == "nouveau"
    assert vocabulary.word("closed", "fr") == "fermés"
    assert vocabulary.word("product", "fr") == "produit"
    assert vocabulary.word("new", "en") == "new"
    assert vocabulary.word("ea", "fr") == "ea"


def test_options_and_flags_have_french_names() -> None:
    args = split_args(
        "produit:vSAN DOSSIER:Lyon fermés commercial texte",
        options=("product", "folder"),
        flags=("closed", "business"),
    )
    assert args.options == {"product": "vSAN", "folder": "Lyon"}
    assert args.flags == {"closed", "business"}
    assert args.words == ["texte"]
    with pytest.raises(UserError) as error:
        split_args("produit:a product:b", options=("product",))
    assert error.value.key == "parse.repeated_option"


@pytest.mark.parametrize(
    ("token", "expected"),
    [("sev2", 2), ("sév2", 2), ("SÉV1", 1), ("s3", 3), ("4", 4)],
)
def test_standard_severities(token: str, expected: int) -> None:
    assert vocabulary.standard_severity(token) == expected
    assert vocabulary.severity(token) == expected
    assert severity(token) == expected


@pytest.mark.parametrize(
    ("token", "expected"), [("sevA", 1), ("A", 1), ("b", 2), ("sévC", 3), ("C", 3)]
)
def test_vendor_labels(token: str, expected: int) -> None:
    assert vocabulary.severity(token, labels=[MICROSOFT]) == expected


@pytest.mark.parametrize("token", ["sevZ", "D", "sev9", "sev", "", "ſev1", "sev１"])
def test_unknown_labels_are_errors(token: str) -> None:
    with pytest.raises(UserError) as error:
        vocabulary.severity(token, labels=[MICROSOFT, VMWARE])
    assert error.value.key == "parse.bad_severity"
    assert "A, B, C" in error.value.params["labels"]


def test_a_label_two_vendors_read_differently_is_an_error() -> None:
    with pytest.raises(UserError):
        vocabulary.severity("A", labels=[MICROSOFT, {1: "X", 2: "A"}])
    assert vocabulary.severity("A", labels=[MICROSOFT, VMWARE]) == 1  # only one knows it


@pytest.mark.parametrize(
    ("token", "meant"),
    [("sev2", True), ("sévA", True), ("sev9", True), ("several", False), ("server", False)],
)
def test_severity_words(token: str, meant: bool) -> None:
    assert vocabulary.is_severity_word(token) is meant


def test_usage_lines_speak_the_readers_language() -> None:
    french = t("tickets.usage_new", "fr")
    assert "/ticket nouveau" in french and "produit:" in french and "commercial" in french
    english = t("tickets.usage_new", "en")
    assert "/ticket new" in english and "product:" in english and "business" in english
    assert "fermés" in t("tickets.usage_list", "fr") and "closed" in t("tickets.usage_list", "en")
    assert "/ea recherche" in t("accounts.usage_ea", "fr")
    assert "/supportbot aide" in t("supportbot.usage", "fr")
    assert "labels" in t("parse.bad_severity", "en", value="sevZ", labels="A, B, C")


# --------------------------------------------------------------------------- over HTTP


async def test_a_french_ticket_command_opens_the_ticket(bot_app: BotUnderTest) -> None:
    response = await bot_app.command(
        "/ticket",
        "nouveau sév2 ea:411023871 produit:vsphere commercial Facture de mars erronée",
        as_=ALICE,
    )
    assert "T-" in response.json["text"]
    async with bot_app.store.read() as conn:
        found = await tickets_db.list_tickets(conn, customer="acme")
    ticket = max(found, key=lambda tk: tk.id)
    assert (ticket.severity, ticket.queue.value, ticket.subject) == (
        2,
        "business",
        "Facture de mars erronée",
    )
    assert ticket.product is not None and "vsphere" in ticket.product.lower()


async def test_severity_option_and_vendor_labels(bot_app: BotUnderTest) -> None:
    labelled = await bot_app.command("/ticket", "new sevB Outlook sync fails", as_=HELEN)
    assert "T-" in labelled.json["text"]
    option = await bot_app.command("/ticket", "new gravité:1 Site down", as_=GRACE)
    assert "T-" in option.json["text"]
    async with bot_app.store.read() as conn:
        helen = await tickets_db.list_tickets(conn, customer="northwind")
        grace = await tickets_db.list_tickets(conn, customer="riverbank")
    assert max(helen, key=lambda tk: tk.id).severity == 2
    newest = max(grace, key=lambda tk: tk.id)
    assert (newest.severity, newest.subject) == (1, "Site down")


async def test_an_unknown_label_is_an_error_not_a_subject(bot_app: BotUnderTest) -> None:
    async with bot_app.store.read() as conn:
        before = len(await tickets_db.list_tickets(conn, customer="riverbank"))
    response = await bot_app.command("/ticket", "new sevZ Disk full", as_=GRACE)
    assert "sevZ" in response.json["text"] and "sev1" in response.json["text"]
    async with bot_app.store.read() as conn:
        assert len(await tickets_db.list_tickets(conn, customer="riverbank")) == before
    # A VMware-only customer has no letter labels: "sevA" is an error too.
    assert "sevA" in (await bot_app.command("/ticket", "new sevA x", as_=GRACE)).json["text"]


async def test_french_list_scopes(bot_app: BotUnderTest) -> None:
    await bot_app.command("/ticket", "nouveau Question sur une licence", as_=GRACE)
    mine = await bot_app.command("/ticket", "liste miens", as_=GRACE)
    assert "Question sur une licence" in mine.json["text"]
    closed = await bot_app.command("/ticket", "liste fermés", as_=GRACE)
    assert "resolved or closed" in closed.json["text"]
    bad = await bot_app.command("/ticket", "liste bizarres", as_=GRACE)
    assert "closed" in bad.json["text"]


async def test_french_account_commands(bot_app: BotUnderTest) -> None:
    renewals = await bot_app.command("/entitlements", "renouvellements 120", as_=ALICE)
    assert "120" in renewals.json["text"] and "411023872" in str(renewals.json["blocks"])
    help_text = (await bot_app.command("/supportbot", "aide", as_=ALICE)).json["text"]
    assert "/ticket nouveau" in help_text
    english_help = (await bot_app.command("/supportbot", "help", as_=GRACE)).json["text"]
    assert "/ticket new" in english_help


async def test_severity_changes_read_labels_too(bot_app: BotUnderTest) -> None:
    response = await bot_app.command("/ticket", "gravité T-1 sevZ pourquoi", as_=GRACE)
    assert "sevZ" in response.json["text"] and "sev1" in response.json["text"]
    response = await bot_app.command("/escalate", "T-1 sévZ raison", as_=GRACE)
    assert "sévZ" in response.json["text"]
