"""Properties of the command-text parser (bot/parser.py) on arbitrary text: right-to-left
scripts, invisible and control characters, emoji, lone surrogates, very long input."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import UserError
from bot.parser import (
    date,
    ea_number,
    mention,
    severity,
    split_args,
    ticket_id,
    tokens,
)

SETTINGS = settings(max_examples=200, deadline=None)

INVISIBLE = (
    "\u061c"  # Arabic letter mark
    "\u200b\u200c\u200d\u200e\u200f"  # zero-width space, joiners, LRM, RLM
    "\u202a\u202b\u202c\u202d\u202e"  # embeddings and overrides
    "\u2060"  # word joiner
    "\u2066\u2067\u2068\u2069"  # isolates
    "\ufeff"  # byte-order mark
)
TRICKY = [
    *INVISIBLE,
    *" \t\n\r\u00a0\u2000\u2003\u3000\u1680\x0b\x0c\x1c\x85",  # all sorts of whitespace
    *"\u05e9\u05dc\u05d5\u05dd\u0645\u0631\u062d\u0628\u0627",  # Hebrew, Arabic
    "\u0301",  # combining accent
    *"🔥👩💻",  # joined by the zero-width joiner above they make one emoji
    "\x00",
    *":-#<>@|",
]
characters = st.one_of(
    st.characters(),
    st.characters(categories=["Cs"]),  # lone surrogates can reach a str
    st.sampled_from(TRICKY),
)
any_text = st.text(characters, max_size=300)
# text that looks like command input: real option keys and flags among arbitrary words
pieces = st.one_of(
    any_text,
    st.sampled_from(["ea:", "ea:123456789", "EA:42", "product:vSphere", "Product:", "type:eval"]),
    st.sampled_from(["mine", "MINE", "business", "http://x.example", "T-12:", "sev2", ":"]),
    st.sampled_from(["<@U1>", "<@U1|\u0645>", "👩\u200d💻", "T-\u200f12", "2026-02-29"]),
)
separators = st.sampled_from(["", " ", "  ", "\t", "\u200f", "\u200b"])
command_text = st.lists(st.tuples(separators, pieces), max_size=12).map(
    lambda pairs: "".join(sep + piece for sep, piece in pairs)
)
option_names = st.lists(
    st.sampled_from(["ea", "EA", "product", "type", "http", "t-12", "", "x"]), max_size=4
)
flag_names = st.lists(st.sampled_from(["mine", "Business", "open", "sev2", "ea:", ""]), max_size=4)


def long_text(sample: str) -> str:
    """``sample`` repeated to exactly 10 000 characters."""
    return (sample * (10_000 // max(len(sample), 1) + 1))[:10_000] if sample else " " * 10_000


@SETTINGS
@given(text=st.one_of(any_text, any_text.map(long_text)))
def test_tokens_are_clean_words(text: str) -> None:
    words = tokens(text)
    for word in words:
        assert word
        assert not any(char.isspace() for char in word)
        assert not set(word) & set(INVISIBLE)
        assert unicodedata.is_normalized("NFC", word)


@SETTINGS
@given(text=st.one_of(any_text, command_text))
def test_tokens_are_stable(text: str) -> None:
    assert tokens(" ".join(tokens(text))) == tokens(text)


def check_accounting(text: str, options: list[str], flags: list[str]) -> None:
    """split_args either refuses with a UserError or sorts every token exactly once."""
    try:
        args = split_args(text, options=options, flags=flags)
    except UserError as error:
        assert error.key in ("parse.empty_option", "parse.repeated_option")
        assert error.params["option"] in {name.lower() for name in options}
        return
    declared_options = {name.lower() for name in options}
    declared_flags = {name.lower() for name in flags}
    remaining = tokens(text)
    # words: a subsequence of the tokens, in order, none of them an option or a flag
    for word in args.words:
        key, colon, _ = word.partition(":")
        assert not (colon and key.lower() in declared_options)
        assert word.lower() not in declared_flags
    position = 0
    for word in args.words:
        position = remaining.index(word, position)
        del remaining[position]
    # options: each comes from exactly one key:value token
    for key, value in args.options.items():
        assert key in declared_options
        assert value
        source = next(
            token
            for token in remaining
            if token.partition(":")[0].lower() == key and token.partition(":")[2] == value
        )
        remaining.remove(source)
    # flags: whatever is left is a declared flag, and each flag was given
    assert {token.lower() for token in remaining} == args.flags
    assert args.flags <= declared_flags


@SETTINGS
@given(text=st.one_of(any_text, command_text), options=option_names, flags=flag_names)
def test_split_args_accounts_for_every_token(
    text: str, options: list[str], flags: list[str]
) -> None:
    check_accounting(text, options, flags)


@SETTINGS
@given(text=command_text.map(long_text), options=option_names, flags=flag_names)
def test_split_args_on_10_000_characters(text: str, options: list[str], flags: list[str]) -> None:
    check_accounting(text, options, flags)


def test_split_args_on_a_long_mixed_message() -> None:
    chunk = "ea:123456789 \u200f\u0645\u0631\u062d\u0628\u0627\u200e 🔥\u200b T-12 mine "
    text = long_text(chunk)
    with pytest.raises(UserError) as caught:
        split_args(text, options=["ea"], flags=["mine"])
    assert caught.value.key == "parse.repeated_option"
    args = split_args(text, flags=["mine"])
    assert args.flags == {"mine"}
    assert "\u0645\u0631\u062d\u0628\u0627" in args.words
    assert "ea:123456789" in args.words


@SETTINGS
@given(number=st.integers(min_value=1, max_value=999_999_999))
def test_ticket_id_round_trips(number: int) -> None:
    for form in (f"T-{number}", f"t-{number}", f"#{number}", str(number), f"T-{number:09d}"):
        assert ticket_id(form) == number


@SETTINGS
@given(number=st.one_of(st.integers(max_value=0), st.integers(min_value=1_000_000_000)))
def test_ticket_id_refuses_numbers_out_of_range(number: int) -> None:
    with pytest.raises(UserError, match=r"parse\.bad_ticket_id"):
        ticket_id(f"T-{number}")


@SETTINGS
@given(digits=st.from_regex(r"[0-9]{9}", fullmatch=True))
def test_ea_number_round_trips(digits: str) -> None:
    assert ea_number(digits) == digits
    assert ea_number(f" {digits}\t") == digits


@SETTINGS
@given(
    user=st.from_regex(r"[UW][A-Z0-9]{1,12}", fullmatch=True),
    name=st.text(st.characters(exclude_characters="<>|"), max_size=30),
)
def test_mention_round_trips(user: str, name: str) -> None:
    assert mention(f"<@{user}>") == user
    assert mention(f"<@{user}|{name}>") == user


@SETTINGS
@given(day=st.dates())
def test_date_round_trips(day: dt.date) -> None:
    assert date(day.isoformat()) == day


@pytest.mark.parametrize(
    ("parse", "key", "valid"),
    [
        (ticket_id, "parse.bad_ticket_id", range(1, 1_000_000_000).__contains__),
        (ea_number, "parse.bad_ea", lambda value: len(value) == 9 and value.isascii()),
        (severity, "parse.bad_severity", (1, 2, 3, 4).__contains__),
        (mention, "parse.bad_mention", lambda value: value[:1] in ("U", "W")),
        (date, "parse.bad_date", lambda value: isinstance(value, dt.date)),
    ],
)
@SETTINGS
@given(token=st.one_of(any_text, command_text))
def test_value_parsers_return_a_value_or_a_user_error(
    parse: Callable[[str], object], key: str, valid: Callable[[object], bool], token: str
) -> None:
    try:
        value = parse(token)
    except UserError as error:
        assert error.key == key
        assert error.params == {"value": token}
    else:
        assert valid(value)
