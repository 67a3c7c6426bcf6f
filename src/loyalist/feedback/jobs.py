"""Worker jobs of the feedback domain.

`feedback.retrain` refits the char-n-gram model once enough new labelled feedback (staff
corrections, exit reasons, scored answers) has arrived since the last run; the decision to use
the model is taken again by cross-validation each time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from loyalist.feedback import service
from loyalist.types import SYSTEM, Actor

RETRAIN_AFTER_NEW_SAMPLES = 50


def retrain(session: Session, *, as_of: datetime | None = None, actor: Actor = SYSTEM) -> dict[str, object]:
    """Train when the labelled set grew by RETRAIN_AFTER_NEW_SAMPLES since the last run (re-runnable)."""
    samples = service.training_samples(session)
    last = service.current_model(session)
    grown = len(samples) - (last.n_samples if last is not None else 0)
    if grown < RETRAIN_AFTER_NEW_SAMPLES:
        return {"trained": False, "samples": len(samples), "new_since_last": grown}
    run = service.train(session, actor=actor, samples=samples)
    return {"trained": True, "run_id": run.id, "samples": run.n_samples, "use_for_tags": run.use_for_tags,
            "use_for_sentiment": run.use_for_sentiment}


JOBS = {"feedback.retrain": retrain}
