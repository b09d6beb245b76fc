"""The product's one Jinja environment: Slack-safe text rendering and UI message i18n.

Rendering
    Templates live under ``templates/`` (installed as ``bot.templates``) and render *strings* (Slack
    mrkdwn), never Block Kit JSON. The environment is sandboxed, uses ``StrictUndefined``
    (a missing variable is an error, not an empty string) and escapes every ``{{ … }}``
    value for Slack: only ``&``, ``<`` and ``>`` become entities. HTML autoescaping
    would be wrong here (Slack shows ``&#39;`` literally), and without escaping a user's
    ``<!channel>`` or ``<@U123>`` would ping people.

    Values that are already Slack markup are wrapped in :class:`markupsafe.Markup` and are
    left alone: the output of the ``link`` and ``mention`` helpers, of ``|safe``, and of
    macros (their own ``{{ }}`` values were escaped when the macro ran). Joining or
    concatenating such values inside a template (``~``, ``|join``) yields a plain string
    again, which is escaped; build links where they are printed.

    Helpers available in every template, as filters and as globals:
    ``{{ url|link(label) }}`` → ``<url|label>`` (http, https and mailto only; anything
    else prints the label as text) and ``{{ user_id|mention }}`` → ``<@U…>`` (only for a
    well-formed user id; anything else prints as text).

UI messages: ``t(key, locale, **context)``
    A key ``"<group>.<name>"`` calls the macro ``name`` defined in
    ``templates/messages/<locale>/<group>.j2`` with the context as keyword arguments::

        {# templates/messages/en/tickets.j2 #}
        {% macro created(ticket_id, severity) %}
        Ticket *{{ ticket_id }}* created with severity {{ severity }}.
        {% endmacro %}

        t("tickets.created", "fr", ticket_id="T-12", severity=2)

    An unknown locale falls back to ``en``; so does a macro (or a whole group file) that
    the locale lacks. A key found nowhere raises ``KeyError`` naming it. Context names the
    macro does not declare are ignored (unless it reads ``kwargs``), so a caller can pass
    one parameter dict to every locale; a declared parameter without a default that is
    not given raises on use, through ``StrictUndefined``. The result is stripped of
    surrounding whitespace. Macro names starting with ``_`` are private to their file.
    Every ``{{ }}`` inside a message is escaped like any other value, so messages are
    ready for mrkdwn; put plain-text labels (buttons, option texts) in messages without
    ``&``, ``<`` or ``>``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateNotFound
from jinja2.runtime import Context, Macro
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from bot import resources

__all__ = [
    "DEFAULT_LOCALE",
    "LOCALES",
    "TEMPLATES_DIR",
    "environment",
    "environment_for",
    "link",
    "mention",
    "render",
    "slack_escape",
    "t",
    "truncate",
]

LOCALES = ("en", "fr")
DEFAULT_LOCALE = "en"
TEMPLATES_DIR = resources.templates_dir()

ELLIPSIS = "…"
# Slack user ids (U…, or W… on Enterprise Grid): upper-case letters and digits.
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
_LINK_SCHEMES = ("http://", "https://", "mailto:")
# Never valid unencoded in a URL, and each would end or split a Slack link.
_NOT_IN_URL = re.compile(r"[\s<>\"]")
# An entity cut short at the end of a truncated text (``&am``).
_BROKEN_ENTITY = re.compile(r"&[a-z]{0,4}$")


def slack_escape(value: object) -> str:
    """Text for Slack mrkdwn: ``&``, ``<`` and ``>`` as entities, nothing else touched.

    A :class:`Markup` value is already Slack markup and is returned unchanged.
    """
    if isinstance(value, Markup):
        return str(value)
    text = str(value)
    # Most texts hold none of the three: a scan is much cheaper than a translation.
    if "&" in text or "<" in text or ">" in text:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending with "…" when it was cut.

    The cut never splits a base character from its combining marks, an ``&…;`` entity
    or a ``<…>`` link, so what Slack shows stays well-formed.
    """
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    cut = limit - len(ELLIPSIS)
    while cut > 0 and unicodedata.combining(text[cut]):
        cut -= 1
    head = text[:cut]
    open_link = head.rfind("<")
    if open_link > head.rfind(">"):
        head = head[:open_link]
    head = _BROKEN_ENTITY.sub("", head)
    return head.rstrip() + ELLIPSIS


