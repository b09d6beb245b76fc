"""bot.render: Slack escaping, safe markup, strictness, the sandbox, t() and truncate()."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2 import UndefinedError
from jinja2.sandbox import SecurityError
from markupsafe import Markup

from bot import render
from bot.faq import AskerContext
from bot.render import LOCALES, environment, link, mention, slack_escape, t, truncate


def render_string(source: str, **context: object) -> str:
    return environment().from_string(source).render(**context)


def test_slack_escape_touches_only_the_three_control_characters() -> None:
    assert slack_escape("<!channel> & <@U1> \"quoted\" 'it's'") == (
        "&lt;!channel&gt; &amp; &lt;@U1&gt; \"quoted\" 'it's'"
    )
    assert slack_escape(42) == "42"
    assert slack_escape(Markup("<https://x.example|x>")) == "<https://x.example|x>"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<!here|here>", "&lt;!here|here&gt;"),
        ("<@U1>", "&lt;@U1&gt;"),
        ("Smith & Sons", "Smith &amp; Sons"),
        ("already &amp; escaped", "already &amp;amp; escaped"),
        ("*bold* _it_ `code`", "*bold* _it_ `code`"),
    ],
)
def test_every_variable_is_escaped_for_mrkdwn(value: str, expected: str) -> None:
    assert render_string("[{{ v }}]", v=value) == f"[{expected}]"


def test_filters_output_is_escaped_too() -> None:
    assert render_string("{{ v|join(', ') }}", v=["<!here>", "a&b"]) == "&lt;!here&gt;, a&amp;b"
    assert render_string("{{ v|upper }}", v="<@u1>") == "&lt;@U1&gt;"


def test_safe_values_are_not_escaped_twice() -> None:
    assert render_string("{{ v }}", v=Markup("<https://a.example|A>")) == "<https://a.example|A>"
    assert render_string("{{ v|safe }}", v="<!subteam^S1>") == "<!subteam^S1>"


def test_macro_output_is_not_escaped_twice() -> None:
    source = (
        "{% macro bold(x) %}*{{ x }}*{% endmacro %}"
        "{% macro wrap() %}[{{ caller() }}]{% endmacro %}"
        "{{ bold(v) }} {% call wrap() %}{{ v }}{% endcall %}"
    )
    assert render_string(source, v="A & <B>") == "*A &amp; &lt;B&gt;* [A &amp; &lt;B&gt;]"


def test_link_builds_an_escaped_slack_link() -> None:
    assert link("https://x.example/a?b=1&c=2", "Tom & <Jerry>") == (
        "<https://x.example/a?b=1&amp;c=2|Tom &amp; &lt;Jerry&gt;>"
    )
    assert link("https://x.example/a|b", "x") == "<https://x.example/a%7Cb|x>"
    assert link("mailto:ops@x.example", "ops") == "<mailto:ops@x.example|ops>"
    assert render_string("{{ url|link(label) }}", url="https://x.example", label="<!here>") == (
        "<https://x.example|&lt;!here&gt;>"
    )


@pytest.mark.parametrize(
    "url",
    [
        "!channel",
        "@U123",
        "javascript:alert(1)",
        "#C123",
        "https://x.example/a b",
        "mailto:eve@x.example>",
        "https://x.example/<!here>",
        "",
    ],
)
def test_link_refuses_anything_but_web_and_mail_urls(url: str) -> None:
    assert link(url, "label & co") == "label &amp; co"


def test_mention_only_for_a_well_formed_user_id() -> None:
    assert mention("U0123ABCD") == "<@U0123ABCD>"
    assert mention("W0123ABCD") == "<@W0123ABCD>"
    assert render_string("{{ u|mention }}", u="U0123ABCD") == "<@U0123ABCD>"
    for value in ("<!channel>", "u0123abcd", "U1> <!here", "C0123ABCD", "!here"):
        assert "<" not in mention(value)
        assert mention(value) == slack_escape(value)


def test_undefined_variables_raise() -> None:
    with pytest.raises(UndefinedError):
        render_string("Hello {{ nobody }}")
    with pytest.raises(UndefinedError):
        render_string("{{ asker.nickname }}", asker=AskerContext())


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ asker.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__ }}",
    ],
)
def test_sandbox_blocks_private_attributes(source: str) -> None:
    with pytest.raises(SecurityError):
        render_string(source, asker=AskerContext())


def test_render_reads_templates_relative_to_templates_dir() -> None:
    text = render.render("faq/en/nfr-renewal.md.j2", asker=AskerContext())
    assert "partner program" in text
    assert render.TEMPLATES_DIR.name == "templates"
    assert (render.TEMPLATES_DIR / "faq" / "en" / "nfr-renewal.md.j2").is_file()


@pytest.fixture
def message_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A templates dir of its own, so fallbacks can be tested with files made for it."""
    (tmp_path / "messages" / "en").mkdir(parents=True)
    (tmp_path / "messages" / "fr").mkdir(parents=True)
    (tmp_path / "messages" / "en" / "probe.j2").write_text(
        "{% macro hello(name) %}\n  Hello {{ name }}!\n{% endmacro %}\n"
        "{% macro only_en() %}English only{% endmacro %}\n"
        "{% macro count(n, unit='item') %}{{ n }} {{ unit }}{% if n != 1 %}s{% endif %}{% endmacro %}\n"
        "{% macro _private() %}hidden{% endmacro %}\n",
        encoding="utf-8",
    )
    (tmp_path / "messages" / "fr" / "probe.j2").write_text(
        "{% macro hello(name) %}Bonjour {{ name }} !{% endmacro %}\n", encoding="utf-8"
    )
    (tmp_path / "messages" / "en" / "solo.j2").write_text(
        "{% macro ping() %}pong{% endmacro %}\n", encoding="utf-8"
    )
    monkeypatch.setattr(render, "TEMPLATES_DIR", tmp_path)
    render._macros.cache_clear()
    yield tmp_path
    render._macros.cache_clear()


