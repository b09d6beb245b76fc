"""The words of the command grammar, in English and in French.

Every keyword a command accepts (subcommands, option keys, bare-word flags, severity
words) has one canonical English name, which the code uses, and French forms. Both are
accepted whatever the user's locale, with or without accents and in any case
(``résoudre``, ``RESOUDRE``, ``resolve``); help and usage lines show the words of the
reader's language (:func:`word`).

Severities are 1 to 4, written ``sev2``, ``sév2``, ``s2`` or ``2``, or as the vendor
labels them (a Microsoft-style vendor labels 1 to 3 ``A``, ``B``, ``C``: ``sevA`` or
``A``). A word shaped like a severity that is none of these is an error, never text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Final

from bot.errors import UserError

__all__ = [
    "FLAGS",
    "OPTIONS",
    "SUBCOMMANDS",
    "flag",
    "is_severity_word",
    "option_key",
    "severity",
    "standard_severity",
    "subcommand",
    "word",
]

# command -> canonical subcommand -> its French forms (the first one is shown in help)
SUBCOMMANDS: Final[Mapping[str, Mapping[str, tuple[str, ...]]]] = {
    "/ticket": {
        "new": ("nouveau", "nouvelle", "créer"),
        "show": ("voir", "afficher"),
        "list": ("liste", "lister"),
        "note": ("note", "noter"),
        "take": ("prendre",),
        "assign": ("assigner", "attribuer"),
        "wait": ("attendre",),
        "sev": ("gravité", "sév"),
        "resolve": ("résoudre",),
        "reopen": ("rouvrir",),
        "reply": ("répondre",),
    },
    "/ea": {"lookup": ("recherche", "rechercher", "chercher")},
    "/entitlements": {"renewals": ("renouvellements", "renouvellement")},
    "/access": {
        "grant": ("accorder", "donner"),
        "revoke": ("révoquer", "retirer"),
        "register": ("enregistrer", "inscrire"),
        "superuser": ("superutilisateur",),
    },
    "/supportbot": {
        "help": ("aide",),
        "whoami": ("moi", "quisuisje"),
        "lang": ("langue", "language"),
        "link": ("lier",),
        "workspace": ("espace",),
    },
}
# option key (``key:value``) -> French forms
OPTIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "ea": (),
    "product": ("produit",),
    "type": (),
    "folder": ("dossier",),
    "until": ("jusqu'au", "fin"),
    "severity": ("gravité", "sévérité", "sév", "sev"),
}
# bare words: the business queue, and the scopes of /ticket list
FLAGS: Final[Mapping[str, tuple[str, ...]]] = {
    "business": ("commercial", "commerciale"),
    "open": ("ouverts", "ouvert", "ouvertes"),
    "mine": ("miens", "mes"),
    "all": ("tous", "toutes", "tout"),
    "breaching": ("en_retard", "retard"),
    "closed": ("fermés", "fermé", "fermées", "clos", "résolus"),
}

# A word that is meant as a severity: "sev" and digits, or "sev" and one letter. Longer
# words starting with "sev" ("several") are text.
_SEVERITY_WORD: Final = re.compile(r"sev(?:[0-9]+|[a-z])")
_STANDARD: Final = re.compile(r"(?:sev|s)?([1-4])")


def _fold(text: str) -> str:
    # Canonical decomposition only: look-alikes such as "ſ" or "２" are not letters here.
    decomposed = unicodedata.normalize("NFD", text.replace("’", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _index(table: Mapping[str, tuple[str, ...]], where: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for canonical, french in table.items():
        for form in (canonical, *french):
            key = _fold(form)
            if found.setdefault(key, canonical) != canonical:
                raise ValueError(f"{where}: {form!r} means both {found[key]} and {canonical}")
    return found


_SUBCOMMAND_INDEX: Final = {
    command: _index(words, command) for command, words in SUBCOMMANDS.items()
}
_OPTION_INDEX: Final = _index(OPTIONS, "options")
_FLAG_INDEX: Final = _index(FLAGS, "flags")


def subcommand(command: str, token: str) -> str | None:
    """The canonical subcommand ``token`` names for ``command``, or None."""
    return _SUBCOMMAND_INDEX.get(command, {}).get(_fold(token))


def option_key(key: str) -> str:
    """The canonical name of an option key (``produit`` → ``product``); an unknown key is
    returned lower-cased, as typed."""
    return _OPTION_INDEX.get(_fold(key), key.lower())


def flag(token: str) -> str | None:
    """The canonical flag ``token`` names (``fermés`` → ``closed``), or None."""
    return _FLAG_INDEX.get(_fold(token))


def word(canonical: str, locale: str) -> str:
    """How ``canonical`` (a subcommand, option or flag) is written in ``locale``."""
    if locale == "fr":
        for table in (*SUBCOMMANDS.values(), OPTIONS, FLAGS):
            french = table.get(canonical)
            if french:
                return french[0]
    return canonical


def is_severity_word(token: str) -> bool:
    """Is ``token`` written as a severity (``sev2``, ``sév2``, ``sevA``, ``sev9``)? Such a
    word is then parsed with :func:`severity`, and an invalid one is an error."""
    folded = _fold(token)
    # any digits at all (``sev²``, ``sev٣``): a severity written wrong gets the severity
    # error rather than becoming the subject or the reason
    return _SEVERITY_WORD.fullmatch(folded) is not None or (
        folded.startswith("sev") and folded[3:].isdigit()
    )


def standard_severity(token: str) -> int | None:
    """``sev2``, ``sév2``, ``S2``, ``s2`` or ``2`` → 2 (1 to 4 only); else None."""
    match = _STANDARD.fullmatch(_fold(token).strip())
    return int(match[1]) if match else None


def _label_key(label: str) -> str:
    """ "Sev 1" → "1", "sevA" → "a", "A" → "a": a label without its "sev" prefix."""
    key = re.sub(r"[\s_-]+", "", _fold(label))
    if key.startswith("sev") and len(key) > 3:
        return key[3:]
    return key


def severity(
    token: str, *, labels: Iterable[Mapping[int, str]] = (), usage: str | None = None
) -> int:
    """A severity from 1 to 4: a standard one (:func:`standard_severity`), or a vendor's
    label (``sevA``, ``A``) when ``labels`` (the severity labels of the vendors concerned)
    give it the same meaning. A label several severities share stands for the most urgent
    (a vendor that labels 3 and 4 ``C`` reads ``C`` as 3). Anything else raises
    ``parse.bad_severity``."""
    found = standard_severity(token)
    if found is not None:
        return found
    wanted = _label_key(token)
    meanings = set()
    known: list[str] = []
    for vendor_labels in labels:
        matching = [n for n, label in vendor_labels.items() if _label_key(label) == wanted]
        if matching:
            meanings.add(min(matching))
        known.extend(label for _, label in sorted(vendor_labels.items()))
    if wanted and len(meanings) == 1:
        return meanings.pop()
    raise UserError(
        "parse.bad_severity", usage=usage, value=token, labels=", ".join(dict.fromkeys(known))
    )
