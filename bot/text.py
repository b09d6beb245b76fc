"""Small text helpers shared by search, look-ups and the importer."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """Case- and accent-insensitive form: "Société Générale" → "societe generale"."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def normalize_email(email: str) -> str:
    return email.strip().casefold()
