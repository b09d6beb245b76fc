"""The slash-command text parser (bot/parser.py): every accepted and refused form."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from bot import parser
from bot.errors import UserError
from bot.parser import (
    Args,
    date,
    ea_number,
    mention,
    require,
    severity,
    split_args,
    ticket_id,
    tokens,
)

# --------------------------------------------------------------------- tokens


def test_tokens_split_on_any_whitespace() -> None:
    assert tokens("  show\tT-12\n\nnow\u00a0please\u3000ok ") == [
        "show",
        "T-12",
        "now",
        "please",
        "ok",
    ]


def test_tokens_of_blank_text() -> None:
    assert tokens("") == []
    assert tokens(" \t\n\u00a0") == []


@pytest.mark.parametrize(
    "invisible",
    list(
        "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff\u2060\u061c"
    ),
)
def test_tokens_drop_invisible_characters(invisible: str) -> None:
    text = f"{invisible}show {invisible}T-{invisible}12{invisible}"
    assert tokens(text) == ["show", "T-12"]


def test_a_token_made_only_of_invisible_characters_disappears() -> None:
    assert tokens("show \u200b\u200f T-12") == ["show", "T-12"]


def test_tokens_are_nfc() -> None:
    decomposed = "Re\u0301seau"  # e + combining acute accent
    assert tokens(decomposed) == ["R\u00e9seau"]


def test_tokens_keep_emoji_and_right_to_left_text() -> None:
    assert tokens("🔥 \u0645\u0631\u062d\u0628\u0627 T-3") == [
        "🔥",
        "\u0645\u0631\u062d\u0628\u0627",
        "T-3",
    ]


def test_tokens_survive_lone_surrogates_and_control_characters() -> None:
    assert tokens("a\ud800b \x00 c") == ["a\ud800b", "\x00", "c"]


# --------------------------------------------------------------------- ticket ids


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("T-12", 12),
        ("t-12", 12),
        ("12", 12),
        ("#12", 12),
        ("T-1", 1),
        ("T-007", 7),
        ("999999999", 999_999_999),
        (" T-12 ", 12),
    ],
)
def test_ticket_id_accepts(token: str, expected: int) -> None:
    assert ticket_id(token) == expected


@pytest.mark.parametrize(
    "token",
    [
        "",
        "T-",
        "T-0",
        "0",
        "#0",
        "T12",
        "T_12",
        "T-12a",
        "T--12",
        "-12",
        "+12",
        "1234567890",
        "T-1234567890",
        "12.5",
        "T-١٢",  # Arabic-Indic digits
        "１２",  # full-width digits
        "ticket",
        "#T-12",
        "T-12,",
    ],
)
def test_ticket_id_refuses(token: str) -> None:
    with pytest.raises(UserError) as caught:
        ticket_id(token)
    assert caught.value.key == "parse.bad_ticket_id"
    assert caught.value.params == {"value": token}
    assert caught.value.usage is None


def test_ticket_id_passes_the_usage_on() -> None:
    with pytest.raises(UserError) as caught:
        ticket_id("x", usage="usage.ticket_show")
    assert caught.value.usage == "usage.ticket_show"


# --------------------------------------------------------------------- EA numbers


@pytest.mark.parametrize(
    ("token", "expected"),
    [("123456789", "123456789"), ("012345678", "012345678"), (" 123456789\t", "123456789")],
)
def test_ea_number_accepts(token: str, expected: str) -> None:
    assert ea_number(token) == expected


@pytest.mark.parametrize(
    "token",
    [
        *("", "12345678", "1234567890", "12345678a", "123 456 789", "123-456-789"),
        *("#123456789", "١٢٣٤٥٦٧٨٩", "ea:123456789"),
    ],
)
def test_ea_number_refuses(token: str) -> None:
    with pytest.raises(UserError) as caught:
        ea_number(token, usage="usage.ea")
    assert caught.value.key == "parse.bad_ea"
    assert caught.value.params == {"value": token}
    assert caught.value.usage == "usage.ea"


# --------------------------------------------------------------------- severity


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("sev1", 1),
        ("SEV2", 2),
        ("Sev3", 3),
        ("sev4", 4),
        ("s1", 1),
        ("S4", 4),
        ("1", 1),
        ("4", 4),
    ],
)
def test_severity_accepts(token: str, expected: int) -> None:
    assert severity(token) == expected


@pytest.mark.parametrize(
    "token", ["", "0", "5", "sev0", "sev5", "sev", "s", "sev 1", "sev-1", "severity1", "ſev1", "12"]
)
def test_severity_refuses(token: str) -> None:
    with pytest.raises(UserError) as caught:
        severity(token)
    assert caught.value.key == "parse.bad_severity"
    assert caught.value.params == {"value": token}


# --------------------------------------------------------------------- mentions


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("<@U123ABC>", "U123ABC"),
        ("<@U123ABC|alice>", "U123ABC"),
        ("<@U123ABC|Alice Martin>", "U123ABC"),
        ("<@W0ENTERPRISE>", "W0ENTERPRISE"),
    ],
)
def test_mention_accepts(token: str, expected: str) -> None:
    assert mention(token) == expected


@pytest.mark.parametrize(
    "token",
    [
        "",
        "@alice",
        "U123ABC",
        "<@>",
        "<@u123abc>",
        "<#C123ABC>",
        "<!channel>",
        "<@U123ABC",
        "<@U12 3>",
    ],
)
def test_mention_refuses(token: str) -> None:
    with pytest.raises(UserError) as caught:
        mention(token)
    assert caught.value.key == "parse.bad_mention"
    assert caught.value.params == {"value": token}


# --------------------------------------------------------------------- dates


def test_date_accepts() -> None:
    assert date("2027-12-31") == dt.date(2027, 12, 31)
    assert date("2028-02-29") == dt.date(2028, 2, 29)


@pytest.mark.parametrize(
    "token",
    [
        *("", "2027-02-29", "2027-13-01", "2027-12-32", "27-12-31", "2027/12/31"),
        *("31/12/2027", "20271231", "2027-12-31T10:00", "2027-1-5", "tomorrow"),
    ],
)
def test_date_refuses(token: str) -> None:
    with pytest.raises(UserError) as caught:
        date(token)
    assert caught.value.key == "parse.bad_date"
    assert caught.value.params == {"value": token}


# --------------------------------------------------------------------- split_args


def test_split_args_sorts_words_options_and_flags() -> None:
    args = split_args(
        "sev2 ea:123456789 product:vSphere Business VM will not boot",
        options=("ea", "product"),
        flags=("business",),
    )
    assert args == Args(
        words=["sev2", "VM", "will", "not", "boot"],
        options={"ea": "123456789", "product": "vSphere"},
        flags={"business"},
    )


def test_option_keys_are_case_insensitive_and_values_keep_their_case() -> None:
    args = split_args("EA:123456789 Product:vSAN_Enterprise", options=("ea", "product"))
    assert args.options == {"ea": "123456789", "product": "vSAN_Enterprise"}


def test_a_value_keeps_later_colons() -> None:
    args = split_args("folder:Home:Lab", options=("folder",))
    assert args.options == {"folder": "Home:Lab"}


def test_undeclared_keys_stay_words() -> None:
    args = split_args("see http://x.example T-12: type:eval", options=("product",))
    assert args.words == ["see", "http://x.example", "T-12:", "type:eval"]
    assert args.options == {}


def test_words_keep_their_order_and_case() -> None:
    args = split_args("The VM Crashed ea:123456789 AGAIN", options=("ea",))
    assert args.words == ["The", "VM", "Crashed", "AGAIN"]


def test_flags_match_whole_tokens_in_any_case() -> None:
    args = split_args("open MINE business-critical", flags=("mine", "business"))
    assert args.flags == {"mine"}
    assert args.words == ["open", "business-critical"]


def test_a_repeated_flag_is_harmless() -> None:
    assert split_args("mine mine", flags=("mine",)) == Args(flags={"mine"})


def test_declared_names_are_matched_in_any_case() -> None:
    args = split_args("ea:1 Mine", options=("EA",), flags=("MINE",))
    assert args == Args(options={"ea": "1"}, flags={"mine"})


def test_an_option_name_without_colon_is_a_word() -> None:
    assert split_args("product vSphere", options=("product",)).words == ["product", "vSphere"]


def test_invisible_characters_do_not_hide_an_option() -> None:
    args = split_args("\u200fea:\u200e123456789\u200f", options=("ea",))
    assert args.options == {"ea": "123456789"}


@pytest.mark.parametrize("text", ["ea:", "subject ea: 123456789", "EA:"])
def test_empty_option_is_refused(text: str) -> None:
    with pytest.raises(UserError) as caught:
        split_args(text, options=("ea",), usage="usage.ticket_new")
    assert caught.value.key == "parse.empty_option"
    assert caught.value.params == {"option": "ea"}
    assert caught.value.usage == "usage.ticket_new"


def test_repeated_option_is_refused() -> None:
    with pytest.raises(UserError) as caught:
        split_args("ea:123456789 EA:987654321", options=("ea",))
    assert caught.value.key == "parse.repeated_option"
    assert caught.value.params == {"option": "ea"}


def test_split_args_of_nothing() -> None:
    assert split_args("", options=("ea",), flags=("mine",)) == Args()


def test_split_args_accepts_any_iterable_of_names() -> None:
    args = split_args("a:1 b", options=iter(["a"]), flags={"b"})
    assert args == Args(options={"a": "1"}, flags={"b"})


# --------------------------------------------------------------------- require


def test_require_returns_the_word() -> None:
    assert require(["T-12", "note"], 1, "text", "usage.ticket_note") == "note"


@pytest.mark.parametrize("index", [2, -1])
def test_require_reports_the_missing_argument(index: int) -> None:
    with pytest.raises(UserError) as caught:
        require(["T-12", "note"], index, "reason", "usage.escalate")
    assert caught.value.key == "parse.missing"
    assert caught.value.params == {"argument": "reason"}
    assert caught.value.usage == "usage.escalate"


# --------------------------------------------------------------------- error keys


def test_every_error_key_is_listed_and_documented() -> None:
    source = Path(parser.__file__).read_text(encoding="utf-8")
    raised = set(re.findall(r'UserError\("(parse\.[a-z_]+)"', source))
    assert raised == set(parser.ERROR_KEYS)
    for key in parser.ERROR_KEYS:
        assert f"``{key}``" in (parser.__doc__ or "")
