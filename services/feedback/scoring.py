"""Offline quality scoring for feedback entries. Pure domain code: no I/O, no randomness.

A score (0-100) is the sum of bonus components (effort, specificity, language, readability,
rating consistency) and penalty components (spam, profanity, near-duplicate), clamped to
0..100. Every component carries a human-readable reason, so moderators can see *why* an
entry got its score. Duplicate detection uses a 64-bit simhash that the service stores per
entry (as a signed BIGINT) and passes back in for the same campaign.

Bump VERSION whenever weights, word lists or thresholds change: stored scores are only
comparable within one version.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise
from typing import Literal

VERSION = "2026.1"

Label = Literal["good", "fair", "poor", "spam"]
Language = Literal["de", "en", "unknown"]

# Calibrated on data/labelled_examples.jsonl: generic one-liners and longer generic praise
# land at 20-50, specific reviews at 55-90.
GOOD_THRESHOLD = 55
FAIR_THRESHOLD = 35
# Penalties at or below these make the entry "spam" whatever its other points are.
SPAM_LABEL_PENALTY = -35
PROFANITY_LABEL_PENALTY = -24
# One edited word moves a short review's simhash by 5-10 bits (up to ~17), while distinct
# reviews stay 15+ bits apart (~32 for unrelated text). Google's classic "<= 3" is for web
# pages with thousands of features; reviews have a few dozen.
DUPLICATE_MAX_DISTANCE = 12
# "super, danke" typed by two customers is a coincidence, not a copy.
DUPLICATE_MIN_WORDS = 6

_UINT64 = 1 << 64
_INT64_MIN = -(1 << 63)


# --- public types ------------------------------------------------------------------------


@dataclass(frozen=True)
class ComponentScore:
    """One line of the breakdown. Bonus components have max > 0; penalties have max == 0."""

    points: int
    max_points: int
    min_points: int
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"points": self.points, "max": self.max_points, "min": self.min_points,
                "reason": self.reason}


@dataclass(frozen=True)
class Fingerprint:
    """The simhash of one entry's normalised text, kept unsigned here."""

    entry_id: str
    simhash: int

    def __post_init__(self) -> None:
        if not 0 <= self.simhash < _UINT64:
            raise ValueError("simhash must be an unsigned 64-bit integer")

    @property
    def signed(self) -> int:
        """The value to store in a PostgreSQL BIGINT (signed 64-bit)."""
        return self.simhash - _UINT64 if self.simhash >= 1 << 63 else self.simhash

    @classmethod
    def from_signed(cls, entry_id: str, value: int) -> Fingerprint:
        if not _INT64_MIN <= value < 1 << 63:
            raise ValueError("value must be a signed 64-bit integer")
        return cls(entry_id, value % _UINT64)

    def distance(self, other: Fingerprint | int) -> int:
        """Hamming distance; takes another fingerprint or an unsigned simhash."""
        other_hash = other.simhash if isinstance(other, Fingerprint) else other
        return (self.simhash ^ other_hash).bit_count()


@dataclass(frozen=True)
class QualityScore:
    score: int
    label: Label
    language: Language
    breakdown: dict[str, ComponentScore] = field(default_factory=dict)
    duplicate_of: str | None = None
    version: str = VERSION

    def as_dict(self) -> dict[str, object]:
        return {
            "score": self.score,
            "label": self.label,
            "components": {name: c.as_dict() for name, c in self.breakdown.items()},
            "language": self.language,
            "duplicate_of": self.duplicate_of,
            "version": self.version,
        }


def fingerprint(entry_id: str, text: str) -> Fingerprint:
    return Fingerprint(entry_id, simhash(text))


def score_feedback(
    text: str,
    rating: int | None,
    answers: Mapping[str, object] | None,
    earlier: Sequence[Fingerprint],
) -> QualityScore:
    """Score one entry. `earlier` holds the fingerprints of the same campaign's older entries."""
    if rating is not None and not 1 <= rating <= 5:
        raise ValueError("rating must be between 1 and 5")
    t = _analyse(_with_answers(text, answers))
    language, language_part = _language(t)
    duplicate_of, duplicate_part = _duplicate(text, earlier)
    breakdown = {
        "effort": _effort(t), "specificity": _specificity(t), "language": language_part,
        "readability": _readability(t), "consistency": _consistency(t, rating),
        "spam": _spam(t), "profanity": _profanity(t), "duplicate": duplicate_part,
    }
    total = max(0, min(100, sum(c.points for c in breakdown.values())))
    return QualityScore(total, _label(total, breakdown), language, breakdown, duplicate_of)


