"""The learned part of the quality scorer: two logistic regressions over the same character
and word n-grams of the text, one for "is this entry worth a reward?" (the reward head),
one for "is this entry spam?" (the spam head, scorer 2026.5 on). No I/O after the first
load, no randomness; an entry's char n-grams are weighed as numpy arrays (2026.16: a
100-word review's weighing, both heads and their reasons took ~1.3 ms in Python loops over
its ~1,000 n-grams, ~0.3 ms so).

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
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from itertools import chain, pairwise, repeat
from operator import itemgetter, mul, truediv
from pathlib import Path

import numpy as np
import numpy.typing as npt

MODEL_PATH = Path(__file__).parent / "data" / "learned_model.json"

# Only the start of a long text is read: the verdict is made by then, and it bounds the
# time per entry (n-grams grow with the length).
MAX_CHARS = 2000
CHAR_NGRAMS = (2, 5)
# The heads, in the order of their coefficients in the model file: each feature is stored
# as [idf, reward coefficient, spam coefficient].
HEADS = ("reward", "spam")
_WORD_RE = re.compile(r"[^\W_]{1,40}")
# Every digit reads as 0: "size 42" and "size 38" are the same sign of a number. The UTF-8
# bytes are translated: no byte of another character is an ASCII digit, and str.translate
# took a 160-word review 50 us of its tokenising's 80.
_DIGITS = bytes.maketrans(b"123456789", b"000000000")


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


def word_features(words: list[str], signals: Iterable[str] = ()) -> Counter[str]:
    """Words and pairs of neighbouring words, and the rules' signals read like words."""
    counts = Counter(words)
    counts.update(map(" ".join, pairwise(words)))
    counts.update(map(signal_feature, signals))
    return counts


def tokens(text: str) -> list[str]:
    lowered = text[:MAX_CHARS].lower().encode("utf-8", "surrogatepass")
    return _WORD_RE.findall(lowered.translate(_DIGITS).decode("utf-8", "surrogatepass"))


def _read(text: str) -> tuple[list[str], list[str]]:
    """The words as `tokens` gives them, and each as written (lower-cased, its digits
    kept), from one pass of the regex: a digit and "0" are alike to it, so the words fall
    in the same places."""
    shown = _WORD_RE.findall(text[:MAX_CHARS].lower())
    if not shown:
        return [], []
    joined = "\n".join(shown).encode("utf-8", "surrogatepass").translate(_DIGITS)
    return joined.decode("utf-8", "surrogatepass").split("\n"), shown


def raw_features(text: str, signals: Iterable[str] = ()) -> tuple[Counter[str], Counter[str]]:
    """The counts of char n-grams and of word n-grams (with the rules' signals) before
    weighting."""
    words = tokens(text)
    return char_features(words), word_features(words, signals)


def signal_feature(name: str) -> str:
    """A signal of the rules (scoring.signals, 2026.12) as the model reads it: like a word,
    but in a form no word or pair of words can take ("<no-first-person>")."""
    return f"<{name.replace(' ', '-')}>"


def signal_name(feature: str) -> str | None:
    """The signal a feature stands for (signal_feature read back), None for a word."""
    return feature[1:-1].replace("-", " ") if feature.startswith("<") else None


def weighted(counts: Mapping[str, int], idf: Mapping[str, float]) -> dict[str, float]:
    """Sublinear tf * idf over the known features, scaled to unit length (one group)."""
    values = {f: (1 + math.log(c)) * idf[f] for f, c in counts.items() if f in idf}
    norm = math.sqrt(sum(v * v for v in values.values()))
    return {f: v / norm for f, v in values.items()} if norm else {}


# n-gram -> (idf, the reward head's coefficient, the spam head's coefficient)
Weights = dict[str, tuple[float, ...]]
# Words recur across entries: which n-grams of a word the model knows is looked up once per
# word, not once per entry (for this many of the words last seen).
_PER_WORD_LIMIT = 16384


class _Tf(dict[int, float]):
    """Sublinear tf, 1 + log(count), worked out once per count (counts are bounded, as
    only the first MAX_CHARS characters are read)."""

    def __missing__(self, count: int) -> float:
        self[count] = tf = 1 + math.log(count)
        return tf


_TF = _Tf()
_IDF = itemgetter(0)


Indices = npt.NDArray[np.intp]
Floats = npt.NDArray[np.float64]
_NO_ROWS: Indices = np.zeros(0, dtype=np.intp)
# 1 + log(count), as math.log gives it, for every count a char n-gram can reach: the first
# MAX_CHARS characters, lower-cased (which can lengthen them), hold fewer than 2 * MAX_CHARS
# n-grams of one kind; counts beyond the table (none) would read its last value.
_TF_OF_COUNT: Floats = np.array([0.0, *(1 + math.log(c) for c in range(1, 4 * MAX_CHARS + 1))])


