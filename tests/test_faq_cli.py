"""`supportbot faq "<question>" [--locale] --json`: slug, score, alternatives."""

from __future__ import annotations

import json

import pytest

from bot.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["faq", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_names_the_entry_its_score_and_the_runners_up(
    capsys: pytest.CaptureFixture[str],
) -> None:
    found = run(
        capsys,
        "je suis revendeur, comment retrouver le numero EA de mon client ?",
        "--locale",
        "fr",
    )
    assert found["slug"] == "ea-lookup-reseller"
    assert 0 < found["score"] <= 1  # type: ignore[operator]
    alternatives = found["alternatives"]
    assert isinstance(alternatives, list) and 1 <= len(alternatives) <= 3
    assert all(set(a) == {"slug", "score"} and a["slug"] != found["slug"] for a in alternatives)
    scores = [a["score"] for a in alternatives]
    assert scores == sorted(scores, reverse=True) and scores[0] <= found["score"]


def test_a_slug_answers_itself_and_gibberish_answers_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(capsys, "nfr-support") == {"slug": "nfr-support", "score": 1.0, "alternatives": []}
    assert run(capsys, "qqzzx vvkkp") == {"slug": None, "score": 0.0, "alternatives": []}
