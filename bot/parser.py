"""The command-text parser shared by every slash command.

Text is split on whitespace; quoting is not needed. Each value parser either returns the
typed value or raises :class:`~bot.errors.UserError` with one of these stable message keys
(rendered in the user's language, followed by the command's usage line when given):

- ``parse.bad_ticket_id``   (value)      not ``T-<n>``, ``#<n>`` or ``<n>``
- ``parse.bad_ea``          (value)      not a 9-digit EA number
- ``parse.bad_severity``    (value)      not ``sev1``…``sev4`` (or ``sév1``…), ``s1``…``s4`` or ``1``…``4``
- ``parse.bad_mention``     (value)      not a Slack user mention ``<@U…>``
- ``parse.bad_date``        (value)      not a real ``YYYY-MM-DD`` date
- ``parse.empty_option``    (option)     ``key:`` with nothing after the colon
- ``parse.repeated_option`` (option)     the same ``key:`` given twice
- ``parse.missing``         (argument)   a required argument is absent
"""

from __future__ import annotations

import datetime as _dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from bot import vocabulary
from bot.errors import UserError

ERROR_KEYS: Final = (
    "parse.bad_ticket_id",
    "parse.bad_ea",
    "parse.bad_severity",
    "parse.bad_mention",
    "parse.bad_date",
    "parse.empty_option",
    "parse.repeated_option",
    "parse.missing",
)

# Invisible characters that pasted text drags along (zero-width spaces and joiners, bidi
# marks, embeddings, overrides and isolates, byte-order marks). They would make "T-12"
# typed in a right-to-left client differ from "T-12".
_INVISIBLE: Final = dict.fromkeys(
    [
        0x061C,  # arabic letter mark
        *range(0x200B, 0x2010),  # zero-width space/non-joiner/joiner, LRM, RLM
        *range(0x202A, 0x202F),  # LRE, RLE, PDF, LRO, RLO
        0x2060,  # word joiner
        *range(0x2066, 0x206A),  # LRI, RLI, FSI, PDI
        0xFEFF,  # byte-order mark / zero-width no-break space
    ]
)

_TICKET_RE: Final = re.compile(r"(?:[Tt]-|#)?([0-9]{1,9})")
_EA_RE: Final = re.compile(r"[0-9]{9}")
_SEVERITY_RE: Final = re.compile(r"(?:[sS][eEéÉ][vV]|[sS])?([1-4])")
_MENTION_RE: Final = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>")
_DATE_RE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def tokens(text: str) -> list[str]:
    """Whitespace-separated words, invisible characters removed, in NFC form.

    Slack sends what users typed with ``&``, ``<`` and ``>`` escaped (real mentions and
    links arrive as ``<…>``); the entities are undone here so that ``R&D`` reads as typed.
    Whatever the bot shows back is escaped again when it is rendered."""
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return unicodedata.normalize("NFC", text.translate(_INVISIBLE)).split()


# --------------------------------------------------------------------------- numbers

MAX_DIGITS: Final = 9  # every id, count and option the bot reads fits in nine digits


def whole_number(
    token: object,
    *,
    low: int,
    high: int,
    key: str,
    usage: str | None = None,
    **params: object,
) -> int:
    """The one validated path for every number that comes in (typed ids, counts and
    options, button values, modal fields, ``private_metadata``): ASCII digits only
    (``str.isdigit`` also takes ``²`` or ``١``), at most :data:`MAX_DIGITS` of them, and
    within ``low``..``high``; anything else raises ``key`` with ``value`` and ``params``.
    An int is taken as is, within the same bounds (never a bool)."""
    if isinstance(token, int) and not isinstance(token, bool):
        number = token
    else:
        text = token.strip() if isinstance(token, str) else ""
        if not text or len(text) > MAX_DIGITS or not (text.isascii() and text.isdigit()):
            raise UserError(key, usage=usage, value=_shown(token), **params)
        number = int(text)
    if not low <= number <= high:
        raise UserError(key, usage=usage, value=_shown(token), **params)
    return number