class Table:
    """The char n-grams the model knows, with their weights as arrays (an n-gram's row:
    idf, then each head's coefficient), and per word which of them it contains, as row
    indices (in the order of _grams, repeats included, for the counts; once each, ascending,
    for the reasons)."""

    def __init__(self, weights: Weights) -> None:
        self.index = index = {gram: row for row, gram in enumerate(weights)}
        # columns[0] the idf, columns[1] and [2] the heads' coefficients (HEADS order).
        self.columns: Floats = np.array(list(weights.values()), dtype=np.float64).T.copy()

        def rows(grams: Iterable[str], ascending: bool = False) -> Indices:
            found = np.fromiter((index[g] for g in grams if g in index), dtype=np.intp)
            if ascending:
                found.sort()
            found.flags.writeable = False  # cached and shared by every entry with the word
            return found

        self.grams: Callable[[str], Indices] = lru_cache(_PER_WORD_LIMIT)(
            lambda word: rows(_grams(word)))
        self._scratch = threading.local()
        # For the reasons: a word's n-grams once each, and whether it is worth naming.
        self.for_reasons: Callable[[str], tuple[Indices, bool]] = lru_cache(_PER_WORD_LIMIT)(
            lambda word: (rows(_gram_set(word), ascending=True), _telling(word)))

    @property
    def weights(self) -> Weights:
        """Each n-gram's idf and coefficients as the model file gives them, read back from
        the columns (for the tests, which check the arrays against the trainer's sums)."""
        return dict(zip(self.index, map(tuple, self.columns.T.tolist()), strict=True))

    def places(self, rows: Indices, found: Indices) -> Indices:
        """Where each of `found` (rows of the table, all among `rows`) is in `rows`: through
        an array over the whole table, one per thread, written at `rows` only (a binary
        search per n-gram cost a 110-word review 35 us of its 1.2 ms)."""
        place = getattr(self._scratch, "place", None)
        if place is None:
            place = self._scratch.place = np.empty(len(self.index), dtype=np.intp)
        place[rows] = np.arange(rows.size)
        return place[found]

    def weigh(self, words: Sequence[str]) -> Chars:
        """The entry's known char n-grams: sublinear tf * idf, scaled to unit length."""
        found = list(map(self.grams, words))
        rows, counts = np.unique(np.concatenate(found) if found else _NO_ROWS,
                                 return_counts=True)
        values = _TF_OF_COUNT[np.minimum(counts, len(_TF_OF_COUNT) - 1)] * self.columns[0][rows]
        norm = math.sqrt(float(values @ values))
        return Chars(rows, values / norm if norm else values, self)


@dataclass(frozen=True)
class Chars:
    """The known char n-grams of an entry (rows of the table, ascending) with their scaled
    tf * idf."""

    rows: Indices
    scaled: Floats
    table: Table

    def pushes(self, column: int) -> Floats:
        """Each n-gram's share of a head's logit: coefficient * scaled tf * idf."""
        return self.table.columns[column][self.rows] * self.scaled

    def logit_part(self, column: int) -> float:
        return float(self.table.columns[column][self.rows] @ self.scaled)


@dataclass(frozen=True)
class Group:
    """The known word n-grams and signals of an entry, with their weights and their
    sublinear tf * idf scaled to unit length (their share of the features)."""

    grams: list[str]
    weights: list[tuple[float, ...]]
    scaled: list[float]

    @classmethod
    def of(cls, known: Mapping[str, int], weights: Weights) -> Group:
        rows = list(map(weights.__getitem__, known))
        values = list(map(mul, map(_TF.__getitem__, known.values()), map(_IDF, rows)))
        # Summed in the n-grams' order, and each value divided, as `weighted` does: the
        # word n-grams' pushes stay the same to the last bit (the char n-grams', summed as
        # arrays, to 1e-12).
        norm = math.sqrt(sum(map(mul, values, values)))
        scaled = list(map(truediv, values, repeat(norm))) if norm else []
        return cls(list(known), rows, scaled)

    def pushes(self, column: int) -> Iterator[float]:
        """Each known n-gram's share of a head's logit: coefficient * scaled tf * idf."""
        return map(mul, map(itemgetter(column), self.weights), self.scaled)

    def signal_pushes(self, column: int) -> Iterator[tuple[float, str]]:
        """The rules' signals among the known n-grams: each one's push (as `pushes`) and
        name. Where they are is found once per weighing, not per head."""
        return ((self.weights[i][column] * self.scaled[i], name) for i, name in self._signals)

    @cached_property
    def _signals(self) -> list[tuple[int, str]]:
        return [(i, name) for i, name in enumerate(map(signal_name, self.grams))
                if name is not None]