def link(url: object, label: object) -> Markup:
    """A Slack link ``<url|label>``; anything but a clean http(s)/mailto URL prints the label."""
    text = slack_escape(label)
    target = str(url).strip()
    if not target.lower().startswith(_LINK_SCHEMES) or _NOT_IN_URL.search(target):
        return Markup(text)
    # ``|`` would end the URL part early; percent-encoding keeps the URL equivalent.
    target = slack_escape(target.replace("|", "%7C"))
    return Markup(f"<{target}|{text}>")


def mention(user_id: object) -> Markup:
    """``<@U…>`` for a well-formed Slack user id; anything else prints as escaped text."""
    value = str(user_id)
    if _USER_ID.fullmatch(value):
        return Markup(f"<@{value}>")
    return Markup(slack_escape(value))


def _finalize(value: Any) -> Any:
    return value if isinstance(value, Markup) else slack_escape(value)


class _SlackEnvironment(SandboxedEnvironment):
    """Sandboxed environment in which a macro's output counts as markup.

    Without autoescaping Jinja returns a macro's output as a plain ``str``, which
    ``finalize`` would escape a second time (``&amp;amp;``). Every call from sandboxed
    code goes through :meth:`call`, so that is where macro output is marked.
    """

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        rv = super().call(context, obj, *args, **kwargs)
        if isinstance(obj, Macro) and isinstance(rv, str):
            return Markup(rv)
        return rv


def environment() -> SandboxedEnvironment:
    """The shared environment over ``templates/`` (created once per process)."""
    return environment_for(TEMPLATES_DIR)


@cache
def environment_for(templates_dir: Path) -> SandboxedEnvironment:
    """An environment like :func:`environment` over another directory (tests, tools)."""
    env = _SlackEnvironment(
        loader=FileSystemLoader(templates_dir),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        finalize=_finalize,
        keep_trailing_newline=False,
    )
    env.filters["link"] = link
    env.filters["mention"] = mention
    env.globals["link"] = link
    env.globals["mention"] = mention
    return env


def render(name: str, /, **context: object) -> str:
    """Render the template at ``name`` (a path relative to ``templates/``)."""
    return environment().get_template(name).render(**context)


@cache
def _macros(locale: str, group: str) -> dict[str, Macro]:
    """Public macros of ``messages/<locale>/<group>.j2`` (empty when the file is absent)."""
    try:
        template = environment().get_template(f"messages/{locale}/{group}.j2")
    except TemplateNotFound:
        return {}
    module = template.module
    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, Macro) and not name.startswith("_")
    }


def _lookup(key: str, locale: str) -> Macro:
    group, sep, name = key.rpartition(".")
    if not sep or not group or not name or "/" in group or ".." in group:
        raise KeyError(key)
    for candidate in dict.fromkeys((locale, DEFAULT_LOCALE)):
        macro = _macros(candidate, group).get(name)
        if macro is not None:
            return macro
    raise KeyError(key)


def t(key: str, locale: str, /, **context: object) -> str:
    """The UI message ``key`` ("group.name") in ``locale``; see the module docstring."""
    if locale not in LOCALES:
        locale = DEFAULT_LOCALE
    if not context:
        return _fixed_text(key, locale)
    macro = _lookup(key, locale)
    if not macro.catch_kwargs:
        context = {k: v for k, v in context.items() if k in macro.arguments}
    return str(macro(**context)).strip()


@cache
def _fixed_text(key: str, locale: str) -> str:
    """A message without parameters (button labels, usage lines) renders the same every
    time: once per process."""
    return str(_lookup(key, locale)()).strip()