def _label(total: int, breakdown: Mapping[str, ComponentScore]) -> Label:
    if (breakdown["spam"].points <= SPAM_LABEL_PENALTY
            or breakdown["readability"].points < 0
            or breakdown["profanity"].points <= PROFANITY_LABEL_PENALTY):
        return "spam"
    if total >= GOOD_THRESHOLD:
        return "good"
    return "fair" if total >= FAIR_THRESHOLD else "poor"


# --- text analysis (done once per entry) ---------------------------------------------------

# Tokens are capped at 40 characters (longer "words" are split): no real word is longer,
# and it bounds both the per-word caches and regex work on hostile input.
_WORD_RE = re.compile(r"[^\W_]{1,40}(?:['\u2019][^\W_]{1,40})?")
# The lookbehind starts a match only at the beginning of a punctuation run, which keeps
# "!!!!...x" linear instead of retrying from every "!".
_SENTENCE_SPLIT_RE = re.compile(r"(?<![.!?;\n])[.!?;\n]+(?:\s|$)")


@dataclass(frozen=True)
class _Text:
    raw: str
    lower: str
    words: tuple[str, ...]  # lower-cased runs of letters and digits
    alpha: tuple[str, ...]  # the purely alphabetic words
    vocabulary: frozenset[str]
    padded: str  # " w1 w2 ... " so phrases can be found with `in`, not a regex per phrase
    sentences: int  # sentences with at least three words


def _with_answers(text: str, answers: Mapping[str, object] | None) -> str:
    # Free-text survey answers are part of what the customer wrote; numbers and choices
    # are not words and would only inflate the effort.
    extra = [v for v in (answers or {}).values() if isinstance(v, str) and v.strip()]
    return "\n".join([text, *extra]) if extra else text


def _analyse(raw: str) -> _Text:
    lower = raw.lower()
    words = tuple(_WORD_RE.findall(lower))
    alpha = tuple(filter(str.isalpha, words))
    # two inner spaces ~ three words; counting beats splitting every sentence into a list
    sentences = sum(1 for s in _SENTENCE_SPLIT_RE.split(raw) if s.strip().count(" ") >= 2)
    return _Text(raw, lower, words, alpha, frozenset(words), f" {' '.join(words)} ", sentences)


def _mentions(t: _Text, words: frozenset[str], phrases: Iterable[str] = ()) -> list[str]:
    """Which of these words and multi-word phrases occur, sorted for stable reasons."""
    found = set(words & t.vocabulary)
    found.update(p for p in phrases if f" {p} " in t.padded)
    return sorted(found)


def _listed(items: Sequence[str], limit: int = 5) -> str:
    return f" ({', '.join(items[:limit])})" if items else ""


# --- effort ------------------------------------------------------------------------------

EFFORT_MAX = 30
_WORDS_MAX = 25
# 18 words reach ~63% of the word points; past ~60 words more text adds almost nothing,
# so a wall of text cannot buy a good score without specifics.
_WORDS_SCALE = 18.0


def _effort(t: _Text) -> ComponentScore:
    n = len(t.words)
    word_points = _WORDS_MAX * (1 - math.exp(-n / _WORDS_SCALE))
    sentence_points = (EFFORT_MAX - _WORDS_MAX) * min(t.sentences, 3) / 3
    reason = f"{n} words in {t.sentences} full sentence(s)"
    return ComponentScore(round(word_points + sentence_points), EFFORT_MAX, 0, reason)


# --- specificity -------------------------------------------------------------------------

SPECIFICITY_MAX = 35
_TOPIC_POINTS, _TOPIC_CAP = 3, 15
_NUMBER_POINTS = (0, 5, 8)  # none, one, two or more distinct numbers
_COMPARISON_POINTS = 6
_REASON_POINTS = 6

