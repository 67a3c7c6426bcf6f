"""Training: labels from corrections/exit reasons/scores, CV against the lexicons, the model is
used only when it scored higher, and the decision with its figures is stored."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from sqlalchemy import select

from loyalist.audit.models import AuditEntry
from loyalist.errors import ValidationFailed
from loyalist.feedback import jobs, service
from loyalist.feedback.analyzer.model import Sample, cross_validate
from loyalist.feedback.models import FeedbackModelRun

DATA = Path(__file__).resolve().parents[1] / "data" / "feedback_eval.jsonl"


def _jargon_samples() -> list[Sample]:
    """Texts in an in-house jargon no lexicon knows: only a trained model can learn the reasons."""
    rng = random.Random(7)
    cues = {"quality": ["zorbix flickers", "zorbix hums", "zorbix wobbles"],
            "delivery": ["kwento van", "kwento drop", "kwento route"],
            "price": ["plenk tariff", "plenk surcharge", "plenk rate"]}
    filler = ["today", "again", "this week", "at the kiosk", "since Monday", "for us", "honestly", "twice"]
    out = []
    for code, phrases in cues.items():
        for i in range(20):
            text = f"{rng.choice(phrases)} {rng.choice(filler)} ref {code[:2]}{i}"
            out.append(Sample(text=text, reasons=[code], sentiment=None))
    return out


def test_too_few_labels_keeps_the_lexicons_and_says_why(session, actor):
    service.record_text(session, customer_id=None, text="Too expensive", source_type="survey_answer",
                        source_id="1:why", labels=["price"], score=2, score_scale="nps", actor=actor)
    run = service.train(session, actor=actor)
    assert (run.n_samples, run.use_for_tags, run.use_for_sentiment, run.active) == (1, False, False, True)
    assert run.note == "only 1 labelled texts (at least 20 needed): lexicons kept"
    assert service.current_model(session) == run
    stored = session.get(FeedbackModelRun, run.id)
    assert stored is not None and stored.blob is None


def test_model_is_used_only_where_it_beats_the_lexicons(session, actor):
    run = service.train(session, actor=actor, samples=_jargon_samples(), folds=5)
    print(f"\njargon: model F1 {run.model_tag_f1} vs lexicon {run.lexicon_tag_f1}")
    assert run.folds == 5
    assert run.model_tag_f1 is not None and run.lexicon_tag_f1 is not None
    assert run.model_tag_f1 > run.lexicon_tag_f1
    assert run.use_for_tags is True
    assert run.use_for_sentiment is False  # no sentiment labels: nothing to compare, lexicons kept
    assert sorted(run.classes) == ["delivery", "price", "quality"]
    item = service.record_text(session, customer_id=None, text="the zorbix flickers again at the kiosk",
                               source_type="complaint", source_id=None, actor=actor)
    assert [(t.code, t.source) for t in item.tags] == [("quality", "model")]
    assert item.sentiment_source == "lexicon"
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "feedback.train")).all()
    assert [a.after["use_for_tags"] for a in audit] == [True]


def test_lexicons_beat_the_model_on_the_evaluation_set_so_they_would_be_kept():
    """Same folds for both; on the hand-labelled set the lexicons win, so train() would keep them
    (the storage side of that decision is covered with the tiny set above, on both databases)."""
    records = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    samples = [Sample(text=r["text"], reasons=r["reasons"], sentiment=r["sentiment"]) for r in records]
    cv = cross_validate(samples, service._lexicon_predict, folds=3)
    print(f"\neval set 3-fold CV: reasons macro-F1 model {cv.model_tag_f1} vs lexicons {cv.lexicon_tag_f1}; "
          f"sentiment accuracy model {cv.model_sentiment_accuracy} vs lexicons {cv.lexicon_sentiment_accuracy}")
    assert cv.n_tag_samples == len(records)
    assert cv.lexicon_tag_f1 > cv.model_tag_f1  # type: ignore[operator]
    assert cv.lexicon_sentiment_accuracy > cv.model_sentiment_accuracy  # type: ignore[operator]
    assert cv.model_better_for_tags is False
    assert cv.model_better_for_sentiment is False


def test_run_that_loses_is_stored_without_using_the_model(session, actor):
    """Sentiment labels only, on texts the lexicons read well: the model must not take over."""
    texts = [("Great service, thank you", "positive"), ("Terrible, rude staff", "negative"),
             ("Fantastic prices and friendly people", "positive"), ("Awful delivery, very late", "negative"),
             ("Excellent quality, love it", "positive"), ("Worst shop ever, never again", "negative"),
             ("Super fast delivery, thanks", "positive"), ("Broken on arrival, disappointed", "negative"),
             ("Lovely staff and great coffee", "positive"), ("Horrible experience, nobody helped", "negative")]
    samples = [Sample(text=f"{t}{'!' * k}", reasons=None, sentiment=s) for k in range(2) for t, s in texts]
    run = service.train(session, actor=actor, samples=samples, folds=5)
    assert run.lexicon_sentiment_accuracy == 1.0
    assert run.model_sentiment_accuracy is not None and run.model_sentiment_accuracy <= 1.0
    assert run.use_for_sentiment is False
    assert run.use_for_tags is False
    stored = session.get(FeedbackModelRun, run.id)
    assert stored is not None and stored.blob is None
    item = service.record_text(session, customer_id=None, text="The courier was rude", source_type="complaint",
                               source_id=None, actor=actor)
    assert item.sentiment_source == "lexicon"
    assert {t.source for t in item.tags} == {"lexicon"}


def test_training_labels_come_from_corrections_exit_reasons_and_scores(session, actor):
    a = service.record_text(session, customer_id=None, text="Went to the shop next door", source_type="survey_answer",
                            source_id="5:why", labels=["competitor_offer"], actor=actor)
    b = service.record_text(session, customer_id=None, text="Lovely people", source_type="survey_answer",
                            source_id="6:why", score=10, score_scale="nps", actor=actor)
    c = service.record_text(session, customer_id=None, text="The app keeps logging me out", source_type="complaint",
                            source_id=None, actor=actor)
    d = service.record_text(session, customer_id=None, text="Just browsing", source_type="complaint",
                            source_id=None, actor=actor)
    service.add_tag(session, item_id=c.id, code="quality", actor=actor)
    samples = {s.text: (s.reasons, s.sentiment) for s in service.training_samples(session)}
    assert samples == {
        "Went to the shop next door": (["competitor_offer"], None),
        "Lovely people": (None, "positive"),
        "The app keeps logging me out": ([t.code for t in service.get_item(session, c.id).tags], None),
    }
    assert "quality" in samples["The app keeps logging me out"][0]  # type: ignore[operator]
    assert d.id not in (a.id, b.id, c.id)


def test_folds_are_validated(session, actor):
    with pytest.raises(ValidationFailed) as err:
        service.train(session, actor=actor, folds=1)
    assert err.value.field == "folds"
    assert session.scalars(select(FeedbackModelRun)).all() == []


def test_retrain_job_waits_for_enough_new_labels(session, actor):
    result = jobs.retrain(session)
    assert result == {"trained": False, "samples": 0, "new_since_last": 0}
    assert session.scalars(select(FeedbackModelRun)).all() == []
    assert "feedback.retrain" in jobs.JOBS


def test_single_text_fast_path_matches_the_vectoriser():
    import numpy as np

    from loyalist.feedback.analyzer.model import fit
    from loyalist.feedback.analyzer.text import normalise

    model = fit(_jargon_samples())
    for text in ("the zorbix flickers again", "Kwento van late, plenk tariff too high!", "ничего общего"):
        fast = model._features([text]).toarray()
        reference = model.vectorizer.transform([normalise(text)]).toarray()
        assert np.allclose(fast, reference)
    # one text and the same text in a batch give the same tags; the scores may differ in the
    # last bit because BLAS sums a batch in another order
    alone = model.predict(["zorbix hums today"])[0].tags
    in_batch = model.predict(["zorbix hums today"] * 9)[0].tags
    assert [tag for tag, _ in alone] == [tag for tag, _ in in_batch]
    assert [score for _, score in alone] == pytest.approx([score for _, score in in_batch], abs=1e-9)
