"""The labelled message sets and the figures the classifier reaches on them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cashout_server.domain.leads.evaluate import LabelledMessage, evaluate, load, main
from cashout_server.domain.leads.understanding import Intent

HERE = Path(__file__).parent
LABELLED = HERE / "labelled_messages.jsonl"
HOLDOUT = HERE / "labelled_messages_holdout.jsonl"
# Words scam scripts use; an honest message with one of them tests precision.
SCAM_VOCABULARY = re.compile(
    r"venmo|zelle|cash ?app|paypal|apple pay|code|verify|deployed|out of (?:town|state)|mover|email|address|"
    r"number|link|https?://|deposit|sent|gift card|bank|check|brother|son|husband|daughter|cousin|real|scam|"
    r"buying it for",
    re.IGNORECASE,
)


@pytest.mark.parametrize(("path", "least"), [(LABELLED, 220), (HOLDOUT, 60)])
def test_the_sets_are_well_formed_and_cover_every_intent(path: Path, least: int) -> None:
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(raw) >= least
    for row in raw:
        assert set(row) == {"text", "intent", "offer_minor", "list_price_minor", "scam"}
        assert isinstance(row["list_price_minor"], int) and row["list_price_minor"] > 0
        assert row["scam"] == (row["intent"] == "scam")
        assert (row["offer_minor"] is not None) == (row["intent"] == "offer")
    rows = load(path)
    assert {r.intent for r in rows} == set(Intent)
    assert len({r.text for r in rows}) == len(rows)


def test_the_main_set_has_many_scams_and_many_honest_lookalikes() -> None:
    rows = load(LABELLED)
    assert sum(r.scam for r in rows) >= 40
    lookalikes = [r for r in rows if not r.scam and r.intent is not Intent.SPAM and SCAM_VOCABULARY.search(r.text)]
    assert len(lookalikes) >= 40


def test_the_holdout_shares_no_message_with_the_main_set() -> None:
    main_texts = {r.text.lower() for r in load(LABELLED)}
    assert not main_texts & {r.text.lower() for r in load(HOLDOUT)}


def test_measured_figures_on_the_labelled_set() -> None:
    report = evaluate(load(LABELLED))
    assert report.scam_recall >= 0.95
    assert report.scam_precision >= 0.9
    assert report.intent_accuracy >= 0.85
    assert report.offer_accuracy >= 0.9
    # Confidence means something: confident answers are right more often than unsure ones.
    assert report.confident_accuracy > report.unsure_accuracy
    assert report.confident_accuracy >= 0.95 and report.confident_share >= 0.5


def test_measured_figures_on_the_holdout_set() -> None:
    # Never tuned on; these bars only catch a regression, the real figures are in the report.
    report = evaluate(load(HOLDOUT))
    assert report.intent_accuracy >= 0.85
    assert report.scam_recall >= 0.8
    assert report.scam_precision >= 0.8


def test_report_counts_misses_and_per_intent_figures() -> None:
    rows = [
        LabelledMessage("Is this still available?", Intent.AVAILABILITY, None, 5000, scam=False),
        LabelledMessage("would you take 40?", Intent.OFFER, 4000, 5000, scam=False),
        LabelledMessage("would you take 45?", Intent.OFFER, 4000, 5000, scam=False),  # amount mislabelled on purpose
        LabelledMessage("thanks!", Intent.PRICE_QUESTION, None, 5000, scam=False),  # intent mislabelled on purpose
        LabelledMessage("send me the verification code", Intent.SCAM, None, 5000, scam=True),
    ]
    report = evaluate(rows)
    assert report.total == 5
    assert report.intent_accuracy == pytest.approx(4 / 5)
    assert report.offer_accuracy == pytest.approx(1 / 2)
    assert report.scam_recall == 1.0 and report.scam_precision == 1.0
    assert report.confusion == {(Intent.PRICE_QUESTION, Intent.OTHER): 1}
    assert [m.text for m in report.misses] == ["thanks!"]
    assert report.per_intent[Intent.OFFER] == (1.0, 1.0, 2)
    assert report.per_intent[Intent.PRICE_QUESTION] == (1.0, 0.0, 1)


def test_command_line_prints_the_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(LABELLED), str(HOLDOUT)]) == 0
    out = capsys.readouterr().out
    assert out.count("intent accuracy:") == 2
    for needle in ("scam recall:", "scam precision:", "offer amount accuracy:", "per intent:", "price_question"):
        assert needle in out
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


def test_labelled_row_validation() -> None:
    with pytest.raises(ValueError, match="haggling"):
        LabelledMessage.from_json({"text": "hi", "intent": "haggling", "offer_minor": None, "list_price_minor": 1})
    with pytest.raises(ValueError, match="bad labelled row"):
        LabelledMessage.from_json({"text": 5, "intent": "other"})