# Matched as word prefixes; stems of up to three letters only with an inflection ("fits",
# "hemming"). Generic words like "order"/"Bestellung"/"shop" are left out on purpose:
# "würde wieder bestellen" says nothing concrete.
_TOPIC_STEMS: tuple[str, ...] = (
    # delivery and parcels
    "liefer", "versand", "paket", "sendung", "zusteller", "spedition", "dhl", "hermes",
    "dpd", "ups", "gls", "karton", "verpack", "deliver", "shipping", "shipped", "courier",
    "parcel", "tracking", "package", "packaging", "doorstep", "depot",
    # returns and refunds
    "retour", "rücksend", "rückerstatt", "umtausch", "gutschrift", "erstatt", "return",
    "refund", "exchange", "replacement", "ersatz", "garantie", "warranty",
    # sizes and fit
    "größe", "groesse", "passform", "ärmel", "länge", "weite", "maße", "size", "fit",
    "sleeve", "waist", "length", "hem", "petite",
    # checkout, payment, price
    "kasse", "checkout", "warenkorb", "bezahl", "zahlung", "paypal", "klarna", "kreditkarte",
    "rechnung", "gutschein", "rabatt", "preis", "kosten", "euro", "cart", "payment", "pay",
    "credit", "invoice", "voucher", "discount", "price", "cost", "apple", "bank",
    # product quality and material
    "qualität", "material", "stoff", "baumwolle", "wolle", "naht", "nähte", "reißverschluss",
    "farbe", "akku", "quality", "fabric", "cotton", "wool", "merino", "seam", "zipper",
    "colour", "color", "battery", "sole", "screw", "schraube", "anleitung", "instruction",
    # service and website
    "kundenservice", "kundendienst", "support", "hotline", "chat", "mitarbeiter", "beratung",
    "service", "agent", "app", "website", "seite", "filter", "formular", "konto", "account",
    "login", "passwort", "password", "browser", "mobile", "produktseite", "beschreibung",
    "description", "foto", "photo", "bild", "image",
    # the product itself
    "kleid", "hemd", "hose", "jeans", "jacke", "mantel", "pullover", "shirt", "schuh",
    "stiefel", "tasche", "rucksack", "knopf", "knöpfe", "sofa", "schrank", "bett", "matratze",
    "lampe", "tasse", "gläser", "flasche", "kopfhörer", "tablet", "handy", "laptop",
    "fernseher", "maschine", "dress", "trousers", "jacket", "coat", "sweater", "jumper",
    "shoe", "boot", "trainer", "sneaker", "bag", "backpack", "button", "bed", "mattress",
    "lamp", "mug", "glass", "bottle", "headphone", "phone", "tv", "blender",
    # when: weekdays and durations make a story checkable
    "montag", "dienstag", "mittwoch", "donnerstag", "freitag", "samstag", "sonntag",
    "werktag", "stunde", "minute", "woche", "monday", "tuesday", "wednesday", "thursday",
    "friday", "saturday", "sunday", "weekday", "hour", "week",
)
# German glues nouns together ("Rücksendeetikett", "Versandkosten"), so these also count
# inside a word.
_COMPOUND_STEMS: tuple[str, ...] = (
    "liefer", "versand", "paket", "sendung", "verpack", "karton", "retour", "rücksend",
    "erstatt", "umtausch", "größe", "groesse", "länge", "zahlung", "bezahl", "preis",
    "kosten", "rechnung", "gutschein", "rabatt", "qualität", "stoff", "naht", "farbe",
    "akku", "service", "beratung", "seite", "formular", "konto", "passwort", "anleitung",
    "schraube", "beschreibung", "foto", "warenkorb", "kasse", "kleid", "hemd", "hose",
    "jacke", "schuh", "tasche", "schrank", "matratze", "maschine", "montag", "dienstag",
    "mittwoch", "donnerstag", "freitag", "samstag", "sonntag", "stunde", "woche",
)
_SHORT_STEM_ENDINGS = frozenset({"", "s", "es", "ed", "ing"})


def _alternation(words: Iterable[str]) -> re.Pattern[str]:
    # Longest first, so the most specific stem wins; one C-level match per new word beats
    # a Python loop over hundreds of stems (the cache only helps with words seen before).
    return re.compile("|".join(map(re.escape, sorted(words, key=lambda w: (-len(w), w)))))


_TOPIC_RE = _alternation(_TOPIC_STEMS)
_COMPOUND_RE = _alternation(_COMPOUND_STEMS)

_NUMBER_WORDS = frozenset({
    "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn", "zwölf",
    "zwanzig", "halb", "hälfte", "two", "three", "four", "five", "six", "seven", "eight",
    "nine", "ten", "twelve", "twenty", "half", "twice",
    # clothing sizes written as letters ("Kleid in S", "the M was too big")
    "xxs", "xs", "s", "m", "l", "xl", "xxl",
})
_COMPARISON_WORDS = frozenset({
    "than", "compared", "instead", "expected", "previous", "better", "worse", "bigger",
    "smaller", "larger", "longer", "shorter", "tighter", "looser", "cheaper", "faster",
    "slower", "earlier", "later", "als", "statt", "anstatt", "erwartet", "verglichen",
    "vorher", "besser", "schlechter", "größer", "kleiner", "länger", "kürzer", "enger",
    "günstiger", "teurer", "schneller", "langsamer", "dunkler", "heller",
})
_COMPARISON_PHRASES = tuple(
    f"{too} {adjective}"
    for too in ("too", "zu")
    for adjective in ("big", "small", "large", "long", "short", "tight", "loose", "groß",
                      "klein", "lang", "kurz", "eng", "weit")
)
_REASON_WORDS = frozenset({
    "because", "since", "therefore", "although", "though", "unfortunately", "weil", "denn",
    "deshalb", "daher", "deswegen", "wegen", "obwohl", "allerdings", "leider", "einziger",
    "einzige", "einziges",
    # a contrast ("fits well, but the sleeves are long") is a weighed judgement too
    "but", "however", "aber", "jedoch", "sondern",
})
_REASON_PHRASES = ("so that", "due to", "only issue", "only problem", "only downside",
                   "which is why")


