"""Char-n-gram model trained from labelled feedback (staff corrections, exit reasons, scores).

TfidfVectorizer(analyzer="char_wb") works across the four languages without lemmatisers and is
robust to typos. Reasons are multi-label (one binary LinearSVC per reason); sentiment is one
one-vs-rest LinearSVC. LinearSVC trains in ~0.1 s on a few hundred texts where lbfgs logistic
regression took >10 s; its margins are turned into confidences with a logistic squashing. At
prediction time only the fitted vectoriser and the weight matrices are used (one sparse matrix
product per batch), which keeps the model path fast.

`cross_validate` runs stratified k-fold on the same folds for the model and for the lexicon
tagger, so the decision "use the model" compares like with like.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loyalist.feedback.analyzer.text import normalise

TAG_THRESHOLD = 0.5
MIN_PER_CLASS = 3
MARGIN_SCALE = 2.0  # margin -> confidence: sigmoid(2 * margin); 0.5 exactly on the hyperplane


@dataclass
class Sample:
    text: str
    reasons: list[str] | None = None  # None: no reason labels for this text
    sentiment: str | None = None


@dataclass
class Prediction:
    tags: list[tuple[str, float]]
    sentiment: str | None
    sentiment_score: float | None


@dataclass
class FeedbackModel:
    vectorizer: Any
    tag_classes: list[str] = field(default_factory=list)
    tag_coef: Any = None
    tag_intercept: Any = None
    sentiment_classes: list[str] = field(default_factory=list)
    sentiment_coef: Any = None
    sentiment_intercept: Any = None
    use_for_tags: bool = False
    use_for_sentiment: bool = False

    def _features(self, texts: Sequence[str]) -> Any:
        """TF-IDF rows. For a handful of texts (record_text scores one at a time) the vectoriser's
        own analyzer is used with a hand-rolled sublinear TF x IDF and L2 norm: the same numbers
        as `transform`, without its ~2 ms per-call overhead."""
        docs = [normalise(t) for t in texts]
        if len(docs) > 8:
            return self.vectorizer.transform(docs)
        from scipy.sparse import csr_matrix

        analyzer = self.vectorizer.build_analyzer()
        vocab = self.vectorizer.vocabulary_
        idf = self.vectorizer.idf_
        indptr, indices, data = [0], [], []
        for doc in docs:
            counts: dict[int, int] = {}
            for gram in analyzer(doc):
                j = vocab.get(gram)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            vals = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * idf[cols]
            norm = float(np.sqrt((vals * vals).sum()))
            if norm > 0:
                vals = vals / norm
            order = np.argsort(cols)
            indices.extend(cols[order].tolist())
            data.extend(vals[order].tolist())
            indptr.append(len(indices))
        return csr_matrix((data, indices, indptr), shape=(len(docs), len(vocab)))

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        x = self._features(texts)
        tag_p = None
        if self.tag_coef is not None:
            margins = np.asarray(x @ self.tag_coef.T) + self.tag_intercept
            tag_p = 1.0 / (1.0 + np.exp(-MARGIN_SCALE * margins))
        sent_p = None
        if self.sentiment_coef is not None:
            z = MARGIN_SCALE * (np.asarray(x @ self.sentiment_coef.T) + self.sentiment_intercept)
            z = np.exp(z - z.max(axis=1, keepdims=True))
            sent_p = z / z.sum(axis=1, keepdims=True)
        out = []
        for i in range(len(texts)):
            tags: list[tuple[str, float]] = []
            if tag_p is not None:
                row = tag_p[i]
                tags = [(c, float(row[j])) for j, c in enumerate(self.tag_classes) if row[j] >= TAG_THRESHOLD]
                if not tags:
                    j = int(row.argmax())
                    tags = [(self.tag_classes[j], float(row[j]))]
                tags.sort(key=lambda t: -t[1])
            sentiment = score = None
            if sent_p is not None:
                probs = dict(zip(self.sentiment_classes, sent_p[i], strict=True))
                sentiment = max(probs, key=lambda k: probs[k])
                score = float(probs.get("positive", 0.0) - probs.get("negative", 0.0))
            out.append(Prediction(tags=tags, sentiment=sentiment, sentiment_score=score))
        return out

    def dumps(self) -> bytes:
        buf = io.BytesIO()
        pickle.dump(self, buf, protocol=pickle.HIGHEST_PROTOCOL)
        return buf.getvalue()

    @staticmethod
    def loads(blob: bytes) -> FeedbackModel:
        # Only blobs this application wrote into its own database are loaded (never user uploads).
        model = pickle.loads(blob)  # noqa: S301
        if not isinstance(model, FeedbackModel):
            raise ValueError("stored blob is not a FeedbackModel")
        return model


def _vectorizer() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=1, sublinear_tf=True, max_features=200_000)


def fit(samples: Sequence[Sample]) -> FeedbackModel:
    """Fit on all samples; a head is fitted only if it has at least two classes with enough data."""
    from sklearn.svm import LinearSVC

    texts = [normalise(s.text) for s in samples]
    vec = _vectorizer().fit(texts)
    model = FeedbackModel(vectorizer=vec)
    tagged = [i for i, s in enumerate(samples) if s.reasons]
    if tagged:
        classes = sorted({c for i in tagged for c in samples[i].reasons or []})
        x = vec.transform([texts[i] for i in tagged])
        coefs, intercepts, kept = [], [], []
        for c in classes:
            y = np.array([1 if c in (samples[i].reasons or []) else 0 for i in tagged])
            if y.sum() < MIN_PER_CLASS or y.sum() == len(y):
                continue
            clf = LinearSVC(C=1.0, class_weight="balanced").fit(x, y)
            coefs.append(clf.coef_[0])
            intercepts.append(clf.intercept_[0])
            kept.append(c)
        if kept:
            model.tag_classes, model.tag_coef, model.tag_intercept = kept, np.vstack(coefs), np.array(intercepts)
    sent = [i for i, s in enumerate(samples) if s.sentiment]
    labels = [samples[i].sentiment for i in sent]
    if len(set(labels)) >= 2:
        clf = LinearSVC(C=1.0, class_weight="balanced").fit(vec.transform([texts[i] for i in sent]), labels)
        classes = [str(c) for c in clf.classes_]
        coef, intercept = clf.coef_, clf.intercept_
        if len(classes) == 2:  # a binary model keeps one row; expand to one row per class for softmax
            coef = np.vstack([-coef[0] / 2, coef[0] / 2])
            intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
        model.sentiment_classes, model.sentiment_coef, model.sentiment_intercept = classes, coef, intercept
    return model


@dataclass
class CVResult:
    folds: int
    n_tag_samples: int
    n_sentiment_samples: int
    model_tag_f1: float | None
    lexicon_tag_f1: float | None
    model_sentiment_accuracy: float | None
    lexicon_sentiment_accuracy: float | None

    @property
    def model_better_for_tags(self) -> bool:
        return (self.model_tag_f1 is not None and self.lexicon_tag_f1 is not None
                and self.model_tag_f1 > self.lexicon_tag_f1)

    @property
    def model_better_for_sentiment(self) -> bool:
        return (self.model_sentiment_accuracy is not None and self.lexicon_sentiment_accuracy is not None
                and self.model_sentiment_accuracy > self.lexicon_sentiment_accuracy)


def macro_f1(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], classes: Sequence[str]) -> float:
    """Macro-averaged F1 over `classes` for multi-label gold/predicted code lists."""
    scores = []
    for c in classes:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if c in g and c in p)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if c not in g and c in p)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if c in g and c not in p)
        if tp + fp + fn == 0:
            continue
        scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else 0.0


def cross_validate(samples: Sequence[Sample], lexicon: Callable[[Sequence[str]], list[tuple[list[str], str]]],
                   *, folds: int = 5, seed: int = 0) -> CVResult:
    """Stratified k-fold (by first reason, else sentiment); model vs lexicon on identical test folds.

    `lexicon(texts)` returns (reason codes, sentiment) per text.
    """
    from sklearn.model_selection import StratifiedKFold

    strata = [(s.reasons[0] if s.reasons else f"~{s.sentiment}") for s in samples]
    counts: dict[str, int] = {}
    for s in strata:
        counts[s] = counts.get(s, 0) + 1
    k = max(2, min(folds, min(counts.values()))) if counts else 2
    # Rare strata would make StratifiedKFold refuse; fold them into one bucket.
    strata = [s if counts[s] >= k else "~rare" for s in strata]
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    gold_tags: list[list[str]] = []
    model_tags: list[list[str]] = []
    lex_tags: list[list[str]] = []
    gold_sent: list[str] = []
    model_sent: list[str | None] = []
    lex_sent: list[str] = []
    for train_idx, test_idx in splitter.split(np.zeros(len(samples)), strata):
        model = fit([samples[i] for i in train_idx])
        test = [samples[i] for i in test_idx]
        preds = model.predict([s.text for s in test])
        lex = lexicon([s.text for s in test])
        for s, p, (lt, ls) in zip(test, preds, lex, strict=True):
            if s.reasons:
                gold_tags.append(list(s.reasons))
                model_tags.append([c for c, _ in p.tags])
                lex_tags.append(lt)
            if s.sentiment:
                gold_sent.append(s.sentiment)
                model_sent.append(p.sentiment)
                lex_sent.append(ls)
    classes = sorted({c for g in gold_tags for c in g})

    def acc(pred: Sequence[str | None]) -> float | None:
        if not gold_sent:
            return None
        return sum(1 for g, p in zip(gold_sent, pred, strict=True) if g == p) / len(gold_sent)

    return CVResult(
        folds=k, n_tag_samples=len(gold_tags), n_sentiment_samples=len(gold_sent),
        model_tag_f1=round(macro_f1(gold_tags, model_tags, classes), 4) if gold_tags else None,
        lexicon_tag_f1=round(macro_f1(gold_tags, lex_tags, classes), 4) if gold_tags else None,
        model_sentiment_accuracy=None if (a := acc(model_sent)) is None else round(a, 4),
        lexicon_sentiment_accuracy=None if (b := acc(lex_sent)) is None else round(b, 4),
    )