@dataclass(frozen=True)
class Weighing:
    """One entry's n-grams, counted and weighed once for both heads."""

    words: list[str]  # as the model reads them (digits as 0)
    shown: list[str]  # the same words as written, lower-cased
    chars: Chars
    pairs: Group

    @property
    def table(self) -> Table:
        return self.chars.table

    @cached_property
    def written(self) -> dict[str, str]:
        """Each distinct word as first written ("42" for "00")."""
        written: dict[str, str] = {}
        for word, first in zip(self.words, self.shown, strict=True):
            written.setdefault(word, first)
        return written

    @cached_property
    def telling(self) -> tuple[list[str], Indices, Indices, Indices]:
        """The words worth naming in a reason, and for each known char n-gram of theirs: its
        place among the entry's n-grams (`chars.rows`), which of the words has it, and how
        many distinct words of the entry have it."""
        rows = self.chars.rows
        # (A word's digits read as 0 do not change whether it is worth naming.)
        per_word = list(map(self.table.for_reasons, self.written))
        sets, telling = zip(*per_word, strict=True) if per_word else ((), ())
        sizes = [found.size for found in sets]
        # Every word's n-grams placed at once (a call per word cost a long review a tenth
        # of a millisecond).
        places = self.table.places(rows, np.concatenate(sets)) if sets else _NO_ROWS
        owners = np.bincount(places, minlength=len(rows))
        words = [word for word, keep in zip(self.written, telling, strict=True) if keep]
        where = places[np.repeat(telling, sizes)] if sets else _NO_ROWS
        word_of = np.repeat(np.arange(len(words)),
                            [size for size, keep in zip(sizes, telling, strict=True) if keep])
        return words, where, word_of, owners[where]


@dataclass(frozen=True)
class Reading:
    """What one head made of one text."""

    probability: float
    weighing: Weighing
    column: int

    def signal(self, positive: bool) -> str | None:
        """The rules' signal that pushed hardest one way, if any did ("no first person")."""
        pushes = [(push, name) for push, name in self.weighing.pairs.signal_pushes(self.column)
                  if push and (push > 0) == positive]
        return max(pushes, key=lambda pn: (abs(pn[0]), pn[1]))[1] if pushes else None

    def signs(self, positive: bool, limit: int = 3) -> list[str]:
        """The words of the text that pushed hardest one way. Each n-gram's push is shared
        by the words it occurs in, so the words' pushes add up to the model's verdict;
        short function words ("on", "die") weigh too, but explain nothing to a reader."""
        written, push = self.weighing.written, self._word_pushes()
        ranked = sorted((w for w, p in push.items() if (p > 0) == positive and p),
                        key=lambda w: (-abs(push[w]), written[w]))
        return [written[w] for w in ranked[:limit]]

    def _word_pushes(self) -> dict[str, float]:
        """Each telling word's share of the logit: its own push as a word, the pushes of its
        char n-grams divided among the words that have them, half of each pair's."""
        weighing, column = self.weighing, self.column
        words, where, word_of, owners = weighing.telling
        shares = np.bincount(word_of, weights=weighing.chars.pushes(column)[where] / owners,
                             minlength=len(words))
        pairs = dict(zip(weighing.pairs.grams, weighing.pairs.pushes(column), strict=True))
        push = {word: pairs.get(word, 0.0) + share
                for word, share in zip(words, shares.tolist(), strict=True)}
        for pair, value in pairs.items():
            if " " in pair:
                a, b = pair.split(" ")
                share = value / 2
                if a in push:
                    push[a] += share
                if b in push:
                    push[b] += share
        return push


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
    chars: Table
    pairs: Weights
    column: int = 1

    def weigh(self, text: str, signals: Iterable[str] = ()) -> Weighing:
        """The entry's known n-grams and signals, weighed; any head of the same weights can
        judge them."""
        words, shown = _read(text)
        # word_features' counts of the n-grams the model knows, in its order, counted at once
        known_pairs = Counter(filter(self.pairs.__contains__, chain(
            words, map(" ".join, pairwise(words)), map(signal_feature, signals))))
        return Weighing(words, shown, self.chars.weigh(words),
                        Group.of(known_pairs, self.pairs))

    def judge(self, weighing: Weighing) -> Reading:
        if weighing.table is not self.chars:
            raise ValueError("weighed with another model's weights")
        logit = (self.intercept + weighing.chars.logit_part(self.column)
                 + sum(weighing.pairs.pushes(self.column)))
        probability = 1 / (1 + math.exp(-max(-30.0, min(30.0, logit))))
        return Reading(probability, weighing, self.column)

    def read(self, text: str, signals: Iterable[str] = ()) -> Reading:
        return self.judge(self.weigh(text, signals))


def from_dict(data: Mapping[str, object], head: str = "reward") -> Model:
    """One head of the model document that tools/train_scorer.py writes."""
    return _head(_weights(data), data, head)


def _weights(data: Mapping[str, object]) -> tuple[Table, Weights]:
    features: dict[str, list[float]] = data["features"]  # type: ignore[assignment]
    chars = {f[2:]: tuple(v) for f, v in features.items() if f.startswith("c:")}
    pairs = {f[2:]: tuple(v) for f, v in features.items() if f.startswith("w:")}
    return Table(chars), pairs


def _head(weights: tuple[Table, Weights], data: Mapping[str, object], head: str) -> Model:
    intercepts: dict[str, float] = data["intercepts"]  # type: ignore[assignment]
    return Model(str(data["version"]), float(intercepts[head]), *weights,
                 column=HEADS.index(head) + 1)


@cache
def _shipped() -> tuple[dict[str, object], tuple[Table, Weights]]:
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