def _specificity(t: _Text) -> ComponentScore:
    topics = _topics(t.vocabulary)
    numbers = len(t.vocabulary - set(t.alpha)) + len(_NUMBER_WORDS & t.vocabulary)
    compares = bool(_mentions(t, _COMPARISON_WORDS, _COMPARISON_PHRASES))
    reasons = bool(_mentions(t, _REASON_WORDS, _REASON_PHRASES))
    points = (min(_TOPIC_CAP, _TOPIC_POINTS * len(topics)) + _NUMBER_POINTS[min(numbers, 2)]
              + _COMPARISON_POINTS * compares + _REASON_POINTS * reasons)
    reason = (f"{len(topics)} concrete topic(s){_listed(topics)}, {numbers} number(s) or "
              f"size(s), comparison: {_yes(compares)}, reasoning or contrast: {_yes(reasons)}")
    return ComponentScore(points, SPECIFICITY_MAX, 0, reason)


def _topics(vocabulary: Iterable[str]) -> list[str]:
    return sorted({stem for stem in map(_topic_stem, vocabulary) if stem is not None})


@lru_cache(maxsize=16384)
def _topic_stem(word: str) -> str | None:
    prefix = _TOPIC_RE.match(word)
    if prefix and (len(prefix[0]) > 3 or _is_inflection(prefix[0], word)):
        return prefix[0]
    compound = _COMPOUND_RE.search(word)
    return compound[0] if compound else None


def _is_inflection(stem: str, word: str) -> bool:
    rest = word[len(stem):]
    # "hemming", "fitted": English doubles the final consonant before the ending.
    if rest[:1] == stem[-1]:
        rest = rest[1:]
    return rest in _SHORT_STEM_ENDINGS


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


# --- language ----------------------------------------------------------------------------

LANGUAGE_MAX = 10
# Only words that are not also common in the other language: "die", "was", "also", "fast",
# "war", "hat", "will", "bin", "so", "an", "in" are deliberately missing.
_GERMAN = frozenset({
    "der", "das", "und", "ist", "nicht", "ein", "eine", "einen", "einem", "einer", "eines",
    "ich", "sie", "wir", "ihr", "es", "er", "du", "mit", "von", "den", "dem", "des", "zu",
    "auf", "für", "sich", "auch", "noch", "nur", "sehr", "aber", "wie", "bei", "nach",
    "wurde", "wurden", "sind", "waren", "hatte", "habe", "haben", "kann", "können", "muss",
    "mir", "mich", "mein", "meine", "sein", "seine", "dass", "oder", "wenn", "schon",
    "leider", "gut", "gute", "toll", "schnell", "zufrieden", "alles", "bestens", "danke",
    "vielen", "gerne", "wieder", "hier", "kein", "keine", "etwas", "immer", "ganz", "passt",
    "schön", "schöne", "nichts", "über", "uns", "ob", "jetzt", "mal", "doch", "dann",
    "weil", "denn", "obwohl", "trotzdem", "allerdings", "viel", "wirklich", "geht", "ging",
    "gibt", "kam", "kamen", "tage", "woche", "bitte", "im", "vom", "zum", "zur", "beim",
    "aus", "ohne", "um", "dort", "da", "diese", "dieser", "dieses", "wird", "werden",
    "sonst", "jedes", "jeder", "einmal", "schlecht", "prima", "ordnung",
})
_ENGLISH = frozenset({
    "the", "a", "and", "is", "are", "were", "not", "it", "this", "that", "with", "for", "of",
    "to", "i", "me", "my", "you", "your", "he", "she", "they", "we", "our", "them", "have",
    "has", "had", "be", "been", "but", "very", "good", "great", "nice", "love", "liked",
    "like", "would", "could", "should", "can", "get", "got", "do", "did", "does", "just",
    "really", "which", "when", "what", "while", "there", "their", "from", "after", "before",
    "about", "into", "over", "out", "up", "only", "all", "any", "every", "thanks", "thank",
    "happy", "quick", "delivery", "arrived", "item", "product", "its", "it's", "i'm", "i've",
    "didn't", "don't", "doesn't", "wasn't", "too", "on", "at", "by", "or", "no", "yes",
    "if", "than", "then", "some", "more", "much", "well", "fine", "bad", "poor", "perfect",
    "recommend", "again", "one", "please", "because", "though", "even", "still", "these",
    "those", "other", "small", "big",
})
_GERMAN_CHARS = "äöüß"
# Content words dominate long reviews, so a modest share of markers is already telling.
_MIN_LANGUAGE_SHARE = 0.1


