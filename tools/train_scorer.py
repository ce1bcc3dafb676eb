"""`make train-scorer`: train the quality scorer's learned component on the development half.

Reads services/feedback/data/corpus_dev.jsonl only (the held-out sets are never read here:
services/feedback/data/README.md) and writes services/feedback/data/learned_model.json:
the idf and the two coefficients of every kept n-gram, rounded, with the scorer VERSION.
The model is two logistic regressions (L2, fitted by L-BFGS) over the same TF-IDF character
n-grams (2-5, inside words) and word uni- and bigrams (resonanz.feedback.learned): the
reward head for "good" against "low" and "spam", the spam head (2026.5 on) for "spam"
against "good" and "low". Deterministic on any machine (`fit` says how): the same corpus
gives the same file, byte for byte (tests/test_scoring: the shipped model is what a retrain
writes).

    python tools/train_scorer.py            # train on the whole development half, write
    python tools/train_scorer.py --cv       # 5-fold cross-validation on it, per C
    python tools/train_scorer.py --cv-spam  # the same for the spam head
    python tools/train_scorer.py --check    # retrain and compare with the shipped file
    python tools/train_scorer.py --oof-report  # the whole scorer on the dev half, out of fold
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from itertools import chain
from pathlib import Path
from unittest import mock

import numpy as np
import numpy.typing as npt

from resonanz.feedback import evaluation, learned, scoring

# Chosen by 5-fold cross-validation on the development half (--cv, --cv-spam);
# docs/benchmarks.md.
C = 30.0
SPAM_C = 30.0
MIN_DF = 2  # an n-gram of a single entry says nothing about others
ROUND = 4
FOLDS = 5
MAX_ITER = 300

Vector = tuple[list[int], list[float]]
Array = npt.NDArray[np.float64]


def build_model(rows: Sequence[evaluation.Row], c: float = C, spam_c: float = SPAM_C
                ) -> dict[str, object]:
    """Fit both heads on these rows; the JSON document that learned.from_dict reads."""
    raw = [learned.raw_features(row.text, scoring.signals(row.text)) for row in rows]
    char_idf = _idf([chars for chars, _ in raw])
    word_idf = _idf([words for _, words in raw])
    names = [f"c:{f}" for f in char_idf] + [f"w:{f}" for f in word_idf]
    index = {name: i for i, name in enumerate(names)}
    vectors = [_indexed(index, chars, char_idf, words, word_idf) for chars, words in raw]
    weights, intercept = fit(vectors, [row.label == "good" for row in rows], len(names), c)
    spam_weights, spam_intercept = fit(vectors, [row.label == "spam" for row in rows],
                                       len(names), spam_c)
    idf = {**{f"c:{f}": v for f, v in char_idf.items()},
           **{f"w:{f}": v for f, v in word_idf.items()}}
    features = {name: [round(idf[name], ROUND), round(w, ROUND), round(sw, ROUND)]
                for name, w, sw in zip(names, weights, spam_weights, strict=True)}
    return {"version": scoring.VERSION, "trained_on": "corpus_dev.jsonl", "rows": len(rows),
            "corpus_sha256": _corpus_digest(rows), "heads": list(learned.HEADS),
            "c": {"reward": c, "spam": spam_c}, "min_df": MIN_DF,
            "intercepts": {"reward": round(intercept, ROUND),
                           "spam": round(spam_intercept, ROUND)},
            "features": dict(sorted(features.items()))}


def _idf(documents: Sequence[Counter[str]]) -> dict[str, float]:
    df: Counter[str] = Counter()
    for counts in documents:
        df.update(counts.keys())
    n = len(documents)
    # scikit-learn's smoothed idf
    return {f: math.log((1 + n) / (1 + d)) + 1 for f, d in sorted(df.items()) if d >= MIN_DF}


def _indexed(index: dict[str, int], chars: Counter[str], char_idf: dict[str, float],
             words: Counter[str], word_idf: dict[str, float]) -> Vector:
    vec = {f"c:{f}": v for f, v in learned.weighted(chars, char_idf).items()}
    vec.update((f"w:{f}", v) for f, v in learned.weighted(words, word_idf).items())
    ordered = sorted((index[f], v) for f, v in vec.items())
    return [i for i, _ in ordered], [v for _, v in ordered]


def _corpus_digest(rows: Sequence[evaluation.Row]) -> str:
    text = "\n".join(json.dumps([r.text, r.label], ensure_ascii=False) for r in rows)
    return hashlib.sha256(text.encode()).hexdigest()


# --- logistic regression ------------------------------------------------------------------


def fit(vectors: Sequence[Vector], labels: Sequence[bool], dims: int, c: float
        ) -> tuple[list[float], float]:
    """Minimise 0.5 |w|^2 + c * sum(log loss) (scikit-learn's LogisticRegression), intercept
    unpenalised, by L-BFGS; the weights and the intercept.

    Every sum is taken in a fixed order, so that the result is the same to the last bit on
    any machine: a row's and a feature's sums by np.bincount, which adds its weights one
    after the other in the order given (the entries are given row by row, so each feature's
    in the order of the rows), dot products by math.fsum, which rounds once; numpy's own
    reductions and BLAS would choose their order by the processor. Elementwise products and
    sums are IEEE operations, each rounded once as Python rounds them. (Before 2026-12-07 the
    loops were Python's own, over the same values in the same order: the same model, five
    times as slow.)"""
    y = [1.0 if label else 0.0 for label in labels]
    n = len(vectors)
    row_of = np.repeat(np.arange(n), [len(idx) for idx, _ in vectors])
    column_of = np.fromiter(chain.from_iterable(idx for idx, _ in vectors), dtype=np.intp)
    values = np.fromiter(chain.from_iterable(vals for _, vals in vectors), dtype=np.float64)

    def objective(params: Array) -> tuple[float, Array]:
        w, b = params[:-1], float(params[-1])
        sums = np.bincount(row_of, weights=w[column_of] * values, minlength=n).tolist()
        loss, residuals = 0.0, []
        for s, target in zip(sums, y, strict=True):
            z = b + s
            # log(1 + e^z) - y z, without overflow
            loss += (z if z > 0 else 0.0) + math.log1p(math.exp(-abs(z))) - target * z
            residuals.append(c * (_sigmoid(z) - target))
        shares = np.array(residuals)[row_of] * values
        grad = np.append(w + np.bincount(column_of, weights=shares, minlength=dims),
                         sum(residuals))
        return 0.5 * _dot(w, w) + c * loss, grad

    params = _lbfgs(objective, np.zeros(dims + 1))
    return params[:-1].tolist(), float(params[-1])


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def _dot(a: Array, b: Array) -> float:
    return math.fsum((a * b).tolist())


def _lbfgs(objective: Callable[[Array], tuple[float, Array]], x: Array,
           memory: int = 10, tolerance: float = 1e-5) -> Array:
    value, grad = objective(x)
    history: list[tuple[Array, Array, float]] = []
    for _ in range(MAX_ITER):
        if float(np.max(np.abs(grad))) < tolerance:
            break
        direction = _two_loop(grad, history)
        slope = _dot(grad, direction)
        if slope >= 0:  # not a descent direction: start the memory afresh
            history.clear()
            direction, slope = -grad, -_dot(grad, grad)
        step = 1.0 if history else 1.0 / max(1.0, math.sqrt(_dot(grad, grad)))
        while True:  # backtracking until the Armijo condition holds
            candidate = x + step * direction
            new_value, new_grad = objective(candidate)
            if new_value <= value + 1e-4 * step * slope or step < 1e-10:
                break
            step /= 2
        s, t = candidate - x, new_grad - grad
        curvature = _dot(s, t)
        if curvature > 1e-12:
            history = [*history[-(memory - 1):], (s, t, 1 / curvature)]
        converged = value - new_value < 1e-10 * max(1.0, abs(value))
        x, value, grad = candidate, new_value, new_grad
        if converged:
            break
    return x


def _two_loop(grad: Array, history: list[tuple[Array, Array, float]]) -> Array:
    q = grad
    alphas = []
    for s, t, rho in reversed(history):
        alpha = rho * _dot(s, q)
        alphas.append(alpha)
        q = q - alpha * t
    if history:
        s, t, _ = history[-1]
        gamma = _dot(s, t) / _dot(t, t)
        q = gamma * q
    for (s, t, rho), alpha in zip(history, reversed(alphas), strict=True):
        beta = rho * _dot(t, q)
        q = q + (alpha - beta) * s
    return -q


# --- cross-validation and the command line ------------------------------------------------


def folds(rows: Sequence[evaluation.Row], k: int = FOLDS) -> list[int]:
    """Each row's fold: stratified by label, in the order of a hash of the text (fixed)."""
    assignment = [0] * len(rows)
    for label in evaluation.CLASSES:
        members = [i for i, row in enumerate(rows) if row.label == label]
        members.sort(key=lambda i: hashlib.blake2b(rows[i].text.encode(), digest_size=8,
                                                    person=b"resonanz.fold").digest())
        for rank, i in enumerate(members):
            assignment[i] = rank % k
    return assignment


def out_of_fold(rows: Sequence[evaluation.Row], c: float = C, spam_c: float = SPAM_C
                ) -> dict[str, list[float]]:
    """Every row's probability from each head of the model trained on the other folds."""
    fold_of = folds(rows)
    probabilities = {head: [0.0] * len(rows) for head in learned.HEADS}
    for fold in range(FOLDS):
        train = [row for row, f in zip(rows, fold_of, strict=True) if f != fold]
        document = build_model(train, c, spam_c)
        for head, found in probabilities.items():
            model = learned.from_dict(document, head)
            for i, row in enumerate(rows):
                if fold_of[i] == fold:
                    found[i] = model.read(row.text, scoring.signals(row.text)).probability
    return probabilities


def out_of_fold_labels(rows: Sequence[evaluation.Row]) -> list[str]:
    """Every row's label from the whole scorer (rules and both heads) with the learned part
    trained on the other folds: how the scorer is judged on the development half
    (docs/benchmarks.md "Quality scoring")."""
    fold_of = folds(rows)
    labels = [""] * len(rows)
    for fold in range(FOLDS):
        document = build_model([row for row, f in zip(rows, fold_of, strict=True) if f != fold])
        weights = learned._weights(document)  # shared by both heads, as when shipped
        heads = {head: learned._head(weights, document, head) for head in learned.HEADS}
        with mock.patch.object(learned, "load", partial(_fold_head, heads)):
            for i, row in enumerate(rows):
                if fold_of[i] == fold:
                    labels[i] = scoring.score_feedback(row.text, row.rating, None, []).label
    return labels


def _fold_head(heads: dict[str, learned.Model], version: str, head: str = "reward"
               ) -> learned.Model:
    return heads[head]


def oof_report(rows: Sequence[evaluation.Row], labels: Sequence[str]) -> str:
    said = dict(zip(rows, labels, strict=True))
    result = evaluation.evaluate(rows, said.__getitem__)
    spam = result.per_class["spam"]
    return (f"{len(rows)} rows: reward {result.reward.precision:.3f} / "
            f"{result.reward.recall:.3f}, spam {spam.precision:.3f} / {spam.recall:.3f}, "
            f"confusion {result.confusion}")


def model_text(model: dict[str, object]) -> str:
    return json.dumps(model, ensure_ascii=False, separators=(",", ":")) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cv", action="store_true",
                        help="cross-validate the reward head's C on the dev half")
    parser.add_argument("--cv-spam", action="store_true",
                        help="cross-validate the spam head's C on the dev half")
    parser.add_argument("--oof", type=Path,
                        help="write each dev row's out-of-fold probabilities (JSON) here")
    parser.add_argument("--spam-c", type=float, default=SPAM_C,
                        help="the spam head's C for --oof")
    parser.add_argument("--check", action="store_true",
                        help="retrain and fail when the shipped file differs")
    parser.add_argument("--oof-report", action="store_true",
                        help="the whole scorer's figures on the dev half, out of fold")
    parser.add_argument("--first", type=int,
                        help="with --oof-report: also the figures on the first N rows")
    args = parser.parse_args()
    rows = evaluation.load("dev")
    if args.oof_report:
        labels = out_of_fold_labels(rows)
        print(oof_report(rows, labels))
        if args.first:
            print(oof_report(rows[:args.first], labels[:args.first]))
        return
    if args.cv or args.cv_spam:
        head, label = ("spam", "spam") if args.cv_spam else ("reward", "good")
        for c in (1.0, 3.0, 10.0, 30.0, 100.0):
            p = out_of_fold(rows, c, c)[head]
            for threshold in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
                said = [x >= threshold for x in p]
                truth = [row.label == label for row in rows]
                hits = sum(s and t for s, t in zip(said, truth, strict=True))
                print(f"{head} C {c:>6}  threshold {threshold}: precision "
                      f"{hits / max(1, sum(said)):.3f} recall {hits / sum(truth):.3f}")
        return
    if args.oof:
        found = out_of_fold(rows, C, args.spam_c)
        args.oof.write_text(json.dumps([{"text": row.text, **{h: found[h][i] for h in found}}
                                        for i, row in enumerate(rows)], ensure_ascii=False),
                            encoding="utf-8")
        return
    text = model_text(build_model(rows))
    if args.check:
        same = learned.MODEL_PATH.read_text(encoding="utf-8") == text
        print("the shipped model is what a retrain writes" if same else
              "the shipped model differs from a retrain: run `make train-scorer`")
        sys.exit(0 if same else 1)
    learned.MODEL_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {learned.MODEL_PATH} ({len(text.encode())} bytes)")


if __name__ == "__main__":
    main()
