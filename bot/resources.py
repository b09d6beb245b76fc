"""Files the bot reads at run time, found through ``importlib.resources``.

They ship inside the installed package, so an installed bot runs from any directory:
``templates/`` as ``bot.templates`` (UI messages and FAQ entries), ``data/`` as
``bot.data`` (the demo dataset), and the Alembic migrations. In a checkout (an editable
install) the same names point at the repository's own folders.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def package_dir(package: str) -> Path:
    """The folder of an installed package. Jinja and Alembic read folders, so the package
    must be installed as files, which pip always does (never run from a zip)."""
    root = files(package)
    if not isinstance(root, Path):
        raise RuntimeError(f"{package} is not installed as plain files ({root!r})")
    return root


def templates_dir() -> Path:
    return package_dir("bot.templates")


def demo_dataset() -> Path:
    return package_dir("bot.data") / "demo.yml"


def migrations_dir() -> Path:
    return package_dir("bot.store.migrations")


def manifest() -> Path:
    """The Slack app manifest (the repository's manifest.yml, shipped as bot.data)."""
    return package_dir("bot.data") / "manifest.yml"