def _language(t: _Text) -> tuple[Language, ComponentScore]:
    umlauts = min(3, sum(map(t.lower.count, _GERMAN_CHARS)))
    de = sum(map(_GERMAN.__contains__, t.alpha)) + umlauts
    en = sum(map(_ENGLISH.__contains__, t.alpha))
    share = max(de, en) / max(1, len(t.alpha))
    if de == en or share < _MIN_LANGUAGE_SHARE:
        reason = f"neither German nor English recognised ({de} German, {en} English markers)"
        return "unknown", ComponentScore(0, LANGUAGE_MAX, 0, reason)
    language: Language = "de" if de > en else "en"
    name = "German" if language == "de" else "English"
    reason = f"{name} ({max(de, en)} markers in {len(t.alpha)} words)"
    return language, ComponentScore(LANGUAGE_MAX, LANGUAGE_MAX, 0, reason)


# --- readability / gibberish -------------------------------------------------------------

READABILITY_MAX = 15
GIBBERISH_PENALTY = -50
_VOWELS = "aeiouyäöü"
_KEYBOARD_ROWS = ("qwertzuiop", "qwertyuiop", "asdfghjkl", "yxcvbnm", "zxcvbnm")


def _keyboard_runs() -> frozenset[str]:
    # Top-row 4-grams hide in real words ("Bewertung", "property"), so that row needs 5.
    runs: set[str] = set()
    for row in _KEYBOARD_ROWS:
        size = 5 if row.startswith("q") else 4
        for seq in (row, row[::-1]):
            runs.update(seq[i:i + size] for i in range(len(seq) - size + 1))
    return frozenset(runs)


# "aaaa", "asdasdasd", "fghfgh" or a run along one keyboard row
_MASHING_RE = re.compile(
    r"(.)\1{3,}|([a-z]{2,4})\2{2,}|([a-z]{3,})\3|" + "|".join(sorted(_keyboard_runs()))
)
_VOWEL_SET = frozenset(_VOWELS)
# German trigraphs and digraphs count as one consonant, and compounds join clusters
# ("Kampfsport", "Angstschweiß" have five), so only six in a row look mashed.
_DIGRAPH_RE = re.compile(r"sch|ch|ck|ph|th|sh|ng|qu")
_CONSONANT_RUN_RE = re.compile(r"[bcdfghjklmnpqrstvwxzß]{6,}")


@lru_cache(maxsize=16384)
def _looks_mashed(word: str) -> bool:
    if len(word) < 4:
        return False
    if _VOWEL_SET.isdisjoint(word) or _MASHING_RE.search(word):
        return True
    return _CONSONANT_RUN_RE.search(_DIGRAPH_RE.sub("c", word)) is not None


def _gibberish_signals(t: _Text, mashed: int) -> list[str]:
    signals: list[str] = []
    if t.alpha and mashed / len(t.alpha) >= 0.5:
        signals.append(f"{mashed} of {len(t.alpha)} words look like keyboard mashing")
    if len(t.words) >= 6 and len(t.vocabulary) / len(t.words) < 0.35:
        signals.append(f"only {len(t.vocabulary)} distinct of {len(t.words)} words")
    letters = "".join(t.alpha)
    if len(letters) >= 20 and _char_entropy(letters) < 2.5:
        signals.append("very low character variety")
    if len(letters) >= 12 and not 0.15 <= _vowel_share(letters) <= 0.75:
        signals.append("implausible share of vowels")
    return signals


def _char_entropy(letters: str) -> float:
    n = len(letters)
    distinct = set(letters)
    # str.count per letter is fastest for an alphabet; Counter stays linear for any input.
    counts = map(letters.count, distinct) if len(distinct) <= 64 else Counter(letters).values()
    return -sum(c / n * math.log2(c / n) for c in counts)


def _vowel_share(letters: str) -> float:
    return sum(map(letters.count, _VOWELS)) / len(letters)


def _readability(t: _Text) -> ComponentScore:
    if not t.words:
        return ComponentScore(0, READABILITY_MAX, GIBBERISH_PENALTY, "no words to read")
    odd = sum(map(_looks_mashed, t.alpha))
    signals = _gibberish_signals(t, odd)
    if signals:
        return ComponentScore(GIBBERISH_PENALTY, READABILITY_MAX, GIBBERISH_PENALTY,
                              "gibberish: " + "; ".join(signals))
    # A stray odd word (a typo, a brand name) costs a little; half of them is gibberish.
    points = round(READABILITY_MAX * max(0.0, 1 - 2 * odd / max(1, len(t.alpha))))
    reason = f"reads like language ({odd} odd-looking word(s))"
    return ComponentScore(points, READABILITY_MAX, GIBBERISH_PENALTY, reason)


