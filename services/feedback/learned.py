"""The learned part of the quality scorer: two logistic regressions over the same character
and word n-grams of the text, one for "is this entry worth a reward?" (the reward head),
one for "is this entry spam?" (the spam head, scorer 2026.5 on). Pure Python, no I/O after
the first load, no randomness.

The rules (scoring.py) know what their word lists know; the model has read every entry of
the development half (data/corpus_dev.jsonl) and weighs the fragments of words that
separate the specific entries from the generic ones, and spam from feedback, also those no
list names. Each head's probability is one component of the breakdown, with the words of
the entry that pushed it most as the reason.

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
# The heads, in the order of their coefficients in the model file: each feature is stored
# as [idf, reward coefficient, spam coefficient].
HEADS = ("reward", "spam")
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


# n-gram -> (idf, the reward head's coefficient, the spam head's coefficient)
Weights = dict[str, tuple[float, ...]]
Known = list[tuple[str, float, tuple[float, ...]]]  # n-gram, weighted(counts), its weights


def _known(counts: Mapping[str, int], weights: Weights) -> Known:
    """The known n-grams with their sublinear tf * idf, scaled to unit length."""
    known = [(f, (1 + math.log(c)) * w[0], w) for f, c in counts.items()
             if (w := weights.get(f)) is not None]
    norm = math.sqrt(sum(v * v for _, v, _ in known))
    return [(f, v / norm, w) for f, v, w in known] if norm else []


def _pushes(known: Known, column: int) -> dict[str, float]:
    """Each known n-gram's share of the logit: coefficient * weighted(counts)."""
    return {f: w[column] * v for f, v, w in known}


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
    """One head: its intercept and the column of its coefficient in the (shared) weights."""

    version: str
    intercept: float
    chars: Weights
    pairs: Weights
    column: int = 1

    def read(self, text: str) -> Reading:
        words, chars_known, pairs_known = _weighted(text, self.chars, self.pairs)
        chars = _pushes(chars_known, self.column)
        pairs = _pushes(pairs_known, self.column)
        logit = self.intercept + sum(chain(chars.values(), pairs.values()))
        probability = 1 / (1 + math.exp(-max(-30.0, min(30.0, logit))))
        shown = _WORD_RE.findall(text[:MAX_CHARS].lower())
        return Reading(probability, words, shown, chars, pairs)


# The last few texts read, with the weights they were read with: both heads read the same
# entry one after the other and share the weights, so its n-grams are counted and weighted
# once. (Read only: the lists are shared between the heads.)
_RECENT: dict[tuple[str, int, int], tuple[list[str], Known, Known]] = {}
_RECENT_SIZE = 4


def _weighted(text: str, chars: Weights, pairs: Weights) -> tuple[list[str], Known, Known]:
    key = (text, id(chars), id(pairs))
    found = _RECENT.get(key)
    if found is None:
        words = tokens(text)
        found = (words, _known(char_features(words), chars),
                 _known(word_features(words), pairs))
        if len(_RECENT) >= _RECENT_SIZE:
            _RECENT.clear()
        _RECENT[key] = found
    return found


def from_dict(data: Mapping[str, object], head: str = "reward") -> Model:
    """One head of the model document that tools/train_scorer.py writes."""
    return _head(_weights(data), data, head)


def _weights(data: Mapping[str, object]) -> tuple[Weights, Weights]:
    features: dict[str, list[float]] = data["features"]  # type: ignore[assignment]
    chars = {f[2:]: tuple(v) for f, v in features.items() if f.startswith("c:")}
    pairs = {f[2:]: tuple(v) for f, v in features.items() if f.startswith("w:")}
    return chars, pairs


def _head(weights: tuple[Weights, Weights], data: Mapping[str, object], head: str) -> Model:
    intercepts: dict[str, float] = data["intercepts"]  # type: ignore[assignment]
    return Model(str(data["version"]), float(intercepts[head]), *weights,
                 column=HEADS.index(head) + 1)


@cache
def _shipped() -> tuple[dict[str, object], tuple[Weights, Weights]]:
    data = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    return data, _weights(data)


@cache
def load(version: str, head: str = "reward") -> Model:
    """One head of the shipped model, read once (the heads share its weights); it must have
    been trained for this scorer version."""
    data, weights = _shipped()
    model = _head(weights, data, head)
    if model.version != version:
        raise RuntimeError(f"{MODEL_PATH.name} was trained for scorer {model.version}, not"
                           f" {version}: run `make train-scorer`")
    return model
