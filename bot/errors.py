"""Errors a user can be shown. Each carries a message key and its parameters; the Slack
layer renders it in the actor's language (``templates/messages/<locale>/errors.j2``)."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a refusal: shown to the user as is; nothing was changed."""

    def __init__(self, key: str, /, usage: str | None = None, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.usage = usage  # usage-line key (``usage.ticket``) shown under the message
        self.params = params

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key!r}, {self.params!r})"


class NotFound(UserError):
    """The thing does not exist, or lies outside the actor's view (R8: both read alike)."""


class Forbidden(UserError):
    """The actor may not do this; the message says who may."""


class Conflict(UserError):
    """The request clashes with the current state (already resolved, already taken…)."""