# --- rating/text consistency -------------------------------------------------------------

CONSISTENCY_MAX = 5
_POSITIVE = frozenset({
    "super", "toll", "perfekt", "prima", "klasse", "hervorragend", "großartig", "begeistert",
    "zufrieden", "empfehlen", "top", "bestens", "liebe", "great", "perfect", "excellent",
    "amazing", "awesome", "love", "loved", "brilliant", "fantastic", "wonderful", "happy",
    "recommend", "impressed",
})
_NEGATIVE = frozenset({
    "schlecht", "schlechter", "enttäuscht", "enttäuschend", "kaputt", "defekt", "mangelhaft",
    "katastrophe", "ärgerlich", "niemals", "bad", "worse", "terrible", "awful", "broken",
    "disappointed", "disappointing", "horrible", "useless", "worst", "annoying",
})
_NEGATORS = frozenset({
    "nicht", "kein", "keine", "nie", "not", "no", "never", "don't", "didn't", "isn't",
    "wasn't",
})


_SENTIMENT = _POSITIVE | _NEGATIVE


def _polarity(t: _Text) -> tuple[int, int]:
    pos = neg = 0
    # Only the few sentiment words present are looked at, not every word of the text.
    for word in t.vocabulary & _SENTIMENT:
        total = t.padded.count(f" {word} ")
        # "nicht zufrieden", "not happy": a negator right before flips the direction
        flipped = sum(t.padded.count(f" {negator} {word} ") for negator in _NEGATORS)
        if word in _POSITIVE:
            pos, neg = pos + total - flipped, neg + flipped
        else:
            pos, neg = pos + flipped, neg + total - flipped
    return pos, neg


def _consistency(t: _Text, rating: int | None) -> ComponentScore:
    if rating is None:
        return ComponentScore(CONSISTENCY_MAX, CONSISTENCY_MAX, 0, "no rating to compare")
    pos, neg = _polarity(t)
    if rating <= 2 and pos >= 2 and neg == 0:
        return ComponentScore(0, CONSISTENCY_MAX, 0, f"{rating} star(s) but clearly praising text")
    if rating >= 4 and neg >= 2 and pos == 0:
        return ComponentScore(0, CONSISTENCY_MAX, 0, f"{rating} stars but clearly negative text")
    return ComponentScore(CONSISTENCY_MAX, CONSISTENCY_MAX, 0, "rating fits the text")


# --- spam --------------------------------------------------------------------------------

SPAM_MIN = -80
_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_TOKEN_EDGES = "()[]<>,;:!?\"'"
_URL_RE = re.compile(
    r"https?://|www\.|[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|de|at|ch|eu|biz|info|ru|io|"
    r"xyz|shop|top|club|me|ly|co|uk|online|site|store)(?:[/?#]|$)"
)
# "+49 176 1234567", "0049 30 1234567", "0176 1234567", "030/1234567"; order numbers
# have no separators. Every branch starts with a literal so the scan can skip ahead quickly.
_PHONE_RE = re.compile(
    r"\+\d{1,3}(?:[\s/.-]?\d{2,}){2,}"
    r"|0(?<!\w0)(?:0\d{1,3}(?:[\s/.-]\d{2,}){2,}|\d{2,4}[\s/-]\d{5,8}\b)"
)
_PERCENT_OFF_RE = re.compile(r"\d\s?%\s?off\b")
_SHOUTING_RE = re.compile(r"[!?]{3,}")
_UPPER_RUN_RE = re.compile(r"[A-ZÄÖÜ]+")
_EMOJI_RE = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf]")
_PROMO_WORDS = frozenset({
    "casino", "crypto", "cryptocurrency", "bitcoin", "forex", "viagra", "replica",
    "replicas", "backlink", "backlinks", "seo", "follower", "followers", "telegram",
    "whatsapp", "loan", "loans", "lottery", "jackpot", "gratis", "krypto", "kryptowährung",
    "rendite", "verdiene", "nebenverdienst", "freispiele", "gewinnspiel",
})
_PROMO_PHRASES = (
    "buy now", "click here", "order now", "sign up now", "register now", "limited offer",
    "today only", "free money", "make money", "earn money", "passive income",
    "guaranteed profit", "guaranteed profits", "trading bot", "work from home", "dm me",
    "message me", "jetzt kaufen", "jetzt anmelden", "jetzt registrieren", "jetzt sichern",
    "hier klicken", "geld verdienen", "kredit ohne schufa", "likes kaufen",
)


