"""The learned part of the quality scorer: a logistic regression, "is this entry worth a
reward?", over character and word n-grams of the text. Pure Python, no I/O after the first
load, no randomness.

The rules (scoring.py) know what their word lists know; the model has read every entry of
the development half (data/corpus_dev.jsonl) and weighs the fragments of words that
separate the specific entries from the generic ones, also those no list names. Its
probability is one component of the breakdown, with the words of the entry that pushed it
most as the reason.

The weights are trained by `make train-scorer` (tools/train_scorer.py, deterministic) on the
development half only, and shipped as data/learned_model.json with the scorer VERSION they
were trained for: a scorer whose VERSION differs refuses to load them, so that scores
stored under one VERSION always come from the same weights.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import chain, pairwise
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
    return Counter(chain.from_iterable(map(_grams, words)))


@lru_cache(maxsize=16384)
def _grams(word: str) -> tuple[str, ...]:
    # Words recur across entries; their n-grams are worth keeping.
    low, high = CHAR_NGRAMS
    padded = f" {word} "
    size = len(padded)
    return tuple(padded[i:i + n] for n in range(low, min(high, size) + 1)
                 for i in range(size - n + 1))


def word_features(words: list[str]) -> Counter[str]:
    """Words and pairs of neighbouring words."""
    counts = Counter(words)
    counts.update(f"{a} {b}" for a, b in pairwise(words))
    return counts


def tokens(text: str) -> list[str]:
    return _WORD_RE.findall(text[:MAX_CHARS].lower().translate(_DIGITS))


def raw_features(text: str) -> tuple[Counter[str], Counter[str]]:
    """The counts of char n-grams and of word n-grams before weighting."""
    words = tokens(text)
    return char_features(words), word_features(words)


def weighted(counts: Mapping[str, int], idf: Mapping[str, float]) -> dict[str, float]:
    """Sublinear tf * idf over the known features, scaled to unit length (one group)."""
    values = {f: (1 + math.log(c)) * idf[f] for f, c in counts.items() if f in idf}
    norm = math.sqrt(sum(v * v for v in values.values()))
    return {f: v / norm for f, v in values.items()} if norm else {}


Weights = dict[str, tuple[float, float]]  # n-gram -> (idf, coefficient)


def _pushes(counts: Mapping[str, int], weights: Weights) -> dict[str, float]:
    """Each known n-gram's share of the logit: coefficient * weighted(counts)."""
    known = [(f, (1 + math.log(c)) * w[0], w[1]) for f, c in counts.items()
             if (w := weights.get(f)) is not None]
    norm = math.sqrt(sum(v * v for _, v, _ in known))
    return {f: coef * (v / norm) for f, v, coef in known} if norm else {}


@dataclass(frozen=True)
class Reading:
    """What the model made of one text."""

    probability: float
    words: list[str]  # as the model read them (digits as 0)
    shown: list[str]  # the same words as written
    chars: dict[str, float]  # known char n-gram -> its push on the logit
    pairs: dict[str, float]  # known word or word pair -> its push

    def signs(self, positive: bool, limit: int = 3) -> list[str]:
        """The words of the text that pushed hardest one way. Each n-gram's push is shared
        by the words it occurs in, so the words' pushes add up to the model's verdict;
        short function words ("on", "die") weigh too, but explain nothing to a reader."""
        written: dict[str, str] = {}  # each word as first written ("42" for "00")
        for word, shown in zip(self.words, self.shown, strict=True):
            written.setdefault(word, shown)
        owners: Counter[str] = Counter()
        for word in written:
            owners.update(_gram_set(word))
        push = {word: self.pairs.get(word, 0.0)
                + sum(self.chars.get(g, 0.0) / owners[g] for g in _gram_set(word))
                for word in written}
        for a, b in dict.fromkeys(pairwise(self.words)):
            share = self.pairs.get(f"{a} {b}", 0.0) / 2
            push[a] += share
            push[b] += share
        ranked = sorted((w for w, p in push.items()
                         if (p > 0) == positive and p and _telling(written[w])),
                        key=lambda w: (-abs(push[w]), written[w]))
        return [written[w] for w in ranked[:limit]]


@lru_cache(maxsize=16384)
def _gram_set(word: str) -> frozenset[str]:
    return frozenset(_grams(word))


_FUNCTION_WORDS = frozenset({
    "the", "and", "was", "were", "are", "you", "this", "that", "with", "for", "from", "but",
    "not", "have", "has", "had", "our", "its", "they", "them", "very", "der", "die", "das",
    "den", "dem", "des", "und", "ist", "war", "auf", "mit", "von", "ich", "sie", "wir",
    "ein", "eine", "einen", "nicht", "aber", "auch", "noch", "sehr", "bei", "aus", "nach",
    "zum", "zur", "mir", "mich", "hat", "habe", "wie", "sich", "dass",
})


def _telling(word: str) -> bool:
    return (len(word) >= 3 or word.isdigit()) and word not in _FUNCTION_WORDS


@dataclass(frozen=True)
class Model:
    version: str
    intercept: float
    chars: Weights
    pairs: Weights

    def read(self, text: str) -> Reading:
        words = tokens(text)
        chars = _pushes(char_features(words), self.chars)
        pairs = _pushes(word_features(words), self.pairs)
        logit = self.intercept + sum(chain(chars.values(), pairs.values()))
        probability = 1 / (1 + math.exp(-max(-30.0, min(30.0, logit))))
        shown = _WORD_RE.findall(text[:MAX_CHARS].lower())
        return Reading(probability, words, shown, chars, pairs)


def from_dict(data: Mapping[str, object]) -> Model:
    features: dict[str, list[float]] = data["features"]  # type: ignore[assignment]
    chars = {f[2:]: (v[0], v[1]) for f, v in features.items() if f.startswith("c:")}
    pairs = {f[2:]: (v[0], v[1]) for f, v in features.items() if f.startswith("w:")}
    return Model(str(data["version"]), float(data["intercept"]),  # type: ignore[arg-type]
                 chars, pairs)


@cache
def load(version: str) -> Model:
    """The shipped model, read once; it must have been trained for this scorer version."""
    model = from_dict(json.loads(MODEL_PATH.read_text(encoding="utf-8")))
    if model.version != version:
        raise RuntimeError(f"{MODEL_PATH.name} was trained for scorer {model.version}, not"
                           f" {version}: run `make train-scorer`")
    return model
