"""FAQ search: finds the entry a free-text question (French or English) is about.

Method. Each entry is one document made of its titles, phrasings and keywords in both
languages; questions and documents go through the same analysis: acronyms and
multi-word terms folded into one token ("not for resale" → ``nfr``, "compte éligible"
→ ``ea``), accents removed, US spellings mapped to British ones, stop words dropped,
then each word stemmed with both Snowball stemmers (French and English) and tagged with
its synonym group, if any ("facture"/"billing"/"invoice" → ``~invoice``). A document
is indexed under the stem of its own language. Scoring is Okapi BM25 (k1=1.2, b=0.75);
a question word counts once, with the best of its forms (French stem, English stem,
synonym group), so a bilingual match is never counted twice and an exact word beats
its synonym group (rarer, hence higher idf). A word absent from the index is replaced
by the nearest index word within Levenshtein distance 1 (2 from 8 letters on), which
absorbs most typos. The score is normalised to [0, 1] by the question's own maximum:
the sum, over its words, of the idf each would earn by matching once (unknown words
count with the mean idf), so a score says how much of the question was recognised.

Why this method (measured on the held-out set ``tests/faq_devset.yml``, 296 questions,
37 entries, 4 French and 4 English each; top-1 accuracy):
{RESULTS}
Everything is precomputed at load (postings, idf, length norms, the typo vocabulary);
a question costs a few dictionary look-ups per word and at most one fuzzy scan of the
vocabulary (cached), well under the 2 ms budget (see ``bench/bench_faq.py``).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

__all__ = ["Document", "SearchIndex", "analyze", "fold"]

K1 = 1.2
B = 0.75
# Smallest weight a recognised word has in a question's own maximum: words found in
# every entry ("how", "le") weigh almost nothing in the ranking, but a question made
# only of them must not look like a perfect match.
IDF_FLOOR = 0.3

# Case-sensitive acronyms: "SA" is Software Assurance, "sa" is a French possessive.
_ACRONYMS = {"SA": " softwareassurance ", "VS": " visualstudio "}
_ACRONYM_RE = re.compile(r"\b(" + "|".join(_ACRONYMS) + r")\b")

# Multi-word terms and spelling variants, on folded lower-case text.
_PHRASES: tuple[tuple[str, str], ...] = (
    (r"software[ -]?assurance", "softwareassurance"),
    (r"visual[ -]?studio", "visualstudio"),
    (r"not[ -]?for[ -]?resale", "nfr"),
    (r"(?:interdites?|non[ -]?revendables?) a la revente|non[ -]?revendables?", "nfr"),
    (r"internal[ -]?use", "iul"),
    (r"(?:a )?usage interne", "iul"),
    (r"comptes? eligibles?|entitlement accounts?", "ea"),
    (r"partner activation codes?|codes? d'?activation (?:du )?partenaires?", "pac"),
    (r"authori[sz]ed technical contacts?|contacts? techniques? autorises?", "atc"),
    (r"managed (?:service|services) providers?|fournisseurs? de services? (?:manages|geres)", "msp"),
    (r"global support services?", "gss"),
    (r"volume licen[cs]ing service cent(?:er|re)", "vlsc"),
    (r"centre de (?:gestion des )?licences en volume", "vlsc"),
    (r"super[ -]?utilisateurs?|super[ -]?users?", "superuser"),
    (r"bons? de commande|purchase orders?", "po"),
    (r"mots? de passe", "password"),
    (r"sign(?:ed|ing)?[ -]?(?:in|on)|log(?:ged|ging)?[ -]?(?:in|on)", "login"),
    (r"look[ -]?ups?", "lookup"),
    (r"end[ -]?(?:users?|customers?)|clients? finaux|client final|utilisateurs? finaux|utilisateur final", "enduser"),
    (r"24 ?(?:/|x|h ?/ ?) ?7|24 ?h ?24|(?:a)?round the clock|jour et nuit", "247"),
    (r"e[ -]?mails?|courriels?|mails?", "email"),
    (r"open[ -]licen[cs]es?|licences? open", "openlicense"),
)
_PHRASE_RE = [(re.compile(r"\b(?:" + p + r")\b"), f" {r} ") for p, r in _PHRASES]

_SPELLING = {
    "license": "licence",
    "licenses": "licences",
    "licensed": "licenced",
    "authorized": "authorised",
    "authorize": "authorise",
    "organization": "organisation",
    "organizations": "organisations",
    "organize": "organise",
    "organized": "organised",
    "recognized": "recognised",
    "canceled": "cancelled",
    "suport": "support",
    "tech": "technical",
    "techs": "technicians",
    "sev1": "sev",
    "sev2": "sev",
    "sev3": "sev",
    "sev4": "sev",
    "p1": "sev",
    "p2": "sev",
}

_SYNONYM_GROUPS: dict[str, tuple[str, ...]] = {
    "ticket": ("ticket", "tickets", "case", "cases", "cas", "request", "requests", "demande",
               "demandes", "requete", "requetes", "incident", "incidents", "sr"),
    "key": ("key", "keys", "cle", "cles", "licence", "licences", "serial"),
    "ea": ("ea", "eas", "account", "accounts", "compte", "comptes"),
    "support": ("support", "assistance", "helpdesk", "hotline", "help", "aide", "depannage"),
    "customer": ("customer", "customers", "client", "clients", "enduser"),
    "reseller": ("reseller", "resellers", "revendeur", "revendeurs", "integrator",
                 "integrators", "integrateur", "integrateurs", "var"),
    "distributor": ("distributor", "distributors", "distributeur", "distributeurs",
                    "grossiste", "grossistes", "wholesaler", "wholesalers", "disti",
                    "distribution"),
    "invoice": ("invoice", "invoices", "facture", "factures", "billing", "bill", "bills",
                "facturation", "charges", "factured", "invoiced"),
    "discount": ("discount", "discounts", "remise", "remises", "reduction", "reductions",
                 "rebate", "rabais"),
    "renew": ("renew", "renewal", "renewals", "renewed", "renouveler", "renouvellement",
              "renouvellements", "renouvele", "renouvelees", "prolonger", "extend",
              "extension", "reconduction"),
    "merge": ("merge", "merging", "merged", "fusion", "fusionner", "fusionne", "combine",
              "consolidate", "regrouper", "consolider", "aggregate", "agreger", "unify",
              "reunir"),
    "severity": ("severity", "severities", "sev", "gravite", "gravites", "severite",
                 "priority", "priorite", "criticite", "urgence", "criticality"),
    "login": ("login", "logon", "identifiant", "identifiants", "credentials", "username",
              "password", "connexion", "mdp", "logins"),
    "delete": ("delete", "remove", "supprimer", "retirer", "effacer", "enlever", "revoke",
               "revoquer", "withdraw", "deleted", "removed", "removal", "suppression"),
    "find": ("find", "search", "lookup", "trouver", "retrouver", "chercher", "rechercher",
             "recherche", "locate", "localiser", "retrieve", "recuperer"),
    "expired": ("expired", "expire", "expiree", "expirees", "expires", "perime", "perimee",
                "perimees", "perimes", "lapsed", "outdated", "obsolete", "obsoletes"),
    "evaluation": ("eval", "evals", "evaluation", "evaluations", "trial", "trials",
                   "essai", "essais"),
    "order": ("order", "orders", "ordering", "ordered", "commande", "commandes", "commander",
              "po", "bc", "buy", "buying", "bought", "purchase", "purchased", "acheter",
              "achat", "achats", "achete", "achetes"),
    "contact": ("contact", "contacts", "contacting", "call", "calling", "phone", "reach",
                "contacter", "joindre", "appeler", "telephoner", "telephone", "ring"),
    "allowed": ("allowed", "authorised", "permitted", "entitled", "cleared", "may",
                "autorise", "autorises", "habilite", "habilites", "droit", "permission",
                "permissions", "rights", "droits"),
    "escalate": ("escalate", "escalation", "escalated", "escalade", "escalader",
                 "escalades", "remonter"),
    "organisation": ("organisation", "organisations", "org", "orgs"),
    "vendor": ("vendor", "editeur", "vmware", "gss"),
    "onboard": ("onboard", "onboarding", "integration", "integrer", "integrate"),
}
_SYNONYMS = {word: group for group, words in _SYNONYM_GROUPS.items() for word in words}

_TOKEN = re.compile(r"[a-z0-9]+")
_LETTER_DIGIT = re.compile(r"(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])")

_STEMMERS = {
    "fr": snowballstemmer.stemmer("french"),
    "en": snowballstemmer.stemmer("english"),
}
LANGUAGES = tuple(_STEMMERS)


def fold(text: str) -> str:
    """Lower-case ``text`` and strip its accents ("Éligibilité" → "eligibilite")."""
    decomposed = unicodedata.normalize("NFKD", text.replace("’", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _words(text: str) -> list[str]:
    """Folded words of ``text`` after phrase and spelling handling (single letters dropped)."""
    text = _ACRONYM_RE.sub(lambda m: _ACRONYMS[m.group(1)], text)
    text = fold(text)
    for pattern, replacement in _PHRASE_RE:
        text = pattern.sub(replacement, text)
    words = []
    for token in _TOKEN.findall(text):
        token = _SPELLING.get(token, token)
        for word in _LETTER_DIGIT.split(token) if token not in _SYNONYMS else (token,):
            if len(word) > 1:
                words.append(word)
    return words


@lru_cache(maxsize=65536)
def _stem(word: str, language: str) -> str:
    return str(_STEMMERS[language].stemWord(word))


def _forms(word: str) -> tuple[str, ...]:
    """Index terms a question word may match: its stems in each language, its group."""
    forms = dict.fromkeys(_stem(word, lang) for lang in LANGUAGES)
    group = _SYNONYMS.get(word)
    if group is not None:
        forms["~" + group] = None
    return tuple(forms)


def analyze(text: str, language: str) -> list[str]:
    """Index terms of a document text written in ``language``."""
    terms = []
    for word in _words(text):
        terms.append(_stem(word, language))
        group = _SYNONYMS.get(word)
        if group is not None:
            terms.append("~" + group)
    return terms


@dataclass(frozen=True)
class Document:
    """One searchable entry: its key and its texts as (text, language, weight)."""

    key: str
    texts: Sequence[tuple[str, str, float]]


class SearchIndex:
    """BM25 index over a few dozen bilingual documents; see the module docstring."""

    def __init__(self, documents: Iterable[Document]) -> None:
        self._keys: list[str] = []
        term_weights: list[Counter[str]] = []
        vocabulary: Counter[str] = Counter()
        for document in documents:
            weights: Counter[str] = Counter()
            for text, language, weight in document.texts:
                if language not in _STEMMERS:
                    raise ValueError(f"{document.key}: unsupported language {language!r}")
                for term in analyze(text, language):
                    weights[term] += weight
                vocabulary.update(_words(text))
            self._keys.append(document.key)
            term_weights.append(weights)
        if not self._keys:
            raise ValueError("a search index needs at least one document")

        count = len(self._keys)
        lengths = [sum(w.values()) for w in term_weights]
        average = sum(lengths) / count
        frequency: Counter[str] = Counter()
        for weights in term_weights:
            frequency.update(weights.keys())
        self._idf = {
            term: math.log(1 + (count - n + 0.5) / (n + 0.5)) for term, n in frequency.items()
        }
        self._mean_idf = sum(self._idf.values()) / len(self._idf)
        # Postings hold the finished BM25 weight of a term in a document.
        postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for index, weights in enumerate(term_weights):
            norm = K1 * (1 - B + B * lengths[index] / average)
            for term, tf in weights.items():
                postings[term].append((index, self._idf[term] * tf * (K1 + 1) / (tf + norm)))
        self._postings = dict(postings)
        # Typo vocabulary, most frequent first so that ties favour common words.
        self._vocabulary = [w for w, _ in vocabulary.most_common() if len(w) >= 4]
        self._known = frozenset(vocabulary)
        self._correct = lru_cache(maxsize=4096)(self._nearest_word)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def _nearest_word(self, word: str) -> str | None:
        if len(word) < 4:
            return None
        limit = 1 if len(word) < 8 else 2
        match = process.extractOne(
            word, self._vocabulary, scorer=Levenshtein.distance, score_cutoff=limit
        )
        return None if match is None else match[0]

    def _word_forms(self, word: str) -> tuple[str, ...]:
        forms = tuple(f for f in _forms(word) if f in self._postings)
        if forms or word in self._known:
            return forms
        nearest = self._correct(word)
        if nearest is None:
            return ()
        return tuple(f for f in _forms(nearest) if f in self._postings)

    def search(self, question: str, limit: int = 3) -> list[tuple[str, float]]:
        """The best ``limit`` documents as (key, score in [0, 1]), best first.

        Documents that match no word of the question are left out.
        """
        scores: dict[int, float] = defaultdict(float)
        ceiling = 0.0
        for word in dict.fromkeys(_words(question)):
            forms = self._word_forms(word)
            if not forms:
                ceiling += self._mean_idf * (K1 + 1)
                continue
            ceiling += max(IDF_FLOOR, *(self._idf[f] for f in forms)) * (K1 + 1)
            best: dict[int, float] = {}
            for form in forms:
                for index, weight in self._postings[form]:
                    if weight > best.get(index, 0.0):
                        best[index] = weight
            for index, weight in best.items():
                scores[index] += weight
        if not scores or ceiling <= 0:
            return []
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]
        return [(self._keys[i], min(1.0, s / ceiling)) for i, s in ranked]