def _spam(t: _Text) -> ComponentScore:
    promo = _mentions(t, _PROMO_WORDS, _PROMO_PHRASES)
    promo += ["% off"] if _PERCENT_OFF_RE.search(t.lower) else []
    # Genuine complaints quote links and addresses too ("I wrote to service@..."), so contact
    # details alone stay below the spam label; promotional wording on top crosses it.
    signals = [
        (20 * min(3, len(promo)), f"promotional words{_listed(promo)}"),
        (10 * min(2, _count_links(t.lower)), "links"),
        (10 * _has_email(t.raw), "e-mail address"),
        (10 * _has_phone_number(t.raw), "phone number"),
        (15 * _is_all_caps(t), "written in capitals"),
        (5 * min(2, len(_SHOUTING_RE.findall(t.raw))), "excessive punctuation"),
        (10 * (len(_EMOJI_RE.findall(t.raw)) >= 4), "many emoji"),
    ]
    hits = [name for penalty, name in signals if penalty]
    points = max(SPAM_MIN, -sum(penalty for penalty, _ in signals))
    reason = "spam signals: " + ", ".join(hits) if hits else "no spam signals"
    return ComponentScore(points, 0, SPAM_MIN, reason)


def _count_links(lower: str) -> int:
    # Matching only dotted tokens, anchored, is cheaper and safer than scanning the text.
    tokens = (tok.strip(_TOKEN_EDGES) for tok in lower.split() if "." in tok)
    return sum(1 for tok in tokens if "@" not in tok and _URL_RE.match(tok.rstrip(".")))


def _has_email(raw: str) -> bool:
    tokens = (tok.strip(_TOKEN_EDGES) for tok in raw.split() if "@" in tok)
    return any(_EMAIL_RE.fullmatch(tok.rstrip(".")) for tok in tokens)


def _has_phone_number(raw: str) -> bool:
    # Most reviews have fewer digits than any phone number; skip the costly scan for them.
    digits = sum(map(raw.count, "0123456789"))
    return digits >= 7 and _PHONE_RE.search(raw) is not None


def _is_all_caps(t: _Text) -> bool:
    letters = sum(map(len, t.alpha))
    upper = sum(map(len, _UPPER_RUN_RE.findall(t.raw)))
    return letters >= 12 and upper / letters > 0.7


# --- profanity ---------------------------------------------------------------------------

PROFANITY_MIN = -40
_PROFANITY_POINTS = 12
# One swear word in a detailed complaint is frustration; in a three-word text it is the point.
_RANT_SHARE = 0.2
# (word, matches as prefix). Words that are innocent elsewhere ("dick" = thick in German,
# "Mist", "crap", "damn") are left out: a frustrated but genuine review should not drown.
_PROFANITY: tuple[tuple[str, bool], ...] = (
    ("fuck", True), ("motherfuck", True), ("shit", True), ("bullshit", True),
    ("asshole", True), ("bitch", True), ("bastard", True), ("cunt", True), ("wanker", True),
    ("twat", False), ("scheiß", True), ("scheiss", True), ("arschloch", True),
    ("arsch", False), ("fick", True), ("wichser", True), ("hurensohn", True),
    ("fotze", True), ("verpiss", True), ("drecksladen", False), ("kacke", False),
)
_PROFANITY_ALLOW = frozenset({"shiitake", "fickle", "scheißegal"})
_RAW_TOKEN_RE = re.compile(r"[\w*@$!]{1,40}")
_MASKED_RE = re.compile(r"[*@$!]\w")
_LEET = str.maketrans({"1": "i", "!": "i", "3": "e", "4": "a", "@": "a", "0": "o", "5": "s",
                       "$": "s", "7": "t"})


def _profanity_pattern(word: str, prefix: bool) -> str:
    # Vowels may be dropped or masked ("fck", "f*ck", "sh!t" after de-leeting); consonants
    # only masked, so short innocent words cannot match by accident.
    parts = [re.escape(word[0]) + "+"]
    for ch in word[1:]:
        parts.append(f"[{ch}*]*" if ch in "aeiouäöü" else f"(?:{re.escape(ch)}+|\\*+)")
    return "".join(parts) + (r"\w*" if prefix else "")


_PROFANITY_RE = re.compile("|".join(_profanity_pattern(w, p) for w, p in _PROFANITY))


