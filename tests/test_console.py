"""The local console, driven through standard input like a script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(args: list[str], stdin: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SUPPORTBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'console.db'}",
    }
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )


def test_demo_seeds_an_empty_database_and_answers_whoami(tmp_path: Path) -> None:
    result = run_cli(["demo"], "as alice.martin@acme.example\n/supportbot whoami\nquit\n", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "demo data loaded" in result.stdout
    assert "Vous êtes *Alice Martin*" in result.stdout  # the reply, in her language
    # a second start never loads the demo data twice
    again = run_cli(["demo", "--as", "eoin.byrne@vmware.example"], "/supportbot whoami\n", tmp_path)
    assert again.returncode == 0, again.stderr
    assert "already has data" in again.stdout
    assert "You are *Eoin Byrne*" in again.stdout


def test_console_reports_unknown_people_and_commands(tmp_path: Path) -> None:
    run_cli(["demo"], "quit\n", tmp_path)
    result = run_cli(
        ["console"],
        "/supportbot whoami\nas nobody@nowhere.example\nas lea.girard@nuage.example\nhello\n/nothing\n",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Choose who you are first" in result.stdout
    assert "No contact nobody@nowhere.example" in result.stdout
    assert "Type a slash command" in result.stdout
    assert "no answer for /nothing" in result.stdout


def test_start_opens_the_demo_console_without_a_slack_token(tmp_path: Path) -> None:
    result = run_cli(["start"], "as alice.martin@acme.example\n/supportbot whoami\n", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "No SLACK_BOT_TOKEN set" in result.stdout
    assert "Vous êtes *Alice Martin*" in result.stdout


def test_start_with_a_token_serves_slack_and_names_what_is_missing(tmp_path: Path) -> None:
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-test", "PYTHONPATH": str(ROOT)}
    env.pop("SLACK_SIGNING_SECRET", None)
    env.pop("SLACK_APP_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "start"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET is required" in result.stderr


def test_the_console_shows_slack_markup_as_slack_would() -> None:
    from handlers.console import readable

    shown = readable(
        "due <!date^1795429800^{date_short_pretty} {time}|2026-11-23 10:30 UTC>"
        " · <mailto:a@b.example|a@b.example> · &lt;!channel&gt; R&amp;D"
    )
    assert shown == "due 2026-11-23 10:30 UTC · a@b.example · <!channel> R&D"
