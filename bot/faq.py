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
question finds its entry whatever its language; the answer is written in the question's
language when it is clear (:meth:`FaqCatalog.language_of`), else in the asker's locale.

Audiences. ``audience`` lists whom the entry is written for, and an optional
``partner_types: [distributor]`` narrows a partner entry to some partner types: the
search prefers the entries written for the asker. An entry may also have *variants*,
whole answers for one kind of asker: ``<slug>.<variant>.md.j2`` next to the entry, where
the variant is an audience (``customer``, ``partner``, ``vendor``) or a partner type
(``reseller``, ``distributor``, ``msp``, ``oem``, ``vspp``). A partner reads the variant
of its type, else the ``partner`` one, else the entry itself; the others read theirs,
else the entry. A variant may open with front matter holding its own ``title``. An entry
with a variant for some audience is written for that audience too.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bot import render
from bot.domain import PartnerType
from bot.faqsearch import Document, LanguageGuesser, SearchIndex

__all__ = [
    "ANSWER_LIMIT",
    "AUDIENCES",
    "PARTNER_TYPES",
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
PARTNER_TYPES = tuple(p.value for p in PartnerType)
VARIANTS = AUDIENCES + PARTNER_TYPES

# One section block holds 3000 characters; leave room for the title line.
ANSWER_LIMIT = 2900

# Weights of the metadata fields in the search index: a title says what the entry is
# about more surely than any single phrasing.
_TITLE_WEIGHT = 3.0
_PHRASING_WEIGHT = 1.0
_KEYWORD_WEIGHT = 1.0

# Below this normalised score, or this close to the runner-up, the best match is only
# offered among others (see SearchResult.confident). Calibrated on the dev set
# (``supportbot faq --calibrate tests/faq_devset.yml``): the pair that answers the most
# questions directly while answering wrongly at most 1 % of them, and none of the
# off-topic questions of tests/test_faq_search.py.
CONFIDENT_SCORE = 0.3
CONFIDENT_MARGIN = 0.01
# Entries not written for the asker's audience (or partner type) keep this share of
# their score: a customer asking "how do I find my EA" gets the customer's entry unless
# the partner one is clearly closer.
OTHER_AUDIENCE_FACTOR = 0.75
# How many candidates the audience preference re-orders.
CANDIDATES = 10
# Questions are read up to this length: search time grows with the text, and a question
# of 100 000 characters would hold the event loop past Slack's 3-second ack limit.
MAX_QUESTION = 1000
# Questions (and rendered answers) remembered per catalog.
REMEMBERED_QUESTIONS = 4096

# libyaml's loader when available: it reads the 74 front matters ten times faster.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FRONT_MATTER = re.compile(r"\A\{#---\n(?P<yaml>.*?)\n---#\}\n?", re.DOTALL)


class FaqFormatError(ValueError):
    """A FAQ template is missing or its metadata is malformed; the message names it."""


@dataclass(frozen=True)
class AgreementInfo:
    """A volume-licensing agreement with Software Assurance, as its customer sees it."""

    number: str
    benefits: tuple[str, ...]
    admins: tuple[str, ...]  # benefit administrators, by name (or e-mail)
    notice_contact: str  # the e-mail the vendor writes to about the agreement


@dataclass(frozen=True)
class SubscriptionInfo:
    ea: str
    service: str
    seller: str  # the seller's name: a partner or the vendor itself
    contract_code: str | None
    ends: dt.date | None


@dataclass(frozen=True)
class RenewalInfo:
    kind: str  # contract | subscription | key
    ea: str
    ref: str  # contract number, subscription id, or the key as the asker may see it
    label: str
    ends: dt.date
    days_left: int


@dataclass(frozen=True)
class LicenseInfo:
    ea: str
    key: str  # masked unless the asker may see keys
    product: str
    type: str  # oem | nfr | iul | vspp | eval | standard
    expires: dt.date | None


@dataclass(frozen=True)
class AskerContext:
    """What is known of the person asking; templates read it as ``asker``.

    Every field may be empty: templates must read well without it. The account fields
    (``eas`` and below) are filled only for templates that read them, and only with what
    the asker may see.
    """

    locale: str = "en"
    audience: str | None = None  # "customer" | "partner" | "vendor" | None (unknown)
    name: str | None = None
    organization: str | None = None
    partner_type: str | None = None  # for partners
    atc: bool = False  # a partner's authorized technical contact (may escalate)
    eas: tuple[str, ...] = ()  # EA numbers in the asker's view
    partners: tuple[str, ...] = ()  # for customers: partners holding grants on their EAs
    contract_level: str | None = None  # basic | production | saas
    # (severity, label e.g. "Sev 1", target e.g. "30 min" or "4 business hours")
    response_targets: tuple[tuple[int, str, str], ...] = ()
    atcs: tuple[tuple[str, str], ...] = ()  # (name, email) of the partner's ATCs
    superusers: tuple[tuple[str, str], ...] = ()  # (EA, superuser's name or e-mail)
    agreements: tuple[AgreementInfo, ...] = ()
    subscriptions: tuple[SubscriptionInfo, ...] = ()
    renewals: tuple[RenewalInfo, ...] = ()  # what ends within RENEWAL_DAYS, soonest first
    licenses: tuple[LicenseInfo, ...] = ()  # keys of the special types (OEM, NFR, IUL…)


# The renewals an answer lists: what ends within this many days.
RENEWAL_DAYS = 90


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
    partner_types: frozenset[str] = frozenset()  # empty: every partner type
    variants: frozenset[str] = frozenset()
    # (variant, locale) -> the variant's own title, when it has one
    variant_titles: Mapping[tuple[str, str], str] = field(default_factory=dict, hash=False)

    def visible_to(self, audience: str | None) -> bool:
        """Shown in the topic list of ``audience``; vendors and unknown askers see all."""
        return audience is None or audience == "vendor" or audience in self.audience

    def variant_for(self, audience: str | None, partner_type: str | None = None) -> str | None:
        """The variant this asker reads, or None for the entry itself."""
        if audience == "partner" and partner_type in self.variants:
            return partner_type
        if audience in self.variants:
            return audience
        return None

    def written_for(self, audience: str | None, partner_type: str | None = None) -> bool:
        """Is this entry meant for this asker? Unknown askers and vendors: every entry."""
        if audience is None or audience == "vendor":
            return True
        if self.variant_for(audience, partner_type) is not None:
            return True
        if audience not in self.audience:
            return False
        return (
            audience != "partner"
            or not self.partner_types
            or partner_type is None
            or partner_type in self.partner_types
        )

    def title(self, locale: str, variant: str | None = None) -> str:
        if variant is not None:
            own = self.variant_titles.get((variant, locale))
            if own:
                return own
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


def is_confident(best: float, runner_up: float, *, score: float, margin: float) -> bool:
    """The confidence rule: strong enough, and ahead of the runner-up by a share of itself."""
    return best >= score and best - runner_up >= margin * best


def _str_list(value: Any, where: str, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise FaqFormatError(f"{where}: {name} must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _front_matter(path: Path) -> tuple[dict[str, Any] | None, str]:
    """The YAML front matter of a template (None when it has none) and its body."""
    where = str(path)
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FaqFormatError(f"{where}: missing") from None
    match = _FRONT_MATTER.match(source)
    if match is None:
        return None, source
    try:
        data = yaml.load(match.group("yaml"), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise FaqFormatError(f"{where}: front matter is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise FaqFormatError(f"{where}: front matter must be a mapping")
    return data, source[match.end() :]


def _read_metadata(path: Path) -> dict[str, Any]:
    where = str(path)
    data, body = _front_matter(path)
    if data is None:
        raise FaqFormatError(f"{where}: no front matter ({{#--- … ---#}}) at the top")
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
    partner_types = _str_list(data.get("partner_types", []), where, "partner_types")
    unknown = set(partner_types) - set(PARTNER_TYPES)
    if unknown:
        raise FaqFormatError(f"{where}: unknown partner type {sorted(unknown)}")
    if partner_types and "partner" not in audience:
        raise FaqFormatError(f"{where}: partner_types needs partner in the audience")
    return {
        "title": title.strip(),
        "audience": frozenset(audience),
        "theme": theme,
        "partner_types": frozenset(partner_types),
        "phrasings": _str_list(data.get("phrasings"), where, "phrasings"),
        "keywords": _str_list(data.get("keywords", []), where, "keywords"),
        "body": body,
    }


def _variant_title(path: Path) -> str | None:
    data, _ = _front_matter(path)
    if data is None:
        return None
    if set(data) - {"title"}:
        raise FaqFormatError(f"{path}: a variant's front matter holds its title only")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise FaqFormatError(f"{path}: title must be a non-empty string")
    return title.strip()


# Template text that is not prose, for the language model: Jinja tags and comments,
# inline code, links.
_NOT_PROSE = re.compile(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}|`[^`]*`|<[^>]*>", re.DOTALL)


class FaqCatalog:
    """All FAQ entries, their search index and their rendering."""

    def __init__(
        self,
        entries: Mapping[str, FaqEntry],
        templates_dir: Path,
        bodies: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        self.entries: dict[str, FaqEntry] = dict(entries)
        self.templates_dir = templates_dir
        self._index = SearchIndex(self._documents())
        texts = [
            (text, language)
            for document in self._documents()
            for text, language, _ in document.texts
        ]
        texts.extend(
            (_NOT_PROSE.sub(" ", body), locale) for (_, locale), body in (bodies or {}).items()
        )
        self._language = LanguageGuesser(texts)
        # The catalog never changes once loaded: a question asked again (support
        # questions repeat) is answered from these instead of searching again.
        self.remembered_search = functools.lru_cache(maxsize=REMEMBERED_QUESTIONS)(self.search)
        self._remembered_language = functools.lru_cache(maxsize=REMEMBERED_QUESTIONS)(
            self._language_of
        )
        self._remembered_answer = functools.lru_cache(maxsize=REMEMBERED_QUESTIONS)(self._answer)

    @classmethod
    def load(cls, templates_dir: Path | None = None) -> FaqCatalog:
        """Read every ``faq/<locale>/<slug>.md.j2`` under ``templates_dir``.

        The entries are the slugs present in the default locale; each must exist in
        every locale, with the same audience, theme, partner types and variants.
        """
        root = templates_dir or render.TEMPLATES_DIR
        base = root / "faq" / render.DEFAULT_LOCALE
        names = sorted(p.name.removesuffix(".md.j2") for p in base.glob("*.md.j2"))
        slugs = [n for n in names if "." not in n]
        if not slugs:
            raise FaqFormatError(f"{base}: no FAQ templates")
        variants: dict[str, set[str]] = {slug: set() for slug in slugs}
        for name in names:
            if "." not in name:
                continue
            slug, _, variant = name.partition(".")
            if slug not in variants:
                raise FaqFormatError(f"faq/{render.DEFAULT_LOCALE}/{name}.md.j2: no entry {slug}")
            if variant not in VARIANTS:
                raise FaqFormatError(
                    f"faq/{render.DEFAULT_LOCALE}/{name}.md.j2: unknown variant {variant!r}"
                    f" (one of {', '.join(VARIANTS)})"
                )
            variants[slug].add(variant)
        order = {slug: i for i, slug in enumerate(SLUGS)}
        slugs.sort(key=lambda s: (order.get(s, len(order)), s))
        entries = {}
        bodies: dict[tuple[str, str], str] = {}
        for slug in slugs:
            meta = {
                loc: _read_metadata(root / "faq" / loc / f"{slug}.md.j2") for loc in render.LOCALES
            }
            reference = meta[render.DEFAULT_LOCALE]
            for locale, data in meta.items():
                for key in ("audience", "theme", "partner_types"):
                    if data[key] != reference[key]:
                        raise FaqFormatError(
                            f"faq/{locale}/{slug}.md.j2: {key} differs from"
                            f" faq/{render.DEFAULT_LOCALE}/{slug}.md.j2"
                        )
                bodies[(slug, locale)] = data["body"]
            variant_titles = {}
            for variant in sorted(variants[slug]):
                for locale in render.LOCALES:
                    path = root / "faq" / locale / f"{slug}.{variant}.md.j2"
                    title = _variant_title(path)
                    if title:
                        variant_titles[(variant, locale)] = title
            entries[slug] = FaqEntry(
                slug=slug,
                audience=reference["audience"],
                theme=reference["theme"],
                titles={loc: data["title"] for loc, data in meta.items()},
                phrasings={loc: data["phrasings"] for loc, data in meta.items()},
                keywords={loc: data["keywords"] for loc, data in meta.items()},
                partner_types=reference["partner_types"],
                variants=frozenset(variants[slug]),
                variant_titles=variant_titles,
            )
        return cls(entries, root, bodies)

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

    def title(
        self, slug: str, locale: str, audience: str | None = None, partner_type: str | None = None
    ) -> str:
        """The entry's title in ``locale`` as this asker reads it (plain text: escape it
        for mrkdwn)."""
        entry = self.entries[slug]
        return entry.title(locale, entry.variant_for(audience, partner_type))

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

    def language_of(self, question: str) -> str | None:
        """The language ``question`` is written in ("fr" or "en"), or None when unclear
        (too short, or only words both languages share)."""
        return self._remembered_language(question[:MAX_QUESTION])

    def _language_of(self, question: str) -> str | None:
        return self._language.guess(question)

    def search(
        self,
        question: str,
        *,
        locale: str | None = None,
        audience: str | None = None,
        partner_type: str | None = None,
        limit: int = 3,
        confident_score: float = CONFIDENT_SCORE,
        confident_margin: float = CONFIDENT_MARGIN,
    ) -> SearchResult:
        """The entry ``question`` is most likely about, for this asker.

        Matching does not depend on ``locale`` (the asker's): people often ask in one
        language and read in another, and every entry is indexed in all languages; the
        argument is accepted so callers can pass what they have. Entries written for the
        asker's ``audience`` (and partner type) are preferred (``OTHER_AUDIENCE_FACTOR``).
        A question that is exactly a slug answers that entry with score 1.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        text = question.strip()[:MAX_QUESTION]
        if text.lower() in self.entries:
            slug = text.lower()
            return SearchResult(slug, 1.0, ((slug, 1.0),), True)
        ranked = self._index.search(text, limit=max(limit, 2, CANDIDATES))
        if not ranked:
            return SearchResult(None, 0.0, (), False)
        if audience is not None:
            ranked = sorted(
                (
                    (
                        slug,
                        score
                        if self.entries[slug].written_for(audience, partner_type)
                        else score * OTHER_AUDIENCE_FACTOR,
                    )
                    for slug, score in ranked
                ),
                key=lambda item: -item[1],
            )
        best_slug, best = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        confident = is_confident(best, runner_up, score=confident_score, margin=confident_margin)
        rounded = tuple((slug, round(score, 4)) for slug, score in ranked[:limit])
        return SearchResult(best_slug, round(best, 4), rounded, confident)

    def _template(self, slug: str, locale: str, asker: AskerContext) -> str:
        if locale not in render.LOCALES:
            locale = render.DEFAULT_LOCALE
        variant = self.entries[slug].variant_for(asker.audience, asker.partner_type)
        name = slug if variant is None else f"{slug}.{variant}"
        return f"faq/{locale}/{name}.md.j2"

    def account_fields(self, slug: str, locale: str, asker: AskerContext) -> frozenset[str]:
        """The account fields of ``asker`` this answer reads (EAs, partners, contracts,
        ATCs, agreements…). Most answers read none; the caller gathers only these."""
        return _account_fields(self.templates_dir, self._template(slug, locale, asker))

    def needs_account_data(self, slug: str, locale: str, asker: AskerContext | None = None) -> bool:
        """Does this answer read the asker's accounts? The caller then skips the
        queries that gather them when it does not."""
        return bool(self.account_fields(slug, locale, asker or AskerContext()))

    def answer(self, slug: str, locale: str, asker: AskerContext) -> str:
        """The entry as Slack mrkdwn in ``locale``, in the asker's variant: its title in
        bold, then the answer. The templates read nothing but ``asker``: an answer for
        the same context is rendered once."""
        try:
            return self._remembered_answer(slug, locale, asker)
        except TypeError:  # a context holding something unhashable
            return self._answer(slug, locale, asker)

    def _answer(self, slug: str, locale: str, asker: AskerContext) -> str:
        entry = self.entries[slug]
        if locale not in render.LOCALES:
            locale = render.DEFAULT_LOCALE
        env = render.environment_for(self.templates_dir)
        body = env.get_template(self._template(slug, locale, asker)).render(asker=asker).strip()
        title = entry.title(locale, entry.variant_for(asker.audience, asker.partner_type))
        text = f"*{render.slack_escape(title)}*\n{body}"
        return render.truncate(text, ANSWER_LIMIT)


ACCOUNT_FIELDS = (
    "eas",
    "partners",
    "contract_level",
    "response_targets",
    "atcs",
    "superusers",
    "agreements",
    "subscriptions",
    "renewals",
    "licenses",
)


@cache
def _account_fields(templates_dir: Path, name: str) -> frozenset[str]:
    source = (templates_dir / name).read_text(encoding="utf-8")
    return frozenset(f for f in ACCOUNT_FIELDS if re.search(rf"\basker\.{f}\b", source))


@cache
def default_catalog() -> FaqCatalog:
    """The catalog of the project's templates, loaded once per process."""
    return FaqCatalog.load()


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class EvalQuestion:
    text: str
    slug: str
    language: str
    audience: str  # customer | partner | vendor
    partner_type: str | None = None


# The key of an evaluation file's questions that no entry answers.
OFF_TOPIC = "off-topic"


def load_questions(path: Path) -> list[EvalQuestion]:
    """Questions of an evaluation file: ``slug -> language -> audience -> [questions]``,
    where the audience is ``customer``, ``partner``, ``vendor`` or a partner type, and
    the slug ``off-topic`` holds questions that no entry answers."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    if not isinstance(data, dict):
        raise FaqFormatError(f"{path}: expected slug -> language -> audience -> questions")
    questions = []
    for slug, by_language in data.items():
        if not isinstance(by_language, dict):
            raise FaqFormatError(f"{path}: {slug}: expected language -> audience -> questions")
        for language, by_audience in by_language.items():
            if language not in render.LOCALES or not isinstance(by_audience, dict):
                raise FaqFormatError(f"{path}: {slug}.{language}: expected a known language")
            for who, texts in by_audience.items():
                if who not in VARIANTS:
                    raise FaqFormatError(f"{path}: {slug}.{language}: unknown audience {who!r}")
                audience, partner_type = (who, None) if who in AUDIENCES else ("partner", who)
                where = f"{path}: {slug}.{language}.{who}"
                for text in _str_list(texts, where, "questions"):
                    questions.append(EvalQuestion(text, slug, language, audience, partner_type))
    return questions


@dataclass(frozen=True)
class Evaluation:
    """How the search does on a set of questions, per language ("all" for the whole).
    Off-topic questions are counted apart: ``off_topic`` of them, ``off_topic_answered``
    wrongly answered directly."""

    questions: Mapping[str, int]
    answered_right: Mapping[str, int]  # answered directly with the right entry
    answered_wrong: Mapping[str, int]  # answered directly with another entry
    first_right: Mapping[str, int]  # the right entry first (answer or first choice)
    language_right: Mapping[str, int]  # the question's language detected
    language_unclear: Mapping[str, int]  # no clear language: the user's locale is used
    off_topic: int
    off_topic_answered: int
    misses: tuple[tuple[EvalQuestion, str | None, bool], ...]  # (question, found, confident)

    def share(self, counts: Mapping[str, int], language: str = "all") -> float:
        return counts.get(language, 0) / max(1, self.questions.get(language, 0))


def evaluate(
    catalog: FaqCatalog,
    questions: list[EvalQuestion],
    *,
    confident_score: float = CONFIDENT_SCORE,
    confident_margin: float = CONFIDENT_MARGIN,
) -> Evaluation:
    counters: dict[str, dict[str, int]] = {
        name: defaultdict(int) for name in ("n", "right", "wrong", "first", "lang", "unclear")
    }
    misses = []
    off_topic = off_topic_answered = 0
    for q in questions:
        result = catalog.search(
            q.text,
            audience=q.audience,
            partner_type=q.partner_type,
            confident_score=confident_score,
            confident_margin=confident_margin,
        )
        if q.slug == OFF_TOPIC:
            off_topic += 1
            off_topic_answered += result.confident
            if result.confident:
                misses.append((q, result.slug, True))
            continue
        detected = catalog.language_of(q.text)
        for key in (q.language, "all"):
            counters["n"][key] += 1
            counters["right"][key] += result.confident and result.slug == q.slug
            counters["wrong"][key] += result.confident and result.slug != q.slug
            counters["first"][key] += result.slug == q.slug
            counters["lang"][key] += detected == q.language
            counters["unclear"][key] += detected is None
        if not (result.confident and result.slug == q.slug):
            misses.append((q, result.slug, result.confident))
    return Evaluation(
        questions=dict(counters["n"]),
        answered_right=dict(counters["right"]),
        answered_wrong=dict(counters["wrong"]),
        first_right=dict(counters["first"]),
        language_right=dict(counters["lang"]),
        language_unclear=dict(counters["unclear"]),
        off_topic=off_topic,
        off_topic_answered=off_topic_answered,
        misses=tuple(misses),
    )


def calibrate(
    catalog: FaqCatalog, questions: list[EvalQuestion], *, max_wrong: float = 0.01
) -> tuple[float, float, float, float]:
    """The (score, margin) pair of the confidence rule that answers the most questions
    directly with the right entry, while answering at most ``max_wrong`` of them with a
    wrong entry and none of the off-topic ones; returns (score, margin, right share,
    wrong share). Ties go to the stricter pair."""
    seen = []
    stray = []
    for q in questions:
        result = catalog.search(q.text, audience=q.audience, partner_type=q.partner_type)
        scores = [s for _, s in result.alternatives] + [0.0, 0.0]
        if q.slug == OFF_TOPIC:
            stray.append((scores[0], scores[1]))
        else:
            seen.append((scores[0], scores[1], result.slug == q.slug))
    if not seen:
        raise ValueError("no question to calibrate on")
    best: tuple[float, float, float, float] | None = None
    for score in (x / 100 for x in range(10, 61, 2)):
        for margin in (x / 100 for x in range(0, 41)):
            if any(is_confident(b, r, score=score, margin=margin) for b, r in stray):
                continue
            right = wrong = 0
            for b, r, ok in seen:
                if is_confident(b, r, score=score, margin=margin):
                    right += ok
                    wrong += not ok
            if wrong > max_wrong * len(seen):
                continue
            candidate = (score, margin, right / len(seen), wrong / len(seen))
            if best is None or candidate[2] >= best[2]:
                best = candidate
    if best is None:
        raise ValueError("no confidence rule keeps the wrong answers under the limit")
    return best


@dataclass(frozen=True)
class SearchTimings:
    """Time of one search in microseconds: wall clock, and the CPU time of the searching
    thread (which a busy machine's other processes do not inflate)."""

    mean: float
    p99: float
    cpu_mean: float
    cpu_p99: float


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def search_timings(
    catalog: FaqCatalog, questions: list[EvalQuestion], *, rounds: int = 5
) -> SearchTimings:
    """How long searches take, over ``rounds`` passes on ``questions``."""
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(max(1, rounds)):
        for q in questions:
            started, cpu_started = time.perf_counter_ns(), time.thread_time_ns()
            catalog.search(q.text, audience=q.audience, partner_type=q.partner_type)
            cpu.append((time.thread_time_ns() - cpu_started) / 1000)
            wall.append((time.perf_counter_ns() - started) / 1000)
    return SearchTimings(
        mean=sum(wall) / len(wall),
        p99=_p99(wall),
        cpu_mean=sum(cpu) / len(cpu),
        cpu_p99=_p99(cpu),
    )
