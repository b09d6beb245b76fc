"""`supportbot faq "<question>" [--locale] --json`: slug, score, alternatives."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_as_an_audience_prefers_its_entries(capsys: pytest.CaptureFixture[str]) -> None:
    question = "how do I find the customer's EA number"
    assert run(capsys, question, "--as", "distributor")["slug"] == "ea-lookup-distributor"
    assert run(capsys, question, "--as", "reseller")["slug"] == "ea-lookup-reseller"


def test_an_answer_is_printed_in_the_questions_language(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["faq", "comment renouveler nos licences nfr", "--locale", "en"]) == 0
    assert "renouvel" in capsys.readouterr().out
    assert main(["faq", "comment trouver mon numéro EA", "--as", "customer"]) == 0
    out = capsys.readouterr().out
    assert "`/ea`" in out and "/ea lookup" not in out


def test_eval_prints_the_figures_of_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    questions = tmp_path / "questions.yml"
    questions.write_text(
        "nfr-renewal:\n"
        "  fr:\n    partner: [comment renouveler les licences nfr]\n"
        "  en:\n    partner: [how do we renew our nfr keys, what]\n"
        "off-topic:\n  en:\n    customer: [recipe for pancakes]\n",
        encoding="utf-8",
    )
    assert main(["faq", "--eval", str(questions), "--json", "--rounds", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["languages"]["fr"] == {
        "questions": 1,
        "answered_right": 1.0,
        "answered_wrong": 0.0,
        "right_first": 1.0,
        "language_right": 1.0,
        "language_unclear": 0.0,
    }
    assert report["languages"]["en"]["questions"] == 2
    assert report["languages"]["en"]["answered_right"] == 0.5
    assert report["off_topic"] == {"questions": 1, "answered": 0}
    assert 0 < report["search_us"]["cpu_mean"] <= report["search_us"]["cpu_p99"]
    assert main(["faq", "--eval", str(questions), "--misses", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "answered right" in out and "miss [en partner] 'what'" in out


def test_eval_reports_a_bad_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("nfr-renewal:\n  de:\n    partner: [x]\n", encoding="utf-8")
    assert main(["faq", "--eval", str(bad)]) == 1
    assert "nfr-renewal.de" in capsys.readouterr().err
    assert main(["faq", "--eval", str(tmp_path / "missing.yml")]) == 1
    assert main(["faq"]) == 2


def test_the_shipped_sets_meet_their_targets(capsys: pytest.CaptureFixture[str]) -> None:
    dev = Path(__file__).resolve().parent / "faq_devset.yml"
    assert main(["faq", "--eval", str(dev), "--json", "--rounds", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    for language in ("fr", "en"):
        assert report["languages"][language]["answered_right"] >= 0.98
