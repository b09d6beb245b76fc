"""The FAQ: catalog of entries, search, and answers rendered for the person asking.

Each entry is a pair of templates, ``templates/faq/<locale>/<slug>.md.j2`` (one per
locale), that opens with its metadata as YAML inside a Jinja comment::

    {#---
    title: How do I renew internal-use licenses (IUL)?
    audience: [partner]            # customer, partner, vendor
    theme: renewals                # one of THEMES: groups entries in the topic list
    phrasings:                     # how people ask it, in this file's language
      - how to renew our internal use licenses
    keywords: [IUL, renew, Renewals Center]
    ---#}
    …Slack mrkdwn answer; the asker's data is in ``asker`` (AskerContext)…

Search uses the titles, phrasings and keywords of every locale for every entry, so a
question finds its entry whatever its language; the answer is rendered in the asker's
locale.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bot import render
from bot.faqsearch import Document, SearchIndex

__all__ = [
    "ANSWER_LIMIT",
    "AUDIENCES",
    "SLUGS",
    "THEMES",
    "AskerContext",
    "FaqCatalog",
    "FaqEntry",
    "FaqFormatError",
    "SearchResult",
    "default_catalog",
]

# The contract: every slug has a template in every locale (see FAQ-CATALOG.md).
SLUGS: tuple[str, ...] = (
    "portal-profile-vs-partner-login",
    "portal-changes-for-partners",
    "superuser-partner-role",
    "superuser-wrongly-assigned",
    "partner-support-codes",
    "oem-support-visibility",
    "nfr-support",
    "nfr-renewal",
    "nfr-expired-still-visible",
    "partner-evaluations",
    "multiple-ea",
    "order-without-ea",
    "ea-duplicates-merge",
    "ea-lookup-reseller",
    "ea-missing-on-distributor-order",
    "ea-lookup-distributor",
    "license-types-folders",
    "iul-renewal",
    "renewal-policy",
    "oem-pac-redemption",
    "vspp-rental-licenses",
    "msp-customer-contacts-vendor",
    "msp-business-support",
    "msp-technical-support",
    "partner-first-line-duties",
    "vendor-support-duties",
    "authorized-technical-contacts",
    "severity-and-response-times",
    "seller-onboarding",
    "seller-billing-and-discounts",
    "sa-activation",
    "sa-benefits",
    "vs-partner-register-direct",
    "vs-partner-register-vlsc",
    "vs-partner-add-license",
    "vs-customer-remove-partner",
    "bot-how-to-open-ticket",
)

# Topic-list order; names are UI messages ``faq.topic(theme)``.
THEMES = ("accounts", "licenses", "support", "renewals", "cloud", "microsoft", "bot")
AUDIENCES = ("customer", "partner", "vendor")

# One section block holds 3000 characters; leave room for the title line.
ANSWER_LIMIT = 2900

# Weights of the metadata fields in the search index: a title says what the entry is
# about more surely than any single phrasing.
_TITLE_WEIGHT = 2.0
_PHRASING_WEIGHT = 1.0
_KEYWORD_WEIGHT = 1.0

# Below this normalised score, or this close to the runner-up, the best match is only
# offered among others (see SearchResult.confident).
CONFIDENT_SCORE = 0.3
CONFIDENT_MARGIN = 0.1
# Questions are read up to this length: search time grows with the text, and a question
# of 100 000 characters would hold the event loop past Slack's 3-second ack limit.
MAX_QUESTION = 1000

# libyaml's loader when available: it reads the 74 front matters ten times faster.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FRONT_MATTER = re.compile(r"\A\{#---\n(?P<yaml>.*?)\n---#\}\n?", re.DOTALL)


class FaqFormatError(ValueError):
    """A FAQ template is missing or its metadata is malformed; the message names it."""


@dataclass(frozen=True)
class AskerContext:
    """What is known of the person asking; templates read it as ``asker``.

    Every field may be empty: templates must read well without it.
    """

    locale: str = "en"
    audience: str | None = None  # "customer" | "partner" | "vendor" | None (unknown)
    name: str | None = None
    organization: str | None = None
    partner_type: str | None = None  # for partners
    eas: tuple[str, ...] = ()  # EA numbers in the asker's view
    partners: tuple[str, ...] = ()  # for customers: partners holding grants on their EAs
    contract_level: str | None = None  # basic | production | saas
    # (severity, label e.g. "Sev 1", target e.g. "30 min" or "4 business hours")
    response_targets: tuple[tuple[int, str, str], ...] = ()
    atcs: tuple[tuple[str, str], ...] = ()  # (name, email) of the partner's ATCs


@dataclass(frozen=True)
class FaqEntry:
    slug: str
    audience: frozenset[str]
    theme: str
    # locale -> title (plain text, not escaped), phrasings, keywords; left out of the
    # hash (mappings are unhashable), the slug identifies the entry anyway.
    titles: Mapping[str, str] = field(hash=False)
    phrasings: Mapping[str, tuple[str, ...]] = field(hash=False)
    keywords: Mapping[str, tuple[str, ...]] = field(hash=False)

    def visible_to(self, audience: str | None) -> bool:
        """Shown in the topic list of ``audience``; vendors and unknown askers see all."""
        return audience is None or audience == "vendor" or audience in self.audience

    def title(self, locale: str) -> str:
        return self.titles.get(locale) or self.titles[render.DEFAULT_LOCALE]


@dataclass(frozen=True)
class SearchResult:
    """Outcome of a search.

    ``slug`` is the best match, or None when no word of the question matched anything.
    ``alternatives`` ranks the best matches (``slug`` first) with their scores in [0, 1].
    ``confident`` is False when the best match is weak or barely ahead of the next one:
    the UI then offers the alternatives instead of answering.
    """

    slug: str | None
    score: float
    alternatives: tuple[tuple[str, float], ...]
    confident: bool


def _str_list(value: Any, where: str, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise FaqFormatError(f"{where}: {name} must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _read_metadata(path: Path) -> dict[str, Any]:
    where = str(path)
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FaqFormatError(f"{where}: missing") from None
    match = _FRONT_MATTER.match(source)
    if match is None:
        raise FaqFormatError(f"{where}: no front matter ({{#--- … ---#}}) at the top")
    try:
        data = yaml.load(match.group("yaml"), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise FaqFormatError(f"{where}: front matter is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise FaqFormatError(f"{where}: front matter must be a mapping")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise FaqFormatError(f"{where}: title must be a non-empty string")
    audience = _str_list(data.get("audience"), where, "audience")
    unknown = set(audience) - set(AUDIENCES)
    if unknown:
        raise FaqFormatError(f"{where}: unknown audience {sorted(unknown)}")
    theme = data.get("theme")
    if theme not in THEMES:
        raise FaqFormatError(f"{where}: theme must be one of {', '.join(THEMES)}")
    return {
        "title": title.strip(),
        "audience": frozenset(audience),
        "theme": theme,
        "phrasings": _str_list(data.get("phrasings"), where, "phrasings"),
        "keywords": _str_list(data.get("keywords", []), where, "keywords"),
    }


class FaqCatalog:
    """All FAQ entries, their search index and their rendering."""

    def __init__(self, entries: Mapping[str, FaqEntry], templates_dir: Path) -> None:
        self.entries: dict[str, FaqEntry] = dict(entries)
        self.templates_dir = templates_dir
        self._index = SearchIndex(self._documents())

    @classmethod
    def load(cls, templates_dir: Path | None = None) -> FaqCatalog:
        """Read every ``faq/<locale>/<slug>.md.j2`` under ``templates_dir``.

        The entries are the slugs present in the default locale; each must exist in
        every locale, with the same audience and theme.
        """
        root = templates_dir or render.TEMPLATES_DIR
        base = root / "faq" / render.DEFAULT_LOCALE
        slugs = sorted(p.name.removesuffix(".md.j2") for p in base.glob("*.md.j2"))
        if not slugs:
            raise FaqFormatError(f"{base}: no FAQ templates")
        order = {slug: i for i, slug in enumerate(SLUGS)}
        slugs.sort(key=lambda s: (order.get(s, len(order)), s))
        entries = {}
        for slug in slugs:
            meta = {
                loc: _read_metadata(root / "faq" / loc / f"{slug}.md.j2") for loc in render.LOCALES
            }
            reference = meta[render.DEFAULT_LOCALE]
            for locale, data in meta.items():
                for key in ("audience", "theme"):
                    if data[key] != reference[key]:
                        raise FaqFormatError(
                            f"faq/{locale}/{slug}.md.j2: {key} differs from"
                            f" faq/{render.DEFAULT_LOCALE}/{slug}.md.j2"
                        )
            entries[slug] = FaqEntry(
                slug=slug,
                audience=reference["audience"],
                theme=reference["theme"],
                titles={loc: data["title"] for loc, data in meta.items()},
                phrasings={loc: data["phrasings"] for loc, data in meta.items()},
                keywords={loc: data["keywords"] for loc, data in meta.items()},
            )
        return cls(entries, root)

    def _documents(self) -> list[Document]:
        documents = []
        for entry in self.entries.values():
            texts: list[tuple[str, str, float]] = []
            for locale in render.LOCALES:
                texts.append((entry.titles[locale], locale, _TITLE_WEIGHT))
                texts.extend((p, locale, _PHRASING_WEIGHT) for p in entry.phrasings[locale])
                texts.extend((k, locale, _KEYWORD_WEIGHT) for k in entry.keywords[locale])
            documents.append(Document(entry.slug, texts))
        return documents

    def title(self, slug: str, locale: str) -> str:
        """The entry's title in ``locale`` (plain text: escape it for mrkdwn)."""
        return self.entries[slug].title(locale)

    def topics(self, audience: str | None, locale: str) -> list[tuple[str, list[FaqEntry]]]:
        """Entries visible to ``audience``, grouped by theme, as (localized name, entries)."""
        groups: list[tuple[str, list[FaqEntry]]] = []
        for theme in THEMES:
            members = [
                e for e in self.entries.values() if e.theme == theme and e.visible_to(audience)
            ]
            if members:
                groups.append((render.t("faq.topic", locale, theme=theme), members))
        return groups

    def search(self, question: str, *, locale: str | None = None, limit: int = 3) -> SearchResult:
        """The entry ``question`` is most likely about.

        Matching does not depend on ``locale`` (the asker's): people often ask in one
        language and read in another, and every entry is indexed in all languages; the
        argument is accepted so callers can pass what they have. A question that is
        exactly a slug answers that entry with score 1.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        text = question.strip()[:MAX_QUESTION]
        if text.lower() in self.entries:
            slug = text.lower()
            return SearchResult(slug, 1.0, ((slug, 1.0),), True)
        ranked = self._index.search(text, limit=max(limit, 2))
        if not ranked:
            return SearchResult(None, 0.0, (), False)
        best_slug, best = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        confident = best >= CONFIDENT_SCORE and best - runner_up >= CONFIDENT_MARGIN * best
        rounded = tuple((slug, round(score, 4)) for slug, score in ranked[:limit])
        return SearchResult(best_slug, round(best, 4), rounded, confident)

    def needs_account_data(self, slug: str, locale: str) -> bool:
        """Does this answer read the asker's accounts (EAs, partners, contracts, ATCs)?
        Most don't; the caller then skips the queries that gather them."""
        return _reads_account_data(self.templates_dir, slug, locale)

    def answer(self, slug: str, locale: str, asker: AskerContext) -> str:
        """The entry as Slack mrkdwn in ``locale``: its title in bold, then the answer."""
        entry = self.entries[slug]
        if locale not in render.LOCALES:
            locale = render.DEFAULT_LOCALE
        env = render.environment_for(self.templates_dir)
        body = env.get_template(f"faq/{locale}/{slug}.md.j2").render(asker=asker).strip()
        text = f"*{render.slack_escape(entry.title(locale))}*\n{body}"
        return render.truncate(text, ANSWER_LIMIT)


ACCOUNT_FIELDS = ("eas", "partners", "contract_level", "response_targets", "atcs")


@cache
def _reads_account_data(templates_dir: Path, slug: str, locale: str) -> bool:
    if locale not in render.LOCALES:
        locale = render.DEFAULT_LOCALE
    source = (templates_dir / "faq" / locale / f"{slug}.md.j2").read_text(encoding="utf-8")
    return any(f"asker.{name}" in source for name in ACCOUNT_FIELDS)


@cache
def default_catalog() -> FaqCatalog:
    """The catalog of the project's templates, loaded once per process."""
    return FaqCatalog.load()