def test_t_calls_the_macro_of_the_locale(message_dir: Path) -> None:
    assert t("probe.hello", "en", name="Ana") == "Hello Ana!"
    assert t("probe.hello", "fr", name="Ana") == "Bonjour Ana !"


def test_t_escapes_context_and_strips(message_dir: Path) -> None:
    assert t("probe.hello", "en", name="<!channel> & Co") == "Hello &lt;!channel&gt; &amp; Co!"


def test_t_falls_back_to_english(message_dir: Path) -> None:
    assert t("probe.hello", "de", name="Ana") == "Hello Ana!"  # unknown locale
    assert t("probe.only_en", "fr") == "English only"  # macro missing in fr
    assert t("solo.ping", "fr") == "pong"  # whole file missing in fr


def test_t_unknown_key_raises_key_error_naming_it(message_dir: Path) -> None:
    for key in ("probe.nope", "nogroup.hello", "probe._private", "nodot", ".hello", "probe."):
        with pytest.raises(KeyError, match=re.escape(key)):
            t(key, "en")


def test_t_ignores_unknown_parameters_and_keeps_defaults(message_dir: Path) -> None:
    assert t("probe.hello", "en", name="Ana", ticket_id="T-1") == "Hello Ana!"
    assert t("probe.count", "en", n=3) == "3 items"
    assert t("probe.count", "en", n=1, unit="key") == "1 key"


def test_t_missing_parameter_raises(message_dir: Path) -> None:
    with pytest.raises(UndefinedError):
        t("probe.hello", "en")


def test_t_with_the_real_faq_messages() -> None:
    for locale in LOCALES:
        assert t("faq.no_match", locale, question="<!here>").count("&lt;!here&gt;") == 1
        assert t("faq.topic", locale, theme="bot")
        assert t("faq.topic", locale, theme="bot") != t("faq.topic", locale, theme="support")
    assert t("faq.topic", "fr", theme="cloud") != t("faq.topic", "en", theme="cloud")


def test_truncate_keeps_short_text() -> None:
    assert truncate("hello", 5) == "hello"
    assert truncate("", 3) == ""


def test_truncate_cuts_with_an_ellipsis() -> None:
    assert truncate("hello world", 8) == "hello w…"
    assert truncate("hello world", 7) == "hello…"  # no space left before the ellipsis
    assert truncate("abcdefghij", 5) == "abcd…"
    assert truncate("abc", 1) == "…"
    assert truncate("abc", 0) == ""


def test_truncate_never_splits_entities_links_or_combining_marks() -> None:
    assert truncate("a &amp; b", 5) == "a…"
    assert truncate("see <https://x.example/long/path|the docs> now", 20) == "see…"
    assert truncate("cafe\u0301 au lait", 5) == "caf…"


@given(st.text(max_size=300), st.integers(min_value=0, max_value=320))
def test_truncate_never_exceeds_the_limit(text: str, limit: int) -> None:
    result = truncate(text, limit)
    assert len(result) <= limit
    if len(text) <= limit:
        assert result == text
    elif limit > 0:
        assert result.endswith("…")
        assert text.startswith(result[:-1].rstrip())
