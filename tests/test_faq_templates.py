"""FAQ templates: every catalog slug in every locale, valid metadata, and answers that
render for every kind of asker, fit one Slack section and never let user text ping."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from bot.faq import (
    ANSWER_LIMIT,
    AUDIENCES,
    SLUGS,
    THEMES,
    AgreementInfo,
    AskerContext,
    FaqCatalog,
    FaqFormatError,
    LicenseInfo,
    RenewalInfo,
    SubscriptionInfo,
    default_catalog,
)
from bot.render import LOCALES, TEMPLATES_DIR, t

CATALOG = Path(__file__).with_name("faq_catalog.yml")


def catalog_table() -> dict[str, frozenset[str]]:
    """slug -> audience, from the catalog the templates are written to."""
    table = {}
    for slug, names in yaml.safe_load(CATALOG.read_text(encoding="utf-8")).items():
        names = set(names)
        table[slug] = frozenset(AUDIENCES) if names == {"everyone"} else frozenset(names)
    return table


TABLE = catalog_table()
CASES = [(slug, locale) for slug in SLUGS for locale in LOCALES]

EMPTY = AskerContext()
CUSTOMER = AskerContext(
    locale="fr",
    audience="customer",
    name="Alice Martin",
    organization="ACME SA",
    eas=("123456789", "234567891"),
    partners=("Pixel Services", "Nuage Infogérance"),
    contract_level="production",
    response_targets=(
        (1, "Sev 1", "30 min"),
        (2, "Sev 2", "4 business hours"),
        (3, "Sev 3", "8 business hours"),
        (4, "Sev 4", "12 business hours"),
    ),
    atcs=(("Paul Girard", "paul@pixel.example"),),
    superusers=(("123456789", "Alice Martin"), ("234567891", "bruno@acme.example")),
    agreements=(
        AgreementInfo("V1234567", ("training_vouchers",), ("Alice Martin",), "buy@acme.example"),
    ),
    subscriptions=(
        SubscriptionInfo("123456789", "Cloud DR", "Pixel Services", "CC-1", dt.date(2027, 3, 31)),
    ),
    renewals=(
        RenewalInfo("contract", "123456789", "SNS-1", "vSphere", dt.date(2027, 1, 10), 48),
        RenewalInfo("key", "234567891", "•••••-A5C4N", "VCF", dt.date(2026, 12, 20), 27),
    ),
    licenses=(LicenseInfo("123456789", "•••••-D5C4N", "vSAN", "oem", None),),
)
PARTNER = AskerContext(
    locale="en",
    audience="partner",
    name="Paul Girard",
    organization="Pixel Services",
    partner_type="msp",
    atc=True,
    eas=("123456789",),
    superusers=(("123456789", "Alice Martin"),),
    licenses=(
        LicenseInfo("123456789", "•••••-A5C4N", "vSphere", "nfr", dt.date(2027, 1, 31)),
        LicenseInfo("123456789", "•••••-B5C4N", "vSphere", "iul", None),
        LicenseInfo("123456789", "•••••-C5C4N", "vSphere", "vspp", None),
        LicenseInfo("123456789", "•••••-D5C4N", "vSAN", "oem", None),
    ),
    contract_level="basic",
    response_targets=(
        (1, "Sev 1", "4 business hours"),
        (2, "Sev 2", "8 business hours"),
        (3, "Sev 3", "12 business hours"),
        (4, "Sev 4", "12 business hours"),
    ),
    atcs=(("Paul Girard", "paul@pixel.example"), ("Lea Roux", "lea@pixel.example")),
)
VENDOR = AskerContext(
    locale="en",
    audience="vendor",
    name="Sam Engineer",
    organization="VMware",
    eas=tuple(f"{n:09d}" for n in range(100000000, 100000040)),
)
ASKERS = {"empty": EMPTY, "customer": CUSTOMER, "partner": PARTNER, "vendor": VENDOR}

HOSTILE = AskerContext(
    locale="en",
    audience="partner",
    name="<@U0BOSS> & <!here>",
    organization="<!channel> & Co",
    partner_type="<!everyone>",
    eas=("<!channel>", "123456789"),
    partners=("<!here> & Partners",),
    contract_level="<!subteam^S1>",
    response_targets=((1, "<!channel>", "now & <@U0BOSS>"),),
    atcs=(("<!channel> Admin", "<!here>@x.example"), ("Eve", "eve@x.example>")),
    superusers=(("<!here>", "<@U0BOSS> & Co"),),
    agreements=(AgreementInfo("<!channel>", ("<!here>_x",), ("<@U0BOSS>",), "<!x>@y.example"),),
    subscriptions=(SubscriptionInfo("<!here>", "<!channel> DR", "<@U1> & Co", "<!c>", None),),
    renewals=(RenewalInfo("<!here>", "<!x>", "<!y>", "<@U2>", dt.date(2026, 12, 1), 8),),
    licenses=tuple(
        LicenseInfo("<!here>", "<@U3>", "<!channel> & x", kind, None)
        for kind in ("oem", "nfr", "iul", "vspp")
    ),
)


@pytest.fixture(scope="module")
def catalog() -> FaqCatalog:
    return default_catalog()


def test_slug_contract_matches_the_shared_catalog(catalog: FaqCatalog) -> None:
    assert len(TABLE) == 37
    assert set(TABLE) == set(SLUGS)
    assert list(catalog.entries) == list(SLUGS)


@pytest.mark.parametrize(("slug", "locale"), CASES)
def test_template_exists(slug: str, locale: str) -> None:
    assert (TEMPLATES_DIR / "faq" / locale / f"{slug}.md.j2").is_file()


def test_no_template_outside_the_catalog() -> None:
    for locale in LOCALES:
        # <slug>.md.j2, and <slug>.<variant>.md.j2 for an entry's audience variants
        found = {
            p.name.removesuffix(".md.j2").partition(".")[0]
            for p in (TEMPLATES_DIR / "faq" / locale).iterdir()
        }
        assert found == set(SLUGS), locale


@pytest.mark.parametrize("slug", SLUGS)
def test_metadata(catalog: FaqCatalog, slug: str) -> None:
    entry = catalog.entries[slug]
    assert entry.audience == TABLE[slug]
    assert entry.theme in THEMES
    for locale in LOCALES:
        title = entry.titles[locale]
        assert title.strip() == title and len(title) >= 10
        # Titles go to plain-text buttons and to mrkdwn: nothing to escape either way.
        assert not set("<>&*_`") & set(title), title
        phrasings = entry.phrasings[locale]
        assert len(phrasings) >= 8
        assert len(set(phrasings)) == len(phrasings)
        assert title not in phrasings
        assert entry.keywords[locale]
    assert entry.titles["fr"] != entry.titles["en"]


def test_every_theme_has_entries(catalog: FaqCatalog) -> None:
    assert {e.theme for e in catalog.entries.values()} == set(THEMES)


@pytest.mark.parametrize(("slug", "locale"), CASES)
@pytest.mark.parametrize("asker", list(ASKERS), ids=list(ASKERS))
def test_answer_renders_for_every_asker(
    catalog: FaqCatalog, slug: str, locale: str, asker: str
) -> None:
    context = replace(ASKERS[asker], locale=locale)
    text = catalog.answer(slug, locale, context)
    assert len(text) <= ANSWER_LIMIT
    title, body = text.split("\n", 1)
    assert title == f"*{catalog.title(slug, locale, context.audience, context.partner_type)}*"
    assert len(body) > 80
    assert "None" not in text and "()" not in text
    assert "\n\n\n" not in text
    # mrkdwn, not Markdown
    assert not re.search(r"^#|\*\*|^- ", text, re.MULTILINE)
    assert not re.search(r"\[[^\]]+\]\(http", text)


@pytest.mark.parametrize(("slug", "locale"), CASES)
def test_user_values_come_out_escaped(catalog: FaqCatalog, slug: str, locale: str) -> None:
    text = catalog.answer(slug, locale, replace(HOSTILE, locale=locale))
    assert "<!" not in text and "<@" not in text
    # The only "<" left are links the templates build on purpose.
    for match in re.finditer("<", text):
        assert re.match(r"<(?:https?://|mailto:)[^<>\s|]+\|[^<>]*>", text[match.start() :]), text
    assert "& " not in text.replace("&amp; ", "")


def test_hostile_values_are_shown_not_dropped(catalog: FaqCatalog) -> None:
    text = catalog.answer("authorized-technical-contacts", "en", HOSTILE)
    assert "&lt;!channel&gt; Admin" in text
    # A malformed address is printed as text, never as a link.
    assert "eve@x.example&gt;" in text
    assert "<mailto:eve" not in text
    text = catalog.answer("msp-customer-contacts-vendor", "en", HOSTILE)
    assert "&lt;!channel&gt; &amp; Co" in text


def test_answers_use_the_askers_data(catalog: FaqCatalog) -> None:
    def differs(slug: str, asker: AskerContext, *expected: str) -> None:
        for locale in LOCALES:
            text = catalog.answer(slug, locale, replace(asker, locale=locale))
            plain = catalog.answer(
                slug, locale, AskerContext(locale=locale, audience=asker.audience)
            )
            assert text != plain, (slug, locale)
            for value in expected:
                assert value in text, (slug, locale, value)

    differs("multiple-ea", CUSTOMER, "123456789", "234567891")
    differs("ea-lookup-reseller", PARTNER, "123456789")
    differs("authorized-technical-contacts", PARTNER, "Lea Roux", "mailto:lea@pixel.example")
    differs("severity-and-response-times", CUSTOMER, "30 min", "4 business hours", "production")
    differs("msp-customer-contacts-vendor", CUSTOMER, "Pixel Services", "Nuage Infogérance")
    differs("msp-customer-contacts-vendor", PARTNER, "Pixel Services")
    differs("superuser-partner-role", PARTNER, "123456789")
    differs("vs-customer-remove-partner", CUSTOMER, "Pixel Services")
    differs("bot-how-to-open-ticket", PARTNER, "123456789", "Lea Roux", "/escalate")
    differs("bot-how-to-open-ticket", CUSTOMER, "234567891", "Pixel Services")
    differs("sa-activation", CUSTOMER, "V1234567", "buy@acme.example", "Alice Martin")
    differs("sa-benefits", CUSTOMER, "V1234567", "training vouchers")
    differs("seller-billing-and-discounts", CUSTOMER, "Pixel Services", "CC-1")
    differs("seller-onboarding", CUSTOMER, "Cloud DR", "Pixel Services")
    differs("renewal-policy", CUSTOMER, "SNS-1", "2027-01-10", "•••••-A5C4N")
    differs("partner-support-codes", PARTNER, "*msp*")
    differs("superuser-wrongly-assigned", PARTNER, "123456789", "Alice Martin")
    differs("superuser-partner-role", CUSTOMER, "bruno@acme.example")
    differs("oem-support-visibility", CUSTOMER, "•••••-D5C4N")
    differs("oem-pac-redemption", CUSTOMER, "•••••-D5C4N")
    differs("nfr-support", PARTNER, "•••••-A5C4N")
    differs("nfr-renewal", PARTNER, "•••••-A5C4N", "2027-01-31")
    differs("nfr-expired-still-visible", PARTNER, "•••••-A5C4N")
    differs("iul-renewal", PARTNER, "•••••-B5C4N")
    differs("vspp-rental-licenses", PARTNER, "•••••-C5C4N")
    differs("partner-first-line-duties", CUSTOMER, "Paul Girard")
    differs("msp-technical-support", PARTNER, "Lea Roux")


def test_default_response_targets_without_asker_data(catalog: FaqCatalog) -> None:
    text = catalog.answer("severity-and-response-times", "en", EMPTY)
    assert "30 minutes" in text and "4 business hours" in text and "12×5" in text
    basic = catalog.answer(
        "severity-and-response-times", "en", AskerContext(contract_level="basic")
    )
    assert "Basic support" in basic and "30 minutes" not in basic


def test_bot_entry_teaches_the_commands(catalog: FaqCatalog) -> None:
    for locale in LOCALES:
        text = catalog.answer("bot-how-to-open-ticket", locale, replace(PARTNER, locale=locale))
        for command in ("/ticket", "/ticket new sev2 ea:", "/ticket show", "/escalate", "/faq"):
            assert command in text, (locale, command)


def test_answer_is_truncated_to_one_section(catalog: FaqCatalog) -> None:
    many = AskerContext(audience="partner", eas=tuple(f"{n:09d}" for n in range(400)))
    text = catalog.answer("multiple-ea", "en", many)
    assert len(text) == ANSWER_LIMIT
    assert text.endswith("…")


def test_unknown_locale_answers_in_english(catalog: FaqCatalog) -> None:
    assert catalog.answer("nfr-renewal", "de", EMPTY) == catalog.answer("nfr-renewal", "en", EMPTY)
    assert catalog.title("nfr-renewal", "de") == catalog.title("nfr-renewal", "en")


def test_unknown_slug_raises(catalog: FaqCatalog) -> None:
    with pytest.raises(KeyError):
        catalog.answer("no-such-entry", "en", EMPTY)


def test_topics_per_audience(catalog: FaqCatalog) -> None:
    everything = {e.slug for _, entries in catalog.topics(None, "en") for e in entries}
    assert everything == set(SLUGS)
    assert {e.slug for _, es in catalog.topics("vendor", "en") for e in es} == set(SLUGS)
    for audience in ("customer", "partner"):
        shown = {e.slug for _, entries in catalog.topics(audience, "en") for e in entries}
        assert shown == {s for s in SLUGS if audience in TABLE[s]}
        assert "bot-how-to-open-ticket" in shown
    names_en = [name for name, _ in catalog.topics(None, "en")]
    names_fr = [name for name, _ in catalog.topics(None, "fr")]
    assert names_en == [t("faq.topic", "en", theme=theme) for theme in THEMES]
    assert names_fr != names_en and len(set(names_fr)) == len(THEMES)


def test_default_catalog_is_loaded_once() -> None:
    assert default_catalog() is default_catalog()


def write_entry(root: Path, locale: str, slug: str, front: str, body: str = "Answer.") -> None:
    folder = root / "faq" / locale
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{slug}.md.j2").write_text(f"{{#---\n{front}\n---#}}\n{body}\n", encoding="utf-8")


GOOD = "title: A question\naudience: [partner]\ntheme: bot\nphrasings: [one, two]\nkeywords: [k]"


def test_load_from_another_directory(tmp_path: Path) -> None:
    for locale in LOCALES:
        write_entry(tmp_path, locale, "probe", GOOD, "Hi {{ asker.name or 'there' }}")
    catalog = FaqCatalog.load(tmp_path)
    assert list(catalog.entries) == ["probe"]
    assert catalog.answer("probe", "fr", AskerContext(name="<!here>")) == (
        "*A question*\nHi &lt;!here&gt;"
    )
    assert catalog.search("probe").slug == "probe"


@pytest.mark.parametrize(
    ("front", "message"),
    [
        ("title: [unclosed", "not valid YAML"),
        ("- a list", "must be a mapping"),
        (GOOD.replace("title: A question", "title: ''"), "title"),
        (GOOD.replace("[partner]", "[reseller]"), "unknown audience"),
        (GOOD.replace("theme: bot", "theme: misc"), "theme"),
        (GOOD.replace("phrasings: [one, two]", "phrasings: one"), "phrasings"),
    ],
)
def test_malformed_metadata_is_reported_with_the_file(
    tmp_path: Path, front: str, message: str
) -> None:
    write_entry(tmp_path, "en", "probe", front)
    write_entry(tmp_path, "fr", "probe", GOOD)
    with pytest.raises(FaqFormatError, match=message) as info:
        FaqCatalog.load(tmp_path)
    assert "probe.md.j2" in str(info.value)


def test_locales_must_agree_and_be_complete(tmp_path: Path) -> None:
    write_entry(tmp_path, "en", "probe", GOOD)
    with pytest.raises(FaqFormatError, match=r"fr/probe\.md\.j2: missing"):
        FaqCatalog.load(tmp_path)
    write_entry(tmp_path, "fr", "probe", GOOD.replace("[partner]", "[customer]"))
    with pytest.raises(FaqFormatError, match="audience differs"):
        FaqCatalog.load(tmp_path)


def test_front_matter_is_required(tmp_path: Path) -> None:
    for locale in LOCALES:
        folder = tmp_path / "faq" / locale
        folder.mkdir(parents=True)
        (folder / "probe.md.j2").write_text("Just an answer.\n", encoding="utf-8")
    with pytest.raises(FaqFormatError, match="no front matter"):
        FaqCatalog.load(tmp_path)