def _shown(token: object) -> str:
    """What the user sent, to quote back in an error (a value that is not text, from a
    tampered payload, by its short representation)."""
    if isinstance(token, str):
        return token
    text = repr(token)
    return text if len(text) <= 40 else text[:39] + "…"


def ticket_id(token: object, *, usage: str | None = None) -> int:
    """``T-12``, ``t-12``, ``#12`` or ``12`` → 12 (positive, at most 9 ASCII digits)."""
    match = _TICKET_RE.fullmatch(token.strip()) if isinstance(token, str) else None
    if match is None or int(match[1]) == 0:
        raise UserError("parse.bad_ticket_id", usage=usage, value=_shown(token))
    return int(match[1])


def ea_number(token: str, *, usage: str | None = None) -> str:
    """Exactly nine digits, kept as text (leading zeros matter)."""
    value = token.strip()
    if _EA_RE.fullmatch(value) is None:
        raise UserError("parse.bad_ea", usage=usage, value=token)
    return value


def severity(token: str, *, usage: str | None = None) -> int:
    """``sev2``, ``sév2``, ``S2``, ``s2`` or ``2`` → 2; only 1 to 4. Vendors' own labels
    (``sevA``) are read by :func:`bot.vocabulary.severity`."""
    match = _SEVERITY_RE.fullmatch(token.strip())
    if match is None:
        raise UserError("parse.bad_severity", usage=usage, value=token)
    return int(match[1])


def mention(token: str, *, usage: str | None = None) -> str:
    """``<@U123ABC>`` or ``<@U123ABC|name>`` (as Slack sends a picked user) → ``U123ABC``."""
    match = _MENTION_RE.fullmatch(token.strip())
    if match is None:
        raise UserError("parse.bad_mention", usage=usage, value=token)
    return match[1]


def date(token: str, *, usage: str | None = None) -> _dt.date:
    """A calendar date written ``YYYY-MM-DD``."""
    value = token.strip()
    if _DATE_RE.fullmatch(value) is None:
        raise UserError("parse.bad_date", usage=usage, value=token)
    try:
        return _dt.date.fromisoformat(value)
    except ValueError:  # well-formed but not a real day, e.g. 2026-02-30
        raise UserError("parse.bad_date", usage=usage, value=token) from None


@dataclass
class Args:
    """A command's text split into free ``words`` (in order), ``key:value`` ``options``
    (declared keys only, by their canonical name; values as typed) and bare-word ``flags``
    (canonical names). French keywords count as their English names (bot.vocabulary)."""

    words: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)


def split_args(
    text: str,
    *,
    options: Iterable[str] = (),
    flags: Iterable[str] = (),
    usage: str | None = None,
) -> Args:
    """Sort the tokens of ``text``. Only declared option keys and flags are recognised (any
    case, English or French: ``produit:`` is ``product:``, ``fermés`` is ``closed``), so
    ``http://x`` or ``T-12:`` stay words unless ``http``/``t-12`` is declared."""
    option_keys = {key.lower() for key in options}
    flag_words = {flag.lower() for flag in flags}
    args = Args()
    for token in tokens(text):
        typed, colon, value = token.partition(":")
        key = vocabulary.option_key(typed)
        if colon and key in option_keys:
            if not value:
                raise UserError("parse.empty_option", usage=usage, option=typed.lower())
            if key in args.options:
                raise UserError("parse.repeated_option", usage=usage, option=typed.lower())
            args.options[key] = value
        elif (vocabulary.flag(token) or token.lower()) in flag_words:
            args.flags.add(vocabulary.flag(token) or token.lower())
        else:
            args.words.append(token)
    return args


def require(words: list[str], index: int, name: str, usage: str | None) -> str:
    """``words[index]``, or ``parse.missing`` naming the argument and showing the usage."""
    if 0 <= index < len(words):
        return words[index]
    raise UserError("parse.missing", usage=usage, argument=name)