def _profanity(t: _Text) -> ComponentScore:
    # The plain words suffice unless a symbol masks a letter inside one ("f*ck", "sh!t").
    masked = _MASKED_RE.search(t.lower) is not None
    hits = sum(map(_is_profane, _RAW_TOKEN_RE.findall(t.lower) if masked else t.words))
    if hits and hits / len(t.words) >= _RANT_SHARE:
        reason = f"{hits} profane word(s) in {len(t.words)}: an insult, not feedback"
        return ComponentScore(PROFANITY_MIN, 0, PROFANITY_MIN, reason)
    points = max(PROFANITY_MIN, -_PROFANITY_POINTS * hits)
    reason = f"{hits} profane word(s)" if hits else "no profanity"
    return ComponentScore(points, 0, PROFANITY_MIN, reason)


@lru_cache(maxsize=16384)
def _is_profane(raw_token: str) -> bool:
    token = _deleet(raw_token)
    return token not in _PROFANITY_ALLOW and _PROFANITY_RE.fullmatch(token) is not None


def _deleet(token: str) -> str:
    core = token.strip("!")
    # Only tokens mixing letters with digits or symbols are leetspeak; "2" stays a number.
    if core.isalpha() or not any(ch.isalpha() for ch in core):
        return core
    return core.translate(_LEET)


# --- duplicates --------------------------------------------------------------------------

DUPLICATE_PENALTY = -60
_FOLDS = (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"))
_NORMAL_WORD_RE = re.compile(r"[^\W_]{1,40}")


def normalise(text: str) -> str:
    """Case, umlauts, punctuation and spacing removed: what "the same text" means here."""
    return " ".join(_normal_words(text))


def _normal_words(text: str) -> list[str]:
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    folded = text.casefold()
    if not folded.isascii():
        # str.replace per umlaut is several times faster than a translate table here
        for umlaut, spelled in _FOLDS:
            folded = folded.replace(umlaut, spelled)
    return _NORMAL_WORD_RE.findall(folded)


def simhash(text: str) -> int:
    """Unsigned 64-bit simhash over word unigrams and bigrams of the normalised text.

    Unigrams plus bigrams (rather than only 3-shingles) keep one changed word in a short
    review from moving most of the features; words rather than character shingles keep
    a 1,000-character text well under a millisecond.
    """
    return _simhash_words(_normal_words(text))


def _simhash_words(words: Sequence[str]) -> int:
    unigrams = set(words)
    bigrams = {f"{a} {b}" for a, b in pairwise(words)}
    if not unigrams:
        return 0
    # Words recur across entries and are worth caching; word pairs mostly do not.
    digests = b"".join(map(_cached_feature_hash, unigrams)) + b"".join(map(_feature_hash, bigrams))
    return _majority_bits(digests, len(unigrams) + len(bigrams))


def _feature_hash(feature: str) -> bytes:
    # blake2b, not hash(): str hashes are salted per process and would break stored values.
    return hashlib.blake2b(feature.encode(), digest_size=8, person=b"resonanz.sh").digest()


_cached_feature_hash = lru_cache(maxsize=32768)(_feature_hash)


def _majority_bits(digests: bytes, n: int) -> int:
    """Bit i is set when more than half of the n 8-byte digests have bit i set."""
    # Counting with big-integer AND + bit_count (one column of bytes at a time) keeps the
    # 64 x n bit tally in C; a Python loop over features and bits is ~20x slower.
    masks = [int.from_bytes(bytes([1 << bit]) * n, "big") for bit in range(8)]
    value = 0
    for byte_index in range(8):
        column = int.from_bytes(digests[byte_index::8], "big")
        for bit, mask in enumerate(masks):
            if 2 * (column & mask).bit_count() > n:
                value |= 1 << (8 * (7 - byte_index) + bit)
    return value


def _duplicate(text: str, earlier: Sequence[Fingerprint]) -> tuple[str | None, ComponentScore]:
    none = ComponentScore(0, 0, DUPLICATE_PENALTY, "no near-copy of an earlier entry")
    words = _normal_words(text) if earlier else []
    if len(words) < DUPLICATE_MIN_WORDS:
        return None, none
    own = _simhash_words(words)
    distances = [(fp.simhash ^ own).bit_count() for fp in earlier]
    distance = min(distances)
    if distance > DUPLICATE_MAX_DISTANCE:
        return None, none
    # Closest match wins; on a tie the earliest entry, which is the likely original.
    match = earlier[distances.index(distance)].entry_id
    # Distance 0 is almost always the same text modulo case and punctuation, but a
    # fingerprint cannot prove it, so the reason does not claim more.
    kind = "same fingerprint as" if distance == 0 else "near-copy of"
    reason = f"{kind} entry {match} ({distance} of 64 fingerprint bits differ)"
    return match, ComponentScore(DUPLICATE_PENALTY, 0, DUPLICATE_PENALTY, reason)
