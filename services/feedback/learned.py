"""The learned part of the quality scorer: a logistic regression, "is this entry worth a
reward?", over character and word n-grams of the text. Pure Python, no I/O after the first
load, no randomness.

The rules (scoring.py) know what their word lists know; the model has read every entry of
the development half (data/corpus_dev.jsonl) and weighs the fragments that separate the
specific entries from the generic ones, also those no list names ("Thermobecher", "leckt",
"unresponsive"). Its probability is one component of the breakdown, with the fragments that
pushed it most as the reason.

The weights are trained by `make train-scorer` (tools/train_scorer.py, deterministic) on the
development half only, and shipped as data/learned_model.json with the scorer VERSION they
were trained for: a scorer whose VERSION differs refuses to load them, so a change of the
rules cannot ship with a model trained for other rules.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path

MODEL_PATH = Path(__file__).parent / "data" / "learned_model.json"

# Only the start of a long text is read: the verdict is made by then, and it bounds the
# time per entry (n-grams grow with the length).
MAX_CHARS = 2000
CHAR_NGRAMS = (2, 5)
_WORD_RE = re.compile(r"[^\W_]{1,40}")
# Every digit reads as 0: "size 42" and "size 38" are the same sign of a number.
_DIGITS = str.maketrans("0123456789", "0000000000")


def char_features(words: Iterable[str]) -> Counter[str]:
    """Character n-grams inside each word, padded by spaces (like scikit-learn's char_wb)."""
    low, high = CHAR_NGRAMS
    counts: Counter[str] = Counter()
    for word in words:
        padded = f" {word} "
        size = len(padded)
        for n in range(low, min(high, size) + 1):
            counts.update(padded[i:i + n] for i in range(size - n + 1))
    return counts


def word_features(words: list[str]) -> Counter[str]:
    """Words and pairs of neighbouring words."""
    counts = Counter(words)
    counts.update(f"{a} {b}" for a, b in pairwise(words))
    return counts


def tokens(text: str) -> list[str]:
    return _WORD_RE.findall(text[:MAX_CHARS].lower().translate(_DIGITS))


def raw_features(text: str) -> tuple[Counter[str], Counter[str]]:
    """The counts of char n-grams ("c") and word n-grams ("w") before weighting."""
    words = tokens(text)
    return char_features(words), word_features(words)


def weighted(counts: Mapping[str, int], idf: Mapping[str, float]) -> dict[str, float]:
    """Sublinear tf * idf over the known features, scaled to unit length (one group)."""
    values = {f: (1 + math.log(c)) * idf[f] for f, c in counts.items() if f in idf}
    norm = math.sqrt(sum(v * v for v in values.values()))
    return {f: v / norm for f, v in values.items()} if norm else {}


@dataclass(frozen=True)
class Model:
    version: str
    intercept: float
    char_idf: dict[str, float]
    word_idf: dict[str, float]
    # "c:ngram" / "w:word(s)" -> coefficient
    coef: dict[str, float]

    def vector(self, text: str) -> dict[str, float]:
        chars, words = raw_features(text)
        vec = {f"c:{f}": v for f, v in weighted(chars, self.char_idf).items()}
        vec.update((f"w:{f}", v) for f, v in weighted(words, self.word_idf).items())
        return vec

    def probability(self, vec: Mapping[str, float]) -> float:
        logit = self.intercept + sum(self.coef.get(f, 0.0) * v for f, v in vec.items())
        return 1 / (1 + math.exp(-max(-30.0, min(30.0, logit))))

    def signs(self, text: str, vector: Mapping[str, float], positive: bool, limit: int = 3
              ) -> list[str]:
        """The words of the text that pushed hardest one way. Each n-gram's weight is shared
        by the words it occurs in, so the words' pushes add up to the model's verdict;
        short function words ("on", "die") weigh too, but explain nothing to a reader."""
        shown = _WORD_RE.findall(text[:MAX_CHARS].lower())
        words = tokens(text)
        owners: dict[str, set[int]] = {}
        for position, word in enumerate(words):
            for gram in char_features([word]):
                owners.setdefault(f"c:{gram}", set()).add(position)
            owners.setdefault(f"w:{word}", set()).add(position)
        for position, (a, b) in enumerate(pairwise(words)):
            owners.setdefault(f"w:{a} {b}", set()).update((position, position + 1))
        push: dict[str, float] = {}
        for feature, positions in owners.items():
            share = self.coef.get(feature, 0.0) * vector.get(feature, 0.0) / len(positions)
            for position in positions:
                push[shown[position]] = push.get(shown[position], 0.0) + share
        ranked = sorted((w for w, p in push.items()
                         if (p > 0) == positive and p and _telling(w)),
                        key=lambda w: (-abs(push[w]), w))
        return ranked[:limit]


_FUNCTION_WORDS = frozenset({
    "the", "and", "was", "were", "are", "you", "this", "that", "with", "for", "from", "but",
    "not", "have", "has", "had", "our", "its", "they", "them", "very", "der", "die", "das",
    "den", "dem", "des", "und", "ist", "war", "auf", "mit", "von", "ich", "sie", "wir",
    "ein", "eine", "einen", "nicht", "aber", "auch", "noch", "sehr", "bei", "aus", "nach",
    "zum", "zur", "mir", "mich", "hat", "habe", "wie", "sich", "dass",
})


def _telling(word: str) -> bool:
    return (len(word) >= 3 or word.isdigit()) and word not in _FUNCTION_WORDS


def from_dict(data: Mapping[str, object]) -> Model:
    features: dict[str, list[float]] = data["features"]  # type: ignore[assignment]
    char_idf = {f[2:]: v[0] for f, v in features.items() if f.startswith("c:")}
    word_idf = {f[2:]: v[0] for f, v in features.items() if f.startswith("w:")}
    return Model(str(data["version"]), float(data["intercept"]),  # type: ignore[arg-type]
                 char_idf, word_idf, {f: v[1] for f, v in features.items()})


@cache
def load(version: str) -> Model:
    """The shipped model, read once; it must have been trained for this scorer version."""
    model = from_dict(json.loads(MODEL_PATH.read_text(encoding="utf-8")))
    if model.version != version:
        raise RuntimeError(f"{MODEL_PATH.name} was trained for scorer {model.version}, not"
                           f" {version}: run `make train-scorer`")
    return model
