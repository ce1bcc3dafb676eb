"""Offline quality scoring for feedback entries. Pure domain code: no randomness, no I/O but
reading the learned component's weights once (data/learned_model.json).

A score (0-100) is the sum of bonus components and penalty components, clamped to 0..100.
The bonuses reward substance rather than length: specificity (concrete, checkable
references: a part or attribute of the product, a step or control of the journey, a payment
method, carrier, device, browser or error, numbers and sizes), experience (a problem
observed, a suggestion, a weighed judgement), then effort (capped low, so length alone
cannot buy a reward), language, readability and rating consistency. The penalties are
boilerplate (template praise, machine-written or marketing text), spam (links, offers,
contact handles, test strings, digit runs, copied product text, insults without content),
profanity and near-duplicates. Every component carries a human-readable reason: the
breakdown is shown to shop teams, so they can see *why* an entry got its score.

Beside the rules, a learned component (learned.py: a logistic regression over character and
word n-grams, trained on the development half by `make train-scorer`) moves the score by up
to 40 points either way, by how likely it finds the entry worth a reward; its reason names
the words that weighed most. On entries the rules had not been tuned on it decided the
reward better than they did (docs/benchmarks.md "Quality scoring"); the rules keep their
say near the threshold. From 2026.5 a second head of the model, trained the same way for
"spam or not", adds penalty points to the rules' spam signals when it is fairly sure
(learned_spam); from 2026.11 it may call an entry of eight words or more spam on its own,
shorter ones only with a rule or register signal beside it. From 2026.6 the register
component adds the shape of product, advertising and offer text (no first person and no
order or use of the product, but the reader addressed, calls to act, a business speaking of
itself, specifications, advertising words, lists) to the same spam decision; from 2026.7 it
lowers the score only when two or more such signs are found. From 2026.12 the learned heads
also read the rules' signals beside the n-grams (first person or not, an order or use
told, something specific, an experience, the length, the register's kinds): product text
is as specific as a good report, and the n-grams alone took it for one.

How well it works is measured on a labelled corpus with a held-out half (data/README.md,
`make score-report`, docs/benchmarks.md "Quality scoring"). Duplicate detection uses a
64-bit simhash that the service stores per entry (as a signed BIGINT) and passes back in
for the same campaign.

Bump VERSION whenever weights, word lists or thresholds change, and retrain the learned
component (`make train-scorer`: the model file names the VERSION it was trained for and
refuses to load for another one). Stored scores carry the version they were computed with,
and `python -m resonanz.feedback rescore --tenant <id>` recomputes a tenant's older ones.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from itertools import chain, pairwise
from typing import Literal

import numpy as np
import numpy.typing as npt

# Absolute, so that tools/score_report.py --scorer can load this file by its path.
from resonanz.feedback import learned

VERSION = "2026.33"

Label = Literal["good", "fair", "poor", "spam"]
Language = Literal["de", "en", "unknown"]

# Tuned on data/corpus_dev.jsonl only (2026.3: 516 rows): generic one-liners and longer
# generic praise land at 17-53, short specific reports at 54-75, detailed ones at 75-97.
GOOD_THRESHOLD = 54
FAIR_THRESHOLD = 35
# Penalties at or below these make the entry "spam" whatever its other points are.
# (2026.11: -30, was -35; with the spam head's new scale below, chosen on the development
# half out of fold: docs/benchmarks.md "Quality scoring", 2026.11.)
SPAM_LABEL_PENALTY = -30
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


Window = npt.NDArray[np.uint64]


def fingerprint_window(stored: Sequence[int]) -> Window:
    """A campaign's latest fingerprints as PostgreSQL stores them (signed BIGINT), as the
    unsigned 64-bit values `closest` compares."""
    return np.array(stored, dtype=np.int64).view(np.uint64)


def closest(simhash: int, window: Window, max_distance: int) -> int | None:
    """Where in `window` (newest first) the fingerprint closest to `simhash` within
    `max_distance` bits is, the earliest on a tie; None when none is that close. How the
    intake finds an entry's near-duplicate in its campaign: the window is made once per
    campaign and compared with each of its new entries (an XOR and a bit count in numpy,
    a twentieth of the time of a Python loop over its 500 fingerprints)."""
    if not window.size:
        return None
    distances = np.bitwise_count(window ^ np.uint64(simhash % _UINT64))
    at = window.size - 1 - int(np.argmin(distances[::-1]))
    return at if distances[at] <= max_distance else None


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
    (specificity, concrete), experience = _specificity(t), _experience(t)
    substance = specificity.points + experience.points
    kinds, shop = _register_kinds(t)
    # Both heads judge the same n-grams and signals, counted and weighed once.
    weighing = learned.load(VERSION).weigh(
        t.raw, _signals(t, kinds, specificity.points, experience.points))
    register, register_doubt = _register(t, kinds, shop)
    spam, off_topic_doubt = _spam(t, substance, experience.points)
    breakdown = {
        "effort": _effort(t), "specificity": specificity, "experience": experience,
        "language": language_part, "readability": _readability(t),
        "consistency": _consistency(t, rating),
        "boilerplate": _boilerplate(t, concrete),
        "spam": spam, "register": register,
        "profanity": _profanity(t),
        "duplicate": duplicate_part,
        "learned": _learned(weighing) if duplicate_of is None else _NOT_ASKED,
        "learned_spam": _learned_spam(weighing, t),
    }
    total = max(0, min(100, sum(c.points for c in breakdown.values())))
    return QualityScore(total, _label(total, breakdown, register_doubt + off_topic_doubt),
                        language, breakdown,
                        duplicate_of)


def _label(total: int, breakdown: Mapping[str, ComponentScore], doubt: int) -> Label:
    # The spam model and (2026.6) the register add their doubt to the rules' signals: the
    # rules alone may suffice, the model alone only when sure of an entry of eight words or
    # more (2026.11), the register alone only with two kinds of product or advertising text
    # found. (2026.7: one kind costs the score nothing, but its doubt still counts here.)
    # `doubt`: what counts beyond the components' points, the register's and (2026.22) that
    # of an entry about something else than a purchase, never enough alone.
    if (breakdown["spam"].points + breakdown["learned_spam"].points
            + doubt <= SPAM_LABEL_PENALTY
            or breakdown["readability"].points < 0
            or breakdown["profanity"].points <= PROFANITY_LABEL_PENALTY
            or breakdown["boilerplate"].points <= BOILERPLATE_LABEL_PENALTY):
        return "spam"
    if total >= GOOD_THRESHOLD:
        return "good"
    # Below the reward, fair and poor tell effort apart as the rules see it: the model only
    # judges "worth a reward or not", and pulls every entry it rejects towards 0.
    rules = sum(c.points for name, c in breakdown.items() if name not in _LEARNED)
    return "fair" if rules >= FAIR_THRESHOLD else "poor"


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

    @cached_property
    def tells_of_use(self) -> bool:
        """Whether the text tells of an order or of using something (_EXPERIENCE_STEMS):
        asked by the learned heads' signals and by the register."""
        return _EXPERIENCE_RE.search(self.padded) is not None

    @cached_property
    def places(self) -> dict[str, list[int]]:
        """Where in `words` each word stands."""
        places: dict[str, list[int]] = {}
        for i, word in enumerate(self.words):
            places.setdefault(word, []).append(i)
        return places

    @cached_property
    def field_names(self) -> int:
        """How many "Name: " fields the text has, as a spec sheet or a policy lists them."""
        return len(_SPEC_KEY_RE.findall(self.raw))


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


class _Phrases:
    """Multi-word phrases, found as runs of the text's words: from the first word on, at
    each word the longest phrase that starts there, then on after it (the phrases found
    do not overlap). Only texts with a phrase's first word are walked at all; one regex of
    every phrase over the text, which this replaces and matched the same, cost a tenth of
    the scorer's time."""

    def __init__(self, phrases: Iterable[str]) -> None:
        by_first: dict[str, list[tuple[str, ...]]] = {}
        for phrase in sorted(set(phrases)):
            words = tuple(phrase.split(" "))
            if not all(words):
                raise ValueError(f"not a phrase of words: {phrase!r}")
            by_first.setdefault(words[0], []).append(words)
        self._by_first = {first: sorted(runs, key=len, reverse=True)
                          for first, runs in by_first.items()}
        self._firsts = frozenset(by_first)

    def found(self, t: _Text) -> set[str]:
        firsts = self._firsts & t.vocabulary
        if not firsts:
            return set()
        # Only where a phrase's first word stands can one start: the walk jumps from one
        # such place to the next (a step at a time over a 160-word review cost 20 us).
        words, by_first, found = t.words, self._by_first, set()
        starts = t.places
        after = 0  # the first word after the last phrase found
        for i in sorted(chain.from_iterable(starts[first] for first in firsts)):
            if i < after:
                continue
            for run in by_first[words[i]]:
                if words[i:i + len(run)] == run:
                    found.add(" ".join(run))
                    after = i + len(run)
                    break
        return found


def _mentions(t: _Text, words: frozenset[str], phrases: _Phrases | None = None) -> list[str]:
    """Which of these words and multi-word phrases occur, sorted for stable reasons."""
    found = set(words & t.vocabulary)
    if phrases is not None:
        found |= phrases.found(t)
    return sorted(found)


def _listed(items: Sequence[str], limit: int = 5) -> str:
    return f" ({', '.join(items[:limit])})" if items else ""


# --- the learned component --------------------------------------------------------------

# Probability 0.5 adds nothing; 0 or 1 moves the score by this much. Chosen on the
# development half (docs/benchmarks.md): large enough that the model overrules the rules
# when it is sure, as it generalised better than they did to entries neither had seen.
LEARNED_MAX = 40


# A copy is worth what its original was, whatever the model thinks of the text: it would
# otherwise win back most of the duplicate penalty.
_NOT_ASKED = ComponentScore(0, LEARNED_MAX, -LEARNED_MAX,
                            "learned model not asked: a near-copy of an earlier entry")


_LEARNED = frozenset({"learned", "learned_spam"})


def signals(text: str) -> tuple[str, ...]:
    """What the rules see in an entry that the learned heads read beside its n-grams
    (2026.12): what tells a customer's report from copied product or advertising text,
    which n-grams alone miss (product text is as specific as a good report)."""
    t = _analyse(text)
    kinds, _ = _register_kinds(t)
    return _signals(t, kinds, _specificity(t)[0].points, _experience(t).points)


def _signals(t: _Text, kinds: Iterable[str], specificity: int, experience: int
             ) -> tuple[str, ...]:
    """`kinds`: the names of the register's kinds found (_register_kinds' keys)."""
    n = len(t.words)
    return ("first person" if _FIRST_SINGULAR & t.vocabulary else "no first person",
            "tells of an order or use" if t.tells_of_use
            else "tells of no order or use",
            "something specific" if specificity > 0 else "nothing specific",
            "an experience" if experience > 0 else "no experience",
            "under 8 words" if n < 8 else "8 to 29 words" if n < 30 else "30 words or more",
            *kinds)


# 2026.22: what every entry about a purchase has, however generic: a word of the shop, the
# product, the order or its parts, or of judging them ("super", "passt", "broken"). An entry
# of four words or more without any, and with little of substance, is likely about
# something else: the weather, a birthday, a question to other readers, a joke, a plug for
# another seller (the spam new writers most often got past the scorer). It adds
# OFF_TOPIC_DOUBT to the spam decision: alone it decides nothing (SPAM_LABEL_PENALTY), with
# the spam head leaning towards spam or another spam signal it does. Chosen on the
# development half with each writer's rows scored by heads trained on the other fourteen
# writers' rows (docs/benchmarks.md "Quality scoring", 2026.22).
_OFF_TOPIC_MIN_WORDS = 4
_OFF_TOPIC_MAX_SUBSTANCE = 10
OFF_TOPIC_DOUBT = 25
_PURCHASE_WORDS = frozenset({
    # German (and "service", "ok", "okay" in English too)
    "shop", "onlineshop", "laden", "händler", "verkäufer", "firma", "seite", "produkt",
    "produkte", "artikel", "ware", "waren", "sortiment", "bestellung", "bestellungen",
    "bestellen", "kauf", "kaufen", "lieferung", "geliefert", "erhalten", "qualität", "preis",
    "service", "kundenservice", "danke", "dank", "empfehlen", "weiterempfehlen", "zufrieden",
    "gefällt", "gefallen", "passt", "funktioniert", "gut", "gute", "guter", "gutes", "ok",
    "okay", "naja", "schnell", "schnelle", "pünktlich", "teuer", "günstig", "billig",
    "lecker", "schön", "schöne", "mangelhaft", "enttäuscht", "zurück", "nochmal", "wieder",
    "sterne", "stern", "bewertung", "beste", "besten", "spitze", "top", "klasse", "prima",
    "einwandfrei", "freundlich", "bequem", "marke", "erwartet", "erwartung", "erwartungen",
    "geschenk",
    # 2026.23: words that judge a product ("Mein Hund liebt es", "Rubbish, do not buy")
    "liebt", "lieben", "mag", "gefreut", "freut", "spaß", "nett", "geil", "geiles",
    "spannend", "spannendes", "empfehle", "zeug", "verspricht", "schrott",
    # English
    "store", "seller", "site", "website", "product", "products", "item", "items", "order",
    "orders", "delivery", "quality", "price", "thanks", "thank", "recommend",
    "recommended", "satisfied", "works", "worked", "fits", "fit", "good", "nice", "fine",
    "fast", "quick", "cheap", "expensive", "tasty", "stars", "star", "again",
    "review", "money", "value", "refund", "best", "friendly", "process", "brand", "comfy",
    "expect", "expected", "expectations", "gift",
    # 2026.23
    "buy", "rubbish", "likes", "loves", "adore", "adores", "fun", "cute", "worth", "needed",
    "says",
})


def _off_topic(t: _Text, substance: int) -> bool:
    return (len(t.words) >= _OFF_TOPIC_MIN_WORDS and substance <= _OFF_TOPIC_MAX_SUBSTANCE
            and not _of_a_purchase(t))


def _of_a_purchase(t: _Text, vocabulary: frozenset[str] | None = None, *,
                   details: bool = True) -> bool:
    """Whether the entry speaks of the shop, a product or an order, or judges one; with
    `vocabulary`, in those of its words alone; without `details`, a named part or day
    ("lid", "Monday") alone does not count."""
    if vocabulary is None:
        vocabulary = t.vocabulary
    return (not _PURCHASE_WORDS.isdisjoint(vocabulary) or not _SENTIMENT.isdisjoint(vocabulary)
            or t.tells_of_use
            or any((details and _concrete_stem(w)) or _generic_stem(w) or _problem_stem(w)
                   for w in vocabulary))


# 2026.5: the spam head. Up to this probability it says nothing; from there to 1 it adds
# up to SPAM_HEAD_MAX penalty points to the rules' spam signals (the label is spam when
# both together reach SPAM_LABEL_PENALTY). For short entries SPAM_HEAD_MAX was below that
# until 2026.15, so the model alone never called them spam: out of fold it was sure of
# short genuine praise ("Five stars, no complaints at all.": 0.87). 2026.11: from entries of
# eight words on (where the register judges too), a sure head decides alone
# (SPAM_HEAD_MAX_LONG), and it speaks from 0.35 (was 0.6 and 30 points for all). Chosen on
# out-of-fold probabilities of the development half, three fold assignments: spam recall 0.895 ->
# 0.934-0.954 at precision 0.993-1.000 (docs/benchmarks.md "Quality scoring", 2026.11).
# 2026.15: the head's maxima chosen on the development half with each writer's rows scored
# by heads trained on the other writers' rows (nine writers), which is how the scorer meets
# a new writer's spam, among the settings that keep the scorer's hand-written genuine
# examples out of spam: spam recall there 0.918 -> 0.952 at precision 0.984 -> 0.966. A
# head sure beyond 0.63 now calls an entry of 8 words or more spam alone, and one sure
# beyond 0.92 a shorter one (docs/benchmarks.md "Quality scoring", 2026.15).
SPAM_HEAD_FROM = 0.35
SPAM_HEAD_MAX = 34
SPAM_HEAD_MAX_LONG = 70
_SPAM_HEAD_LONG_WORDS = 8


def _learned_spam(weighing: learned.Weighing, t: _Text) -> ComponentScore:
    reading = learned.load(VERSION, "spam").judge(weighing)
    probability = reading.probability
    most = SPAM_HEAD_MAX_LONG if len(t.words) >= _SPAM_HEAD_LONG_WORDS else SPAM_HEAD_MAX
    points = -round(most * max(0.0, (probability - SPAM_HEAD_FROM) / (1 - SPAM_HEAD_FROM)))
    signs = ", ".join(f"'{s}'" for s in reading.signs(True)) if points else ""
    signal = reading.signal(True) if points else None
    reason = (f"learned spam model: {probability:.2f} that it is spam"
              + (f" (strongest signs: {signs})" if signs else "")
              + (f"; of the rules' signals: {signal}" if signal else ""))
    return ComponentScore(points, 0, -most, reason)


def _learned(weighing: learned.Weighing) -> ComponentScore:
    reading = learned.load(VERSION).judge(weighing)
    probability = reading.probability
    points = round(LEARNED_MAX * (2 * probability - 1))
    leaning = "for" if probability >= 0.5 else "against"
    signs = ", ".join(f"'{s}'" for s in reading.signs(probability >= 0.5))
    signal = reading.signal(probability >= 0.5)
    reason = (f"learned model: {probability:.2f} that it is worth a reward"
              + (f" (strongest signs {leaning}: {signs})" if signs else " (no word stood out)")
              + (f"; of the rules' signals: {signal}" if signal else ""))
    return ComponentScore(points, LEARNED_MAX, -LEARNED_MAX, reason)


# --- effort ------------------------------------------------------------------------------

EFFORT_MAX = 15
# 12 words reach ~63% of the points; past ~40 words more text adds almost nothing, so
# length alone cannot buy a reward: substance (specificity, experience) has to.
_WORDS_SCALE = 12.0


def _effort(t: _Text) -> ComponentScore:
    n = len(t.words)
    points = round(EFFORT_MAX * (1 - math.exp(-n / _WORDS_SCALE)))
    reason = f"{n} words in {t.sentences} full sentence(s)"
    return ComponentScore(points, EFFORT_MAX, 0, reason)


# --- specificity: concrete, checkable references -------------------------------------------

SPECIFICITY_MAX = 35
_CONCRETE_POINTS, _CONCRETE_CAP = 10, 25
_NUMBER_POINTS = (0, 12, 16)  # none, one, two or more distinct numbers or sizes
_ATTRIBUTE_POINTS, _ATTRIBUTE_CAP = 4, 8
_GENERIC_POINTS, _GENERIC_CAP = 2, 4

# Things a shop team can look at: parts and attributes of a product, a step or control of
# the journey (checkout, cart, payment method, tracking, return label), a carrier, a device
# or browser, an error, a day. Matched as word prefixes (stems of up to three letters only
# with an inflection: "zips", "apps").
_CONCRETE_STEMS: tuple[str, ...] = (
    # the journey and its controls
    "checkout", "kasse", "warenkorb", "cart", "basket", "bezahlbutton", "button", "knopf",
    "paypal", "klarna", "kreditkarte", "creditcard", "lastschrift", "vorkasse", "sofortüberw",
    "invoice", "rechnung", "gutschein", "voucher", "coupon", "promo", "rabattcode", "code",
    "login", "logout", "eingeloggt", "ausgeloggt", "passwort", "password", "konto", "account",
    "app", "website", "webseite", "homepage", "produktseite", "seite", "page", "suche",
    "search", "filter", "formular", "größentabelle", "sizechart", "guide", "tabelle",
    "tracking", "sendungsverfolgung", "trackingnummer", "retourenlabel", "rücksendeetikett",
    "etikett", "label", "qr", "refund", "rückerstatt", "erstattung", "gutschrift", "umtausch",
    "exchange", "lieferslot", "slot", "zeitfenster", "packstation", "paketstation",
    "postnummer", "filiale", "abo", "subscription", "newsletter", "bestätigung",
    "confirmation", "hotline", "chat", "agent", "mitarbeiterin", "monteur", "fahrer",
    "driver", "spedition", "dhl", "hermes", "dpd", "gls", "ups", "courier", "kurier",
    "nachbar", "neighbour", "express", "mwst", "mehrwertsteuer", "vat", "pfand", "pauschale",
    "gebühr", "fee", "mahnung", "reminder", "datenschutz",
    # errors and devices
    "fehler", "error", "fehlermeldung", "safari", "chrome", "firefox", "browser", "iphone",
    "ipad", "android", "samsung", "pixel", "windows", "mac", "ios", "tablet", "laptop",
    "handy", "mobile", "desktop", "bluetooth", "wlan", "wifi", "usb", "hdmi", "firmware",
    "update", "pdf", "router", "akku", "battery", "display", "screen", "bildschirm", "kabel",
    "cable", "stecker", "plug", "steckdose", "ladegerät", "charger", "netzteil", "adapter",
    "tastatur", "keyboard", "taste", "fernbedienung", "remote", "mikrofon", "microphone",
    "kamera", "camera", "objektiv", "lens", "software", "menü", "menu",
    # parts and attributes
    "größe", "groesse", "size", "passform", "länge", "length", "weite", "waist", "bund",
    "ärmel", "sleeve", "kragen", "collar", "saum", "hem", "naht", "nähte", "seam",
    "reißverschluss", "zipper", "zip", "lining", "tasche", "pocket", "kapuze",
    "hood", "sohle", "sole", "ferse", "heel", "schnürsenkel", "laces", "riemen", "strap",
    "träger", "gurt", "schnalle", "buckle", "clip", "stoff", "fabric", "baumwolle", "cotton",
    "wolle", "wool", "merino", "leinen", "linen", "kaschmir", "leder", "leather",
    "polyester", "viskose", "farbe", "colour", "color", "farbton", "muster", "pattern",
    "schraube", "screw", "dübel", "dowel", "scharnier", "hinge", "schublade", "drawer",
    "schiene", "griff", "handle", "platte", "lattenrost", "bezug", "polster", "cushion",
    "kissen", "deckel", "lid", "cap", "glas", "jar", "dose", "can", "kühlakku", "kühlbox",
    "kühlpad", "mhd", "haltbarkeit", "zutat", "ingredient", "laktose", "lactose", "gluten",
    "zucker", "sugar", "salz", "salt", "röstung", "roast", "anleitung", "instruction",
    "manual", "bohrschablone", "ventil", "valve", "heringe", "peg", "stange", "pole",
    "clamp", "klemme", "fassung", "mechanism", "mechanismus", "motor", "magnet", "kork",
    "cork", "knöpfe", "buttons", "filz", "felt", "gürtelschlaufe", "loop", "cutout",
    "innensohle", "insole", "fotos", "photos", "foto", "photo", "bild", "beschreibung",
    "description",
    # days
    "montag", "dienstag", "mittwoch", "donnerstag", "freitag", "samstag", "sonntag",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "heiligabend", "weihnachten",
)
# German glues nouns together ("Rücksendeetikett", "Versandkostenpauschale"), so these also
# count inside a word (only stems long enough not to hide in unrelated words).
_CONCRETE_COMPOUNDS: tuple[str, ...] = (
    "kasse", "warenkorb", "rechnung", "gutschein", "passwort", "konto", "seite", "tabelle",
    "etikett", "label", "erstattung", "gutschrift", "umtausch", "fehler", "display", "kabel",
    "stecker", "größe", "länge", "ärmel", "kragen", "naht", "verschluss", "tasche",
    "sohle", "riemen", "schnalle", "farbe", "schraube", "scharnier", "schublade", "platte",
    "deckel", "anleitung", "beschreibung", "foto", "montag", "dienstag", "mittwoch",
    "donnerstag", "freitag", "samstag", "sonntag", "akku", "pauschale", "gebühr", "zahlung",
    "bezahl", "verfolgung",
)
# What generic praise names too ("schnelle Lieferung, gute Qualität"): a little credit, as
# the topic is at least named, but no reward on its own.
_GENERIC_STEMS: tuple[str, ...] = (
    "liefer", "versand", "paket", "sendung", "verpack", "karton", "deliver", "shipping",
    "shipped", "parcel", "package", "packaging", "retour", "rücksend", "return", "qualität",
    "quality", "material", "preis", "price", "kosten", "cost", "service", "support",
    "kundenservice", "kundendienst", "beratung", "zahlung", "bezahl", "payment",
)
_SHORT_STEM_ENDINGS = frozenset({"", "s", "es", "ed", "ing", "e", "en", "n"})


def _alternation(words: Iterable[str]) -> re.Pattern[str]:
    # Longest first, so the most specific stem wins; one C-level match per new word beats
    # a Python loop over hundreds of stems (the cache only helps with words seen before).
    return re.compile("|".join(map(re.escape, sorted(set(words), key=lambda w: (-len(w), w)))))


_CONCRETE_RE = _alternation(_CONCRETE_STEMS)
_CONCRETE_COMPOUND_RE = _alternation(_CONCRETE_COMPOUNDS)
_GENERIC_RE = _alternation(_GENERIC_STEMS)

_NUMBER_WORDS = frozenset({
    "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn", "zwölf",
    "zwanzig", "halb", "halbe", "hälfte", "zweimal", "dreimal", "two", "three", "four",
    "five", "six", "seven", "eight", "nine", "ten", "twelve", "twenty", "half", "twice",
    # clothing sizes written as letters ("Kleid in S", "the M was too big")
    "xxs", "xs", "s", "m", "l", "xl", "xxl",
})
# How a thing is, physically: weaker than naming a part, but checkable ("fällt schmal aus",
# "boxy, not slim", "das Glas war klebrig"). Comfort words ("bequem", "comfy") are left out:
# generic praise uses them all the time.
_ATTRIBUTE_WORDS = frozenset({
    "schmal", "breit", "eng", "weit", "dick", "dünn", "schwer", "leicht", "weich", "hart",
    "steif", "dicht", "kalt", "heiß", "laut", "leise", "hell", "dunkel", "glatt", "rau",
    "klebrig", "salzig", "bitter", "sauer", "fruchtig", "knusprig", "mehlig", "wasserdicht",
    "winddicht", "atmungsaktiv", "stabil", "wackelig", "durchsichtig", "transparent",
    "boxy", "slim", "narrow", "wide", "loose", "tight", "thick", "thin", "heavy", "light",
    "soft", "hard", "stiff", "cold", "hot", "loud", "quiet", "bright", "dark", "sticky",
    "crusty", "crispy", "salty", "sour", "waterproof", "windproof", "breathable", "airtight",
    "sturdy", "wobbly", "flimsy", "scratchy", "see", "shorter", "longer", "smaller", "bigger",
    "larger", "wider", "tighter", "looser", "kürzer", "länger", "kleiner", "größer", "enger",
    "heavier", "lighter", "darker", "dunkler", "heller", "schwerer",
    "leichter", "dünner", "dicker", "thicker", "thinner", "grüner", "gelblicher", "greener",
    "strong", "weak", "stark", "schwach", "warm",
    # 2026.3: colours are checkable too ("eher grau", "more pinkish"), and a few textures
    "weiß", "schwarz", "grau", "rot", "blau", "grün", "gelb", "braun", "beige", "rosa",
    "lila", "pink", "türkis", "petrol", "white", "black", "grey", "gray", "red", "blue",
    "green", "yellow", "brown", "pinkish", "greyish", "rutschfest", "staubig", "dusty",
    "klumpig", "lumpy", "grainy", "körnig", "matt", "matte", "glossy", "glänzend",
})
# Words any review may use, whatever it is about; the other words of five letters or more
# are details ("Rosinen", "Zündung", "brackets"), each worth a little.
_DETAIL_POINTS, _DETAIL_CAP, _DETAIL_MIN_LENGTH = 2, 10, 5
_GENERIC_VOCABULARY = frozenset({
    # German
    "alles", "allem", "bestellt", "bestellung", "bestellen", "bestelle", "bestellte",
    "geliefert", "lieferung", "versand", "ware", "waren", "artikel", "produkt", "produkte",
    "qualität", "service", "preis", "preise", "shop", "laden", "team", "danke", "vielen",
    "dank", "gerne", "gern", "wieder", "immer", "einfach", "wirklich", "total", "absolut",
    "super", "klasse", "spitze", "prima", "toll", "tolle", "toller", "tolles", "schön",
    "schöne", "schöner", "schönes", "wunderschön", "wunderbar", "wunderbare", "herrlich",
    "lecker", "frisch", "bequem", "zufrieden", "begeistert", "empfehlen", "empfehlenswert",
    "weiterempfehlen", "weiter", "bestimmt", "sicher", "sicherlich", "bald", "schnell",
    "schnelle", "schneller", "pünktlich", "freundlich", "freundliche", "geklappt",
    "gelaufen", "erwartet", "gedacht", "beschrieben", "versprochen", "perfekt", "perfekte",
    "einwandfrei", "bestens", "gekauft", "gefällt", "gefallen", "liebe", "ordnung",
    "geworden", "hatte", "hatten", "hätte", "worden", "werde", "werden", "würde", "wurde",
    "wurden", "diesem", "dieser", "dieses", "diese", "meinem", "meiner", "meine", "meinen",
    "unsere", "unserer", "unseren", "euch", "ihnen", "eurem", "euren", "nicht", "keine",
    "keinen", "etwas", "nichts", "schon", "genau", "gesucht", "insgesamt", "jedenfalls",
    "besonders", "besonderes", "überragend", "enttäuscht", "enttäuschend",
    "schlecht", "schlechte", "schlechter", "schade", "leider", "damit", "davon", "daran",
    "darauf", "dafür", "mehr", "zusammen", "mitarbeiter", "kunden", "kunde", "bewertung",
    "funktioniert", "verpackt", "angekommen", "passt", "passen", "sitzt", "gerät",
    "handy", "empfehlung", "zuverlässig", "günstig", "teuer", "billig", "leistung",
    "verhältnis", "reinfall", "finger", "erwartungen", "bisschen", "ziemlich",
    "eigentlich", "sowieso", "trotzdem", "allerdings", "obwohl", "sondern", "außerdem",
    "jederzeit", "nochmal", "jahren", "seit", "heute", "gestern", "danach",
    # English
    "everything", "ordered", "order", "orders", "delivered", "delivery", "shipping",
    "product", "products", "item", "items", "quality", "price", "prices", "store", "thanks",
    "thank", "again", "always", "really", "totally", "absolutely",
    "great", "amazing", "awesome", "lovely", "beautiful", "pretty", "perfect",
    "perfectly", "excellent", "fantastic", "wonderful", "brilliant", "delicious", "tasty",
    "fresh", "comfy", "comfortable", "happy", "satisfied", "pleased", "recommend",
    "recommended", "definitely", "surely", "certainly", "quick", "quickly", "fast",
    "friendly", "helpful", "smooth", "smoothly", "expected", "described", "promised",
    "pictured", "exactly", "bought", "purchase", "purchased", "works", "worked", "working",
    "would", "could", "should", "might", "there", "their", "these", "those", "which",
    "where", "about", "nothing", "something", "anything", "everyone", "anyone",
    "friends", "family", "customer", "customers", "communication", "experience", "overall",
    "quite", "rather", "little", "stuff", "things", "thing", "complaints",
    "disappointed", "disappointing", "terrible", "awful", "horrible", "rubbish", "money",
    "waste", "value", "cheap", "expensive", "decent", "average", "looks", "looked",
    "arrived", "condition", "packaging", "packaged", "shipped", "received", "needed",
    "needs", "wanted", "better", "worse", "never", "ever", "forward", "shopping",
    "compliments", "everybody", "people", "staff", "course", "highly", "stars",
    # 2026.3: frequent words that said nothing specific but counted as details. German
    "jede", "jeden", "jedem", "jedes", "diesen", "kommt", "kommen", "komme", "kam", "macht",
    "machen", "mache", "gemacht", "sieht", "sehen", "sagen", "sage", "gesagt", "merkt",
    "merken", "bekommen", "bekommt", "bekam", "gehabt", "dabei", "drauf", "drin", "richtig",
    "ganze", "ganzen", "ganzes", "sache", "sachen", "kaufen", "kaufe", "kauf", "viele",
    "vieles", "unser", "unseres", "genauso", "scheint", "soweit", "recht", "öfter", "oft",
    "definitiv", "freue", "freuen", "gefreut", "glücklich", "positiv", "negativ", "gutes",
    "guten", "guter", "beste", "besten", "bestes", "totaler", "hochwertig", "hochwertige",
    "hochwertiges", "verarbeitet", "gedauert", "dauert", "gepasst", "schmeckt", "schmecken",
    "geschmeckt", "duftet", "liebt", "lieben", "sortiment", "auswahl", "zustand", "familie",
    "freunde", "freundin", "freundinnen", "unkompliziert", "reibungslos", "erreichbar",
    "empfehle", "empfohlen", "überzeugt", "erwartung", "enttäuschung", "endlich", "natürlich",
    "vielleicht", "wahrscheinlich", "ehrlich", "eindeutig", "echt", "sofort", "wenig",
    "weniger", "letzte", "letzten", "nächste", "nächsten", "andere", "anderen", "anderes",
    "woanders", "gekommen", "bisher", "wieso", "warum",
    # English
    "seriously", "honestly", "literally", "basically", "actually", "obviously", "whole",
    "yummy", "reliable", "solid", "special", "obsessed", "confusing", "nice", "loves", "loved",
    "enjoy", "enjoyed", "enjoying", "guys", "anyway", "although", "without", "being", "going",
    "doing", "getting", "makes", "making", "made", "feels", "seems", "seemed", "exceeded",
    "expectations", "excited",
})
# "five stars" and "5 Sterne" are a rating, not a detail.
_RATING_RE = re.compile(
    r"\b(?:\d|one|two|three|four|five|ein|zwei|drei|vier|fünf)\s+(?:stars?|sterne?n?)\b")
# Phrases that name a concrete control or step in more than one word.
_CONCRETE_PHRASES = _Phrases((
    "apple pay", "google pay", "credit card", "size chart", "size guide", "product page",
    "return label", "promo code", "tracking number", "best before", "customer service",
    "order confirmation",
    # how a size fits
    "runs big", "runs small", "runs large", "size up", "size down", "true to size",
    "fällt klein", "fällt groß", "fällt gross", "fällt normal", "fallen klein", "fallen groß",
    "nummer größer", "nummer kleiner", "nr größer", "nr kleiner",
))


def _specificity(t: _Text) -> tuple[ComponentScore, int]:
    """The component, and how many concrete references it found."""
    concrete = _concrete_terms(t)
    # Tokens with a digit ("38", "3h", "m6"); "i'm" is not alphabetic but not a number either.
    numbers = sum(map(_has_digit, t.vocabulary)) + len(_NUMBER_WORDS & t.vocabulary)
    numbers -= len(_RATING_RE.findall(t.lower))
    attributes = sorted(_ATTRIBUTE_WORDS & t.vocabulary)
    details = _details(t, concrete, attributes)
    generic = [] if concrete else _generic_terms(t.vocabulary)
    points = min(SPECIFICITY_MAX,
                 min(_CONCRETE_CAP, _CONCRETE_POINTS * len(concrete))
                 + _NUMBER_POINTS[max(0, min(numbers, 2))]
                 + min(_ATTRIBUTE_CAP, _ATTRIBUTE_POINTS * len(attributes))
                 + min(_DETAIL_CAP, _DETAIL_POINTS * len(details))
                 + min(_GENERIC_CAP, _GENERIC_POINTS * len(generic)))
    parts = [f"{len(concrete)} concrete reference(s){_listed(concrete)}",
             f"{max(0, numbers)} number(s) or size(s)",
             f"{len(attributes)} physical attribute(s){_listed(attributes)}",
             f"{len(details)} other detail word(s){_listed(details, 3)}"]
    if generic:
        parts.append(f"only generic topics{_listed(generic)}")
    return ComponentScore(points, SPECIFICITY_MAX, 0, ", ".join(parts)), len(concrete)


def _has_digit(word: str) -> bool:
    return not word.isalpha() and any(ch.isdigit() for ch in word)


def _details(t: _Text, concrete: Sequence[str], attributes: Sequence[str]) -> list[str]:
    return sorted(w for w in set(t.alpha) - _COMMON_WORDS - set(attributes)
                  if len(w) >= _DETAIL_MIN_LENGTH and _concrete_stem(w) is None
                  and _generic_stem(w) is None and _problem_stem(w) is None
                  and not _looks_mashed(w))


def _concrete_terms(t: _Text) -> list[str]:
    found = {stem for stem in map(_concrete_stem, t.vocabulary) if stem is not None}
    found |= _CONCRETE_PHRASES.found(t)
    return sorted(found)


def _generic_terms(vocabulary: Iterable[str]) -> list[str]:
    return sorted({stem for stem in map(_generic_stem, vocabulary) if stem is not None})


# Words that start like a concrete stem but are not one: "weiter(empfehlen)" is not "weite".
_NOT_CONCRETE_PREFIXES = ("weiter",)


@lru_cache(maxsize=16384)
def _concrete_stem(word: str) -> str | None:
    if word.startswith(_NOT_CONCRETE_PREFIXES):
        return None
    prefix = _CONCRETE_RE.match(word)
    if prefix and (len(prefix[0]) > 4 or _is_inflection(prefix[0], word)):
        return prefix[0]
    compound = _CONCRETE_COMPOUND_RE.search(word, 1)
    if compound is None:
        return None
    # "Bezahlung" is the generic step "bezahl", not a compound of it; "Versandkosten-
    # pauschale" names a concrete thing after its generic part.
    generic = _generic_stem(word)
    return None if generic and compound.start() < len(generic) else compound[0]


@lru_cache(maxsize=16384)
def _generic_stem(word: str) -> str | None:
    prefix = _GENERIC_RE.match(word)
    return prefix[0] if prefix else None


def _is_inflection(stem: str, word: str) -> bool:
    rest = word[len(stem):]
    # "zipped", "apps": English doubles the final consonant before the ending.
    if rest[:1] == stem[-1]:
        rest = rest[1:]
    return rest in _SHORT_STEM_ENDINGS


# --- experience: a problem observed, a suggestion, a weighed judgement ---------------------

EXPERIENCE_MAX = 25
_PROBLEM_POINTS = (0, 15, 19)  # none, one, two or more distinct problem signals
_SUGGESTION_POINTS = 8
_REASON_POINTS = 6

# What went wrong, as a prefix of a word: "kaputt", "broke(n)", "fehlt", "eingelaufen"...
_PROBLEM_STEMS: tuple[str, ...] = (
    "kaputt", "defekt", "broke", "break", "gebrochen", "bricht", "gerissen", "reißt", "riss",
    "rip", "torn", "loch", "hole", "kratzer", "zerkratzt", "scratch", "fleck", "stain",
    "dent", "delle", "eingedrückt", "eingedellt", "beschädigt", "damaged", "crack", "undicht",
    "leak", "tropft", "drip", "schimmel", "mould", "mold", "abgelaufen", "expired", "falsch",
    "wrong", "fehlt", "fehlen", "fehlte", "missing", "vergessen", "eingelaufen", "shrank",
    "shrunk", "ausgeblichen", "faded", "verfärbt", "färbt", "pill", "fussel", "quietsch",
    "squeak", "creak", "knarrt", "knarzt", "wackelt", "wobbl", "klemmt", "stuck", "sticks",
    "snag", "rutscht", "slip", "flacker", "flicker", "crash", "abstürz", "stürzt",
    "unresponsive", "fail", "fehlgeschlagen", "abgebucht", "charged", "doppelt", "verspätet",
    "delayed", "verschoben", "postponed", "abgesagt", "cancel", "storniert", "lost",
    "verloren", "geschmolzen", "melted", "melt", "lauwarm", "riecht", "smell", "stinkt",
    "kratzt", "itch", "scratchy", "drückt", "pinch", "blasen", "blister", "gelöscht",
    "deleted", "vertauscht", "schief", "crooked", "abgebrochen", "snapped", "abgerissen",
    "abgefallen", "durchsichtig", "dünner", "thinner", "declined", "abgelehnt", "ungültig",
    "invalid", "verweigert", "überrascht", "surprise", "leckt", "leckag", "ausgelaufen",
    "verklumpt", "klebt", "unbrauchbar", "unusable", "verfälscht", "motten", "maden",
    "ausverkauft", "dead", "tot", "verzögerung", "delay", "hum", "brumm", "pfeift", "rash",
    "ausschlag", "welk", "mehlig", "korkig", "zerbröselt", "angebrochen", "offen", "geöffnet",
    "opened", "gebraucht", "used", "hakt", "verrutscht", "blank", "spun", "spins",
    "reagiert", "stopped", "aufgehört", "disconnect", "drops", "bleibt", "verliert", "loses",
    "curls", "sagging", "compresses", "chemisch", "lösungsmittel", "solvent", "abgeschnitten",
    "unstitched", "loosely", "locker", "sold", "instead", "statt", "anstatt",
)
_PROBLEM_PHRASES = _Phrases((
    "zu klein", "zu groß", "zu gross", "zu lang", "zu kurz", "zu eng", "zu weit", "zu schwer",
    "zu laut", "zu spät", "zu hoch", "zu niedrig", "zu dünn", "zu dick", "zu salzig",
    "zu süß", "zu bitter", "too small", "too big", "too large", "too long", "too short",
    "too tight", "too loose", "too heavy", "too loud", "too late", "too high", "too low",
    "too thin", "too hot", "too salty", "too sweet", "too narrow", "too shallow", "zu schmal",
    "nicht mehr", "no longer", "funktioniert nicht", "geht nicht", "doesn't work",
    "does not work", "didn't work", "not working", "won't", "can't", "cannot", "kann nicht",
    "kann man nicht", "lässt sich nicht", "nicht möglich", "not possible", "nicht dabei",
    "not included", "nicht auswählbar", "nicht verfügbar", "never arrived", "nie angekommen",
    "came off", "fell off", "fall off", "fällt", "passt nicht", "doesn't fit", "don't fit",
    "does not fit", "keine antwort", "no answer", "no reply", "nicht angekommen", "kam nicht",
    "fehlt", "logging me out", "only fits", "nur mit", "only with", "only on", "nur auf",
    "only works", "shows", "zeigt", "sagt", "says", "stand", "nicht richtig", "not properly",
    "nicht erkannt", "erkennt nicht", "not recognised", "not recognized", "doesn't recognise",
    "doesn't recognize", "läuft aus",
))
_SUGGESTION_WORDS = frozenset({
    "please", "bitte", "should", "sollte", "sollten", "wäre", "wären", "könnte", "könnten",
    "könntet", "wish", "wünsche", "wünschen", "suggest", "vorschlag", "angeben", "add",
    "hinzufügen", "lieber", "rather",
})
_SUGGESTION_PHRASES = _Phrases((
    "would help", "would be", "would love", "would like", "it'd be", "needs to", "need to",
    "muss man", "man muss", "had to", "musste", "hätte ich gern", "gern gewusst", "should be",
    "hätte gern", "hätte gerne", "would prefer", "wünschenswert",
))
_REASON_WORDS = frozenset({
    "because", "since", "therefore", "although", "though", "unfortunately", "weil", "denn",
    "deshalb", "daher", "deswegen", "wegen", "obwohl", "allerdings", "leider", "trotz",
    "trotzdem", "despite", "einziger", "einzige", "only", "nur", "but", "however", "aber",
    "jedoch", "sondern", "than", "compared", "expected", "erwartet", "verglichen", "als",
    "vorher", "previous", "before",
})


def _experience(t: _Text) -> ComponentScore:
    problems = _problems(t)
    suggests = bool(_mentions(t, _SUGGESTION_WORDS, _SUGGESTION_PHRASES))
    reasons = bool(_REASON_WORDS & t.vocabulary)
    points = min(EXPERIENCE_MAX, _PROBLEM_POINTS[min(len(problems), 2)]
                 + _SUGGESTION_POINTS * suggests + _REASON_POINTS * reasons)
    reason = (f"problem or observation: {_listed(problems, 3).strip() or 'none'}, "
              f"suggestion: {_yes(suggests)}, reasoning or contrast: {_yes(reasons)}")
    return ComponentScore(points, EXPERIENCE_MAX, 0, reason)


_PROBLEM_RE = _alternation(_PROBLEM_STEMS)
# Idioms worded with a problem's words ("positiv überrascht", "kann man nix falsch machen",
# "leckt mich"): the idiom, and what it hides among the problems found.
_IDIOM_HIDES: dict[str, set[str]] = {
    "positiv überrascht": {"überrascht"}, "angenehm überrascht": {"überrascht"},
    "pleasantly surprised": {"surprise"}, "positively surprised": {"surprise"},
    "nichts falsch": {"falsch"}, "nix falsch": {"falsch"}, "nothing wrong": {"wrong"},
    "can't go wrong": {"wrong", "can't"}, "cannot go wrong": {"wrong", "cannot"},
    "kann nicht alles": {"kann nicht"}, "kann man nicht alles": {"kann man nicht"},
    "leckt mich": {"leckt"},
}
_IDIOMS = _Phrases(_IDIOM_HIDES)


def _problems(t: _Text) -> list[str]:
    found = {stem for stem in map(_problem_stem, t.vocabulary) if stem is not None}
    found |= _PROBLEM_PHRASES.found(t)
    for idiom in _IDIOMS.found(t):
        found -= _IDIOM_HIDES[idiom]
    return sorted(found)


@lru_cache(maxsize=16384)
def _problem_stem(word: str) -> str | None:
    prefix = _PROBLEM_RE.match(word)
    if prefix and (len(prefix[0]) > 4 or _is_inflection(prefix[0], word)):
        return prefix[0]
    return None


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


# --- boilerplate: template praise and machine-written text -----------------------------------

BOILERPLATE_MIN = -40
# At or below this (with little concrete in it) the text is generated or copied: spam.
BOILERPLATE_LABEL_PENALTY = -20
_BOILERPLATE_POINTS = 5
# Phrases of marketing copy and machine-written reviews, weighted by how rarely customers
# write them: 2 = almost only generated text, 1 = common in generic praise as well.
_BOILERPLATE_PHRASES: dict[str, int] = {
    "exceeded my expectations": 2, "exceeded all of my expectations": 2,
    "exceeded expectations": 1, "erwartungen übertroffen": 2, "erwartungen in jeder": 2,
    "erwartungen bei weitem": 2, "seamless": 2, "seamlessly": 2, "nahtlos": 2,
    "nahtlose": 2, "testament": 2, "in conclusion": 2, "zusammenfassend": 2,
    "as a valued customer": 2, "als zufriedener kunde": 2, "als langjähriger kunde": 2,
    "thrilled": 2, "meine erfahrung": 2, "share my experience": 2, "game changer": 2,
    "gamechanger": 2, "must have": 2, "ein muss": 2, "absolutes muss": 2, "must try": 2,
    "elevate": 2, "unparalleled": 2, "unmatched": 2, "impeccable": 2, "cutting edge": 2,
    "embodies": 2, "verkörpert": 2, "harmonious": 2, "delightful": 2, "utmost": 2,
    "wholeheartedly": 2, "uneingeschränkt": 2, "wärmstens": 2, "meisterwerk": 2,
    "masterpiece": 2, "blickfang": 2, "hochgenuss": 2, "auf ganzer linie": 2,
    "in jeder hinsicht": 2, "in every way": 2, "every aspect": 2, "from the moment": 2,
    "worth every penny": 2, "jeden cent wert": 2, "attention to detail": 2,
    "liebe zum detail": 2, "einkaufserlebnis": 2, "shopping experience": 1,
    "cannot recommend": 2, "would not hesitate": 2, "look forward to": 1, "truly": 2,
    "wahres": 2, "wahrer": 1, "echter": 1, "vereint": 2, "crafted": 2, "sleek": 2,
    "standout": 2, "top notch": 1, "exceptional": 2, "outstanding": 1, "erstklassig": 1,
    "erstklassige": 1, "erstklassiger": 1, "herausragend": 1, "bemerkenswert": 2,
    "remarkable": 2, "beeindruckend": 2, "beeindruckende": 2, "overall": 1, "insgesamt": 1,
    "rundum": 1, "reibungslos": 1, "kaufempfehlung": 1, "highly recommend": 1,
    "ideal for": 2, "perfect companion": 2, "designed to": 2, "offers": 1, "unlock": 2,
    "whether you": 2, "everyday life": 2, "stunning": 2, "überzeugt": 1, "unverwechselbar": 2,
    "einzigartige": 1, "intuitive": 1, "intuitiv": 1, "exquisite": 2, "i must say": 2,
    "transformed": 2, "without a doubt": 2, "express my": 2, "perfect balance": 2,
    "für jeden haushalt": 2, "jeden feinschmecker": 2, "for any pantry": 2, "elegance": 1,
    "eleganz": 1, "ansprechend": 1, "möchte ich betonen": 2, "lässt sich sagen": 2,
    # 2026.5
    "whether you're": 2, "whether you are": 2, "seasoned": 2, "immersive": 2, "caters to": 2,
}
_BOILERPLATE_FINDER = _Phrases(_BOILERPLATE_PHRASES)
# A generated answer that says what it is.
_GENERATED_PREFACES = _Phrases((
    "as an ai", "language model", "here is a review", "here's a review",
    "hier ist eine bewertung", "certainly here", "natürlich hier", "certainly here's",
    "sure here's", "gerne hier ist",
    # 2026.5: the assistant's closing words
    "i hope this review helps", "hope this review helps", "let me know if you'd like me to",
    "ich hoffe diese bewertung hilft", "ich hoffe die bewertung hilft",
))
# "Here's a 5-star review for the product:", "Hier ist eine positive Bewertung:"
_GENERATED_INTRO_RE = re.compile(
    r"(?:here(?:'s| is)|hier ist)\s+(?:a|an|your|eine|ihre|deine)[^.!?\n]{0,40}?"
    r"(?:review|bewertung|rezension)")


def _boilerplate(t: _Text, concrete: int) -> ComponentScore:
    if _GENERATED_PREFACES.found(t) or _GENERATED_INTRO_RE.search(t.lower):
        return ComponentScore(BOILERPLATE_MIN, 0, BOILERPLATE_MIN,
                              "presents itself as a generated review")
    hits = sorted(_BOILERPLATE_FINDER.found(t))
    weight = sum(_BOILERPLATE_PHRASES[p] for p in hits)
    # Concrete references outweigh the phrasing: a real report may say "overall".
    weight = max(0, weight - 2 * concrete)
    if not weight:
        return ComponentScore(0, 0, BOILERPLATE_MIN, "no template or machine-like phrasing")
    points = max(BOILERPLATE_MIN, -_BOILERPLATE_POINTS * weight)
    return ComponentScore(points, 0, BOILERPLATE_MIN,
                          f"template or machine-like phrasing{_listed(hits)}")


# --- language ----------------------------------------------------------------------------

LANGUAGE_MAX = 5
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


# --- register: product, marketing or offer text rather than someone's experience ----------

# 2026.6: what copied product text, shop advertising and machine-written praise share in
# shape, whatever their words: nobody speaks of their own order or use of the product, and
# the text addresses the reader, calls them to act, lists specifications or piles up the
# adjectives of advertising. Each kind found is REGISTER_POINTS of doubt that counts
# towards the spam decision with the spam rules and the spam model (_label), two kinds
# suffice on their own. They are never given to an entry of fewer than eight words, or one
# that speaks in the first person singular or of its order, delivery, return or use.
# Tuned on the development half, out of fold for the model's part (docs/benchmarks.md
# "Quality scoring"): no genuine entry there gets two kinds. 2026.7: only two or more kinds
# also cost the score their points. One alone is common in genuine feedback that addresses
# the shop ("Your shipping costs to Austria are too high"), and cost such entries 18 points.
REGISTER_MIN = -36
REGISTER_POINTS = 18
_REGISTER_MIN_WORDS = 8
# "I", "ich": a customer reporting. (Shops and their ads say "we" and "our" too.)
_FIRST_SINGULAR = frozenset({
    "i", "me", "my", "mine", "myself", "i'm", "i've", "i'd", "i'll", "ich", "mir", "mich",
    "mein", "meine", "meinen", "meinem", "meiner", "meines", "hab", "habe", "hatte", "hätte",
    "bin",
})
# An order and what happened to it, or the product in use: the experience an ad never has.
_EXPERIENCE_STEMS: tuple[str, ...] = (
    # past participles and past tenses: what happened, not what an ad promises ("auf alle
    # Bestellungen", "free delivery", "order now")
    "bestellt", "geliefert", "angekommen", "ankam", " kam ", " kamen ", "bekommen",
    "gekauft", "zurückgeschickt", "zurückgesendet", "umgetauscht", "getragen", "benutzt",
    "ausprobiert", "probiert", "genutzt", "gemessen", "reklamiert", "aufgebaut", "montiert",
    "ordered", "arrived", "received", "bought", "delivered", "returned", "exchanged", " wore ",
    " worn ", " used ", " tried ", "tested", "measured", "assembled", " paid ", "bezahlt",
    "bekam", "erhielt", "kaufte",
    # 2026.30: what a product did in use ("kept me dry", "hat 3 Wäschen überstanden")
    "getestet", " kept ", "lasted", " hielt ", "gehalten", "gewaschen", "charged",
    "aufgeladen", "überstanden", "survived",
)
_EXPERIENCE_RE = re.compile("|".join(map(re.escape, sorted(_EXPERIENCE_STEMS, key=len,
                                                           reverse=True))))
# The reader addressed: English "you", German "du", and German "Sie"/"Ihnen"/"Ihre" written
# with a capital inside a sentence (the formal "you", not "she" or "they").
_READER_WORDS = frozenset({
    "you", "your", "you're", "you'll", "you've", "yours", "yourself", "du", "dein", "deine",
    "deinen", "deinem", "deiner", "dich", "dir",
})
_FORMAL_READER_RE = re.compile(r"(?<=[a-zäöüß,] )(?:Sie|Ihnen|Ihre[nmrs]?)\b")
# 2026.7: "your" of the shop's own service ("your checkout", "Ihre Größentabelle"; 2026.13
# also its delivery charges, prices and packaging) is feedback to the shop, not an ad to a
# reader. Not of the shop or site, an order, a parcel, an account or a payment: SEO offers
# and phishing speak of those.
_SHOP_SERVICE_RE = re.compile(
    r"\b(?:your|ihre[nmrs]?|eure[nmrs]?|deine[nmrs]?) (?:shipping|delivery times?|checkout|"
    r"app|customer service|support|hotline|size (?:chart|guide)|courier|returns? policy|"
    r"delivery (?:charges|costs|fees)|prices|packaging|"
    r"versandkosten|lieferzeiten?|lieferkosten|preise|verpackung|kasse|kundenservice|"
    r"größentabelle|kurier)\b")
# Calls to act that open a sentence of an ad ("Entdecken Sie", "Elevate your", "Jetzt
# zuschlagen").
_CALLS = frozenset({
    "entdecken", "entdecke", "erleben", "erlebe", "genießen", "genieße", "gönnen", "gönn",
    "sichern", "sichere", "stöbern", "zuschlagen", "verwöhnen", "verwöhne",
    "discover", "explore", "elevate", "spark", "grab", "unleash", "enjoy", "transform",
    "join", "imagine",
})
# 2026.8: words that open a customer's sentence as often as an ad's ("Shop is fine",
# "Taste is too sweet", "Jetzt zahlt man 12 Euro") call to act only before what an
# imperative takes ("Shop now", "Taste the difference", "Jetzt zuschlagen").
_CALLS_BEFORE_OBJECT = frozenset({
    "shop", "taste", "upgrade", "meet", "gear", "experience", "claim", "verify",
})
_IMPERATIVE_OBJECTS = frozenset({
    "the", "your", "our", "a", "an", "now", "it", "this", "these", "up", "yourself",
})
_NOW_CALLS = _CALLS | {"bestellen", "kaufen", "zugreifen", "shoppen", "sparen"}
_SENTENCE_START_RE = re.compile(
    r"(?:^|[.!?:]\s+|\n)[\"'„“(]*([^\W\d_]+)(?:[ \t]+([^\W\d_]+))?")
# A business speaking of itself ("We offer", "our artisan products", "unsere Neuheiten"):
# customers say "we" and "our" of their family and pets, not of a range or a team.
_BUSINESS_VOICE_RE = re.compile(
    r"\b(?:we are an?|we run|we offer|we provide|we sell|we deliver|our (?:products|team|"
    r"brand|company|collection|shop|store|services?|prices|customers|range|partners?)|"
    r"wir bieten|wir liefern|wir sind ein|wir verkaufen|unser(?:e|en|em|er)? (?:sortiment|"
    r"team|shop|angebote?|neuheiten|kollektion|produkte|firma|kunden|partner|preise))\b")
# Specifications: a number with a unit, "Key: value" pairs, "|" or bullet separators.
_SPEC_UNIT_RE = re.compile(
    r"\d\s?(?:mm|cm|kg|g|w|wh|kwh|mah|v|gb|tb|hz|db|ml|l|zoll|std|ie|mg|µg|kcal|pcs|"
    r"stück|°c|°)(?![\w])|\d\s?%|g/m²")
_SPEC_SEPARATORS = ("|", "•", "✔", "✓")
# Comparing the specification with the real thing is what a customer does ("500 g statt
# 1 kg", "not the 7 cm shown").
_COMPARISON_WORDS = frozenset({
    "statt", "anstatt", "instead", "not", "nicht", "than", "als", "laut", "angegeben",
    "angegebenen", "advertised", "claimed", "shown", "stated", "only", "nur", "aber", "but",
    "zu", "too",
})
# Adjectives and nouns of advertising and blurbs, which customers seldom use.
_ADVERTISING_WORDS = frozenset({
    "zeitlos", "zeitlose", "zeitlosen", "edel", "edle", "edlen", "hochwertig", "hochwertige",
    "hochwertigen", "hochwertiger", "premium", "exklusiv", "exklusive", "einzigartig",
    "unvergleichlich", "unvergleichliches", "atemberaubend", "atemberaubender",
    "atemberaubende", "sorgfältig", "ausgewählten", "raffiniert", "robuste", "robusten",
    "durchdachte", "langlebig", "langlebige", "vielseitig", "vielseitige", "ideale", "idealer",
    "bereicherung", "highlight", "kollektion", "neuheiten", "genuss", "geschmackserlebnis",
    "spürbar", "feuchtigkeitsspendenden", "dermatologisch", "pädagogisch", "fördert",
    "bestsellerautors", "bestseller", "timeless", "elegant", "elegance", "lightweight",
    "powerful", "durable", "versatile", "sustainable", "artisan", "finest", "handcrafted",
    "crafted", "engineered", "innovative", "captivating", "compelling", "masterfully",
    "unforgettable", "luminous", "sweeping", "bestselling", "thoughtful", "ultimate",
    "effortless", "effortlessly", "stylish", "collection", "adventure", "adventures",
    "imagination", "exclusive", "certified", "features", "vereint", "overall",
})
# Nearly no small words: a list of ingredients or attributes, not sentences.
_SMALL_WORDS = _GERMAN | _ENGLISH | frozenset({"die", "was", "also", "an", "in", "so", "on",
                                               "at", "or", "as", "by", "from", "all"})


def _sentence_openings(raw: str) -> list[tuple[str, str]]:
    """The first two words of each sentence, lower case."""
    return [(first.lower(), then.lower()) for first, then in _SENTENCE_START_RE.findall(raw)]


def _register_kinds(t: _Text) -> tuple[dict[str, str], str | None]:
    """The kinds of product or advertising text found, by name (also the learned heads'
    signal), each described with its words; and the shop's own service, when the entry
    speaks to the shop of it."""
    reader, shop = _reader_kind(t)
    found = zip(("addresses the reader", "calls to act", "speaks for a business",
                 "specification list", "advertising words", "comma list"),
                (reader, _calls_kind(t), _business_kind(t), _specification_kind(t),
                 _advertising_kind(t), _list_kind(t)), strict=True)
    return {name: kind for name, kind in found if kind}, shop


def _register(t: _Text, kinds: Mapping[str, str], shop: str | None
              ) -> tuple[ComponentScore, int]:
    """The component, and its doubt for the spam decision (the points of every kind found)."""
    if len(t.words) < _REGISTER_MIN_WORDS:
        return ComponentScore(0, 0, REGISTER_MIN, "too short to judge the register"), 0
    if _FIRST_SINGULAR & t.vocabulary or t.tells_of_use:
        return ComponentScore(0, 0, REGISTER_MIN,
                              "speaks of own experience (first person, order or use)"), 0
    described = list(kinds.values())
    if not described:
        addressed = f" (speaks to the shop of its service: {shop!r})" if shop else ""
        return ComponentScore(0, 0, REGISTER_MIN,
                              f"no sign of product or advertising text{addressed}"), 0
    doubt = max(REGISTER_MIN, -REGISTER_POINTS * len(described))
    if len(described) == 1:
        return ComponentScore(0, 0, REGISTER_MIN,
                              f"one sign of product or advertising text, {described[0]}: not"
                              " counted alone (only a doubt for the spam decision)"), doubt
    return ComponentScore(doubt, 0, REGISTER_MIN,
                          "reads like product or advertising text, no experience: "
                          + "; ".join(described)), doubt


def _reader_kind(t: _Text) -> tuple[str | None, str | None]:
    """The reader addressed, unless as the shop of its own service ("your checkout"), and
    that phrase."""
    reader = sorted(_READER_WORDS & t.vocabulary) + sorted(
        {m.lower() for m in _FORMAL_READER_RE.findall(t.raw)})
    if not reader:
        return None, None
    shop = _SHOP_SERVICE_RE.search(t.lower)
    if shop:
        return None, shop[0]
    return f"addresses the reader{_listed(reader, 3)}", None


def _calls_kind(t: _Text) -> str | None:
    calls = sorted({first for first, then in _sentence_openings(t.raw)
                    if first in _CALLS
                    or (first in _CALLS_BEFORE_OBJECT and then in _IMPERATIVE_OBJECTS)
                    or (first == "jetzt" and then in _NOW_CALLS)})
    return f"calls to act{_listed(calls, 3)}" if calls else None


def _business_kind(t: _Text) -> str | None:
    business = _BUSINESS_VOICE_RE.search(t.lower)
    return f"speaks for a business ({business[0]!r})" if business else None


def _specification_kind(t: _Text) -> str | None:
    units = len(_SPEC_UNIT_RE.findall(t.lower))
    fields = t.field_names + sum(map(t.raw.count, _SPEC_SEPARATORS))
    listed = (units >= 2 and fields) or units >= 4 or fields >= 2
    if not listed or _COMPARISON_WORDS & t.vocabulary:
        return None
    return f"lists specifications ({units} units, {fields} fields)"


def _advertising_kind(t: _Text) -> str | None:
    advertising = sorted(_ADVERTISING_WORDS & t.vocabulary)
    return f"advertising words{_listed(advertising, 3)}" if len(advertising) >= 2 else None


def _list_kind(t: _Text) -> str | None:
    n = len(t.words)
    small = sum(1 for w in t.words if w in _SMALL_WORDS)
    if small * 10 < n and t.raw.count(",") >= 6:
        return f"a list, not sentences ({small} of {n} words are small words)"
    return None


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
    r"(.)\1{3,}|([^\W\d_]{2,4})\2{2,}|([^\W\d_]{3,})\3|"
    + "|".join(sorted(_keyboard_runs()))
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
    if len(word) >= 10 and _few_letters_few_vowels(word):
        return True
    return _CONSONANT_RUN_RE.search(_DIGRAPH_RE.sub("c", word)) is not None


def _few_letters_few_vowels(word: str) -> bool:
    # Mashing a few neighbouring keys ("asdkjhaskjdh") reuses a handful of letters with
    # hardly a vowel; long real words use many letters ("vorkonfiguriert": 11 of 15) or,
    # when they repeat letters ("Mississippi"), many vowels.
    vowels = sum(map(word.count, _VOWELS))
    return len(set(word)) <= len(word) / 2 and vowels < 0.3 * len(word)


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
# Not details (see _details): built once here, where all its parts are defined.
_COMMON_WORDS = _GENERIC_VOCABULARY | _GERMAN | _ENGLISH | _SENTIMENT


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
_HANDLE_RE = re.compile(r"(?<![\w.])@[a-z0-9_.]{3,30}")
_TOKEN_EDGES = "()[]<>,;:!?\"'"
_URL_RE = re.compile(
    r"https?://|www\.|t\.me/|wa\.me/|[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|de|at|ch|eu|"
    r"biz|info|ru|io|xyz|shop|top|club|me|ly|co|uk|online|site|store|win|date|click|link|"
    r"live|loan|bid|icu|vip|fun|buzz|cc|tk|pw|su|to|gl|us|nl|fr|it|es|pl|tv|app|ai|gg)"
    r"(?:[/?#]|$)"
)
@dataclass(frozen=True)
class _Hinted:
    """A pattern tried only on texts with one of its hints in them: substrings (or a
    cheaper pattern) that every branch of it needs. Most texts have none, and a pattern
    that can start at any letter cost a 110-word review 40 us of its 1.2 ms. The answers
    are the pattern's own (test_scoring checks every hinted pattern against its bare one)."""

    pattern: re.Pattern[str]
    hints: tuple[str, ...]
    hint_pattern: re.Pattern[str] | None = None

    def search(self, text: str) -> re.Match[str] | None:
        if (any(hint in text for hint in self.hints)
                or (self.hint_pattern is not None and self.hint_pattern.search(text))):
            return self.pattern.search(text)
        return None


# 2026.5: addresses written so that filters miss them ("www . shop . de", "shop [punkt] de",
# "x dot com", "name(at)mail", "h t t p s"): no customer hides a link they mean to show.
# Every branch needs a bracket, "dot", "punkt", "www", a space before a dot or "t t p".
_OBFUSCATED_LINK = _Hinted(re.compile(
    r"[a-z0-9-]\s*[\[(]\s*(?:dot|punkt|at)\s*[\])]\s*[a-z0-9]"
    r"|[a-z0-9-]\s(?:dot|punkt)\s+(?:com|net|org|de|eu|info|biz|shop|io)\b"
    r"|www\s*\.\s+[a-z0-9]|[a-z]\s+\.\s+(?:com|net|org|de|eu|at|ch|info|biz)\b"
    r"|\bh\s+t\s+t\s+p"), ("(", "[", "dot", "punkt", "www"), re.compile(r"\s\.|t\s+t\s+p"))
# Links that open a chat with the sender.
_MESSENGER_LINK = _Hinted(re.compile(r"\b(?:t\.me|wa\.me|chat\.whatsapp\.com)/"),
                          (".me/", "whatsapp.com/"))
# "+49 176 1234567", "0049 30 1234567", "0176 1234567", "030/1234567"; order numbers
# have no separators. Every branch starts with a literal so the scan can skip ahead quickly.
_PHONE_RE = re.compile(
    r"\+\d{1,3}(?:[\s/.-]?\d{2,}){2,}"
    r"|0(?<!\w0)(?:0\d{1,3}(?:[\s/.-]\d{2,}){2,}|\d{2,4}[\s/-]\d{5,8}\b)"
)
# Top-level domains of throwaway sites: a customer complaining about a shop has no reason
# to link one.
_THROWAWAY_TLD_RE = re.compile(
    r"[a-z0-9-]\s?\.(?:xyz|top|biz|info|ru|club|site|online|store|shop|io|ly|win|date|"
    r"click|loan|bid|icu|vip|buzz|tk|pw|su)\b")
_PERCENT_OFF_RE = re.compile(r"\d\s?%\s?off\b")
_PERCENT_RE = re.compile(r"\d\s?%")
_MONEY_RE = re.compile(r"(?:[$€£]\s?\d|\d\s?(?:[$€£]|euro\b|eur\b|dollar))")
# 2026.18: a sum the writer says they paid or were charged ("Paid £30 extra for assembly",
# "49 € bezahlt und ...") is part of what they report, not an offer; an offer's amounts are
# ones nobody paid yet ("only 29€", "pay the 2.99 EUR fee").
_PAID_WORDS = frozenset({
    "paid", "payed", "charged", "refunded", "bezahlt", "bezahlte", "gezahlt", "zahlte",
    "abgebucht", "berechnet", "erstattet",
})
_SHOUTING_RE = re.compile(r"[!?]{3,}")
_UPPER_RUN_RE = re.compile(r"[A-ZÄÖÜ]+")
_EMOJI_RE = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf]")
_CODE = _Hinted(re.compile(r"<\s*/?\s*script|\bselect\s+\*\s+from\b|\bdrop\s+table\b"
                           r"|\{\{|\$\{"
                           # 2026.6: BBCode and HTML links
                           r"|\[url[=\]]|<a\s+href"),
                ("<", "select", "drop", "{{", "${", "[url"))
_MESSENGERS = frozenset({
    "telegram", "whatsapp", "signal", "snapchat", "insta", "instagram", "tiktok", "onlyfans",
    "wechat", "viber", "discord", "youtube", "facebook",
})
_PROMO_WORDS = frozenset({
    "casino", "crypto", "cryptocurrency", "bitcoin", "btc", "forex", "viagra", "replica",
    "replicas", "replika", "backlink", "backlinks", "seo", "follower", "followers", "loan",
    "loans", "lottery", "jackpot", "gratis", "krypto", "kryptowährung", "rendite",
    "verdiene", "nebenverdienst", "freispiele", "gewinnspiel", "gewonnen", "giveaway",
    "giveaways", "keto", "pills", "schufa", "kredite", "wholesale", "großhandel",
    "großhandelspreisen", "subscribe", "abonnieren", "generator", "profit", "profits",
    "bewertungsmarketing", "rezensionen", "spins", "bonus", "kredit", "singles", "dating",
    "hookup", "sexdate",
    # 2026.5
    "airdrop", "referral", "sofortkredit",
})
_PROMO_PHRASES = _Phrases((
    "buy now", "click here", "order now", "sign up now", "register now", "limited offer",
    "today only", "free money", "make money", "earn money", "passive income", "earn",
    "guaranteed profit", "trading bot", "work from home", "dm me", "message me", "write me",
    "contact me", "schreib mir", "melde dich", "jetzt kaufen", "jetzt anmelden",
    "jetzt registrieren", "jetzt sichern", "jetzt bestellen", "hier klicken", "geld verdienen",
    "kredit ohne schufa", "likes kaufen", "check out my", "check it out", "follow me",
    "folge mir", "my profile", "my channel", "join our", "join the", "zu verkaufen",
    "for sale", "i sell", "we offer", "wir bieten", "bei interesse", "get paid", "half price",
    "noch günstiger", "günstiger bei", "cheaper at", "for more", "gift card", "sale sale",
    "no credit check", "ohne rezept", "free iphone", "ohne schufa", "schau vorbei",
    "günstig kaufen",
    # 2026.5: prizes, referral codes, sales
    "claim your", "you have been selected", "you've been selected", "sie wurden ausgewählt",
    "my code", "meinen code", "meinem code", "mein code", "invite code", "einladungscode",
    "use code", "use my", "nutzt meinen", "spart ihr", "ihr spart", "dm for", "alles muss raus",
    "ich verkaufe", "verkaufe mein", "verkaufe meine", "nachricht schreiben",
    "direkt vom hersteller",
    # 2026.6
    "meinem gutscheincode", "meinen gutscheincode", "mein gutscheincode", "meinem rabattcode",
    "my promo code", "my discount code", "my coupon code", "half the price", "zum halben preis",
    # 2026.23: an invitation to the writer's own profile or inbox
    "link in bio", "link in my bio", "link in der bio", "link im profil", "per dm", "pm me",
    "text me", "hit me up", "schreib mir privat", "check mal meinen", "folgt mir",
))
# 2026.20: a rate ("$300 a day", "2.000 € im Monat") is an income ad's only with an amount
# offered in the text; alone it is a customer's time ("for about a month now", "a day
# later").
_RATE_PHRASES = _Phrases(("im monat", "am tag", "a day", "per day", "a month", "weekly"))
# Whole entries that are placeholders or someone trying the form out.
_PLACEHOLDERS = frozenset({
    "hello", "hallo", "hi", "hey", "null", "undefined", "none", "nan", "n a", "na", "xyz",
    "abc", "keine angabe", "no comment", "kein kommentar", "nichts", "nothing", "feedback",
    "lorem ipsum", "bla", "blah", "bla bla", "bla bla bla", "blah blah", "blah blah blah",
    "blah blah blah blah", "asdf", "qwerty", "qwertz",
})
_TEMPLATE = _Hinted(re.compile(
    r"\blorem ipsum dolor\b|\[(?:produkt ?name|product ?name|(?:ihr|dein|your|my|mein)e? "
    r"(?:name|vorname|first name)|firmenname|company name|shop ?name|marke|brand)\]"),
    ("[", "lorem"))
_TEST_WORDS = frozenset({"test", "tests", "testing", "tset", "teste", "testbewertung",
                         "lorem", "ipsum"})
# Insults at people, not at a product: with nothing concrete around them, they are abuse.
_INSULTS = frozenset({
    "idiot", "idiots", "idioten", "vollidiot", "vollidioten", "penner", "abschaum", "moron",
    "morons", "loser", "losers", "dumm", "clowns", "clown", "suck", "hurensöhne",
    "hurensohn", "betrüger", "scammers", "scam", "betrug", "verarsche", "trash",
    "drecksladen", "dreckiger", "scheiß", "shit",
})
# German inflects the adjectives: "dumm" is also "dumme", "dummer", "dummen", "dummes".
_INSULT_ADJECTIVES = ("dumm",)
_GERMAN_ENDINGS = frozenset({"e", "er", "en", "es", "em"})


def _inflected_insults(t: _Text) -> frozenset[str]:
    return frozenset(w for w in t.vocabulary for a in _INSULT_ADJECTIVES
                     if w.startswith(a) and w[len(a):] in _GERMAN_ENDINGS)


# ("hell" alone is German for bright.)
_INSULT_PHRASES = _Phrases(("go to hell", "fahrt zur hölle", "geht zur hölle", "leckt mich",
                             "kiss my ass"))


def _spam(t: _Text, substance: int, experience: int) -> tuple[ComponentScore, int]:
    """substance: the specificity and experience points, which let a genuine complaint keep
    a quoted address or link without being called spam; experience: the points for a
    problem observed, a suggestion or a weighed judgement, which an offer never has. With
    the component, the doubt it adds to the spam decision beyond its points (_label; negative,
    as the points are)."""
    decisive = _decisive_spam(t, substance)
    if decisive:
        return ComponentScore(SPAM_MIN, 0, SPAM_MIN, "spam: " + decisive), 0
    links = _count_links(t.lower)
    email = _has_email(t.raw)
    phone = _has_phone_number(t.raw)
    handle = _HANDLE_RE.search(t.lower) is not None and not email
    money = _offered_money(t.lower)
    promo = _mentions(t, _PROMO_WORDS, _PROMO_PHRASES)
    if money:
        promo = sorted({*promo, *_RATE_PHRASES.found(t)})
    promo += ["% off"] if _PERCENT_OFF_RE.search(t.lower) else []
    messenger = sorted(_MESSENGERS & t.vocabulary)
    contact = links + email + phone + handle + bool(messenger)
    throwaway = _THROWAWAY_TLD_RE.search(t.lower)
    # A link with a discount and no one speaking for themselves: an ad ("40% cheaper: x.de").
    discount = links and _PERCENT_RE.search(t.lower) and not _FIRST_PERSON & t.vocabulary
    # 2026.5: an offer with a price or discount in it ("free $100 gift card", "Kredit bis
    # 50.000 Euro", "10 Prozent mit meinem Code", "iPhone 399€, Kontakt per WhatsApp") from
    # someone who reports nothing they experienced.
    priced = money or _PERCENT_RE.search(t.lower) or "prozent" in t.vocabulary
    offer_only = bool(priced and (promo or contact) and not experience)
    if (throwaway or (links and (money or promo)) or (contact and promo and money) or discount
            or offer_only):
        ways = [name for flag, name in ((links, "link"), (email, "e-mail address"),
                                         (phone, "phone number"), (handle, "handle"),
                                         (messenger, "messenger")) if flag]
        offer = (promo + (["money amount"] if money else []) + (["discount"] if discount else [])
                 + (["price or discount"] if offer_only and not money else []))
        what = (f"a link to a throwaway domain ({throwaway[0].replace(' ', '')}...)"
                if throwaway else
                f"an offer{_listed(offer, 3)} with a way to reach the sender{_listed(ways)}"
                if ways else f"an offer{_listed(offer, 3)} and no experience of the shop")
        return ComponentScore(SPAM_MIN, 0, SPAM_MIN, f"spam: {what}"), 0
    # Without an offer or a way to reach the sender (those name their own reasons below).
    reply = None if contact or promo else _reply_not_feedback(t, experience)
    if reply:
        return ComponentScore(SPAM_MIN, 0, SPAM_MIN, f"spam: {reply}"), 0
    # A way to reach someone plus an offer, or an offer or link without any substance.
    low_substance = substance < 20
    signals = [
        # A genuine report may name what it is about ("the Bitcoin book", "der Kredit")
        ((20 if low_substance else 10) * min(3, len(promo)), f"promotional words{_listed(promo)}"),
        ((30 if low_substance else 10) * min(2, links), "links"),
        (10 * email, "e-mail address"),
        (20 * phone, "phone number"),
        (25 * handle, "messenger or social media handle"),
        (15 * bool(messenger), f"messenger named{_listed(messenger)}"),
        (20 * bool(contact and (promo or low_substance)), "contact details without substance"),
        (15 * _is_all_caps(t), "written in capitals"),
        (5 * min(2, len(_SHOUTING_RE.findall(t.raw))), "excessive punctuation"),
        (10 * (len(_EMOJI_RE.findall(t.raw)) >= 4), "many emoji"),
    ]
    hits = [name for penalty, name in signals if penalty]
    points = max(SPAM_MIN, -sum(penalty for penalty, _ in signals))
    reason = "spam signals: " + ", ".join(hits) if hits else "no spam signals"
    if _off_topic(t, substance):
        # Doubt for the label only: the score keeps its points, as genuine entries without
        # a word of a purchase still report something ("Dirndl is a Traum, aba de Schürzn
        # is vui z'kurz").
        return (ComponentScore(points, 0, SPAM_MIN, f"{reason}; nothing about a shop, a"
                               f" product or an order ({OFF_TOPIC_DOUBT} points of doubt)"),
                -OFF_TOPIC_DOUBT)
    return ComponentScore(points, 0, SPAM_MIN, reason), 0


def _offered_money(lower: str) -> bool:
    """Whether the text names a money amount that is not one the writer paid: within three
    words before it or two after it, none of _PAID_WORDS."""
    for amount in _MONEY_RE.finditer(lower):
        near = (_WORD_RE.findall(lower[max(0, amount.start() - 40):amount.start()])[-3:]
                + _WORD_RE.findall(lower[amount.end():amount.end() + 30])[:2])
        if not _PAID_WORDS.intersection(near):
            return True
    return False


def _decisive_spam(t: _Text, substance: int) -> str | None:
    """Shapes that are never feedback, whatever else the entry has."""
    if not t.alpha:
        # A lone thumbs-up is a (lazy) reaction; digits, bare punctuation or a run of emoji
        # are not.
        if not t.raw.strip() or (not t.words and 1 <= len(_EMOJI_RE.findall(t.raw)) <= 3):
            return None
        return "no words, only digits, punctuation or emoji"
    joined = " ".join(t.words)
    if joined in _PLACEHOLDERS:
        return f"placeholder text ({joined!r})"
    if len(set(joined.replace(" ", ""))) == 1:
        return f"placeholder text ({joined!r}: one letter)"
    obfuscated = _OBFUSCATED_LINK.search(t.lower)
    if obfuscated:
        return f"an address spelled to slip past filters ({obfuscated[0].strip()!r}...)"
    messenger_link = _MESSENGER_LINK.search(t.lower)
    if messenger_link:
        return f"a link to a messenger chat ({messenger_link[0]}...)"
    if _TEST_WORDS & t.vocabulary and len(t.words) <= 6:
        return "a test entry"
    # 2026.31: the shop's own test entries, also when they name an order or a page.
    qa = _mentions(t, _QA_WORDS, _QA_PHRASES) if len(t.words) <= _QA_MAX_WORDS else []
    if qa:
        return f"the shop's own test entry{_listed(qa, 2)}"
    # 2026.12: a template's filler or blanks, at any length ("Lorem ipsum dolor sit amet,
    # consectetur ...", "[Produktname] ist super ... [Ihr Name]"); a customer who reports
    # such text on a product page quotes "Lorem ipsum", not the sentence after it.
    template = _TEMPLATE.search(t.lower)
    if template:
        return f"template text ({template[0]!r})"
    if _CODE.search(t.lower):
        return "markup or code, not feedback"
    counts = Counter(t.words)
    top, repeats = counts.most_common(1)[0]
    if repeats >= 4 and repeats * 2 >= len(t.words):
        return f"one word repeated ({top!r} {repeats} times)"
    insults = _mentions(t, _INSULTS | _inflected_insults(t), _INSULT_PHRASES)
    if insults and substance < 14 and len(t.words) <= 12:
        return f"insults without content{_listed(insults)}"
    return _copied_product_text(t) or _copied_shop_text(t) or _other_seller(t)


# 2026.31: replies to the message a shop sends after delivery (by SMS or a messenger,
# "How was your order? Just reply") that say nothing of the purchase: a request to stop the
# messages, a question about the sender, an automatic reply, a message meant for someone
# else (and, in _decisive_spam, the shop's own test entries). Decisive only in short entries
# (as such replies are) without a word of the shop, a product or judging one beyond the
# reply's own words (_of_a_purchase): a genuine report may well say "stop", "my number" or
# "bis morgen" ("the courier had my number and did not call", "the lights stop working").
# Chosen on the development half (docs/benchmarks.md "Quality scoring", 2026.31).
_OPT_OUT_WORDS = frozenset({"stop", "stopp", "unsubscribe", "abmelden", "abbestellen",
                            "austragen", "optout"})
_OPT_OUT_PHRASES = _Phrases((
    "opt out", "keine sms", "keine nachrichten", "no more messages", "no more texts",
    "stop texting", "stop messaging", "remove me", "delete my number",
    "nicht mehr anschreiben",
))
_OPT_OUT_MAX_WORDS = 6
_SENDER_QUESTIONS = _Phrases((
    "my number", "my phone number", "my mobile number", "meine nummer", "meine handynummer",
    "meine telefonnummer", "who is this", "who's this", "wer ist da", "wer ist das",
    "wrong number", "falsche nummer", "falsch verbunden",
))
_AUTOMATIC_REPLIES = _Phrases((
    "automatische antwort", "automatic reply", "auto reply", "autoreply", "out of office",
    "danke für deine nachricht", "danke für ihre nachricht", "thanks for your message",
    "abwesenheitsnotiz", "nicht im büro", "antworte ab dem", "bin im urlaub und",
    "after the tone", "nach dem signalton", "nach dem piepton", "you've reached",
    "you have reached", "can't come to the phone", "cant come to the phone",
    "nummer ist nicht vergeben", "kein anschluss unter", "no longer in service",
    "not in service", "ich fahre gerade", "i'm driving", "im driving", "verpassten anruf",
    "missed call", "call you later", "melde mich später", "rufe später zurück",
))
_AUTOMATIC_REPLY_MAX_WORDS = 30
_AWAY_WORDS = frozenset({"wieder", "back"})
_CHAT_PHRASES = _Phrases((
    "bin gleich da", "bin gleich zuhause", "on my way", "see you tonight", "see you later",
    "see you tomorrow", "see you soon", "bis später", "bis morgen", "bis gleich",
    "running late", "start without me", "lange nix gehört", "lange nichts gehört",
    "get well soon", "gute besserung", "happy birthday", "alles gute zum geburtstag",
    "schlaf gut", "sleep well", "are you home", "love you",
    "hab dich lieb", "ich liebe dich", "miss you", "vermisse dich",
    # to everyone who reads, as on a social feed
    "an alle", "allen lesern", "hello everyone", "good morning everyone", "ihr lieben",
    "gott segne", "god bless", "god is good",
    # typed into the wrong box: a search
    "near me", "öffnungszeiten", "opening hours", "hauptstadt", "capital of",
))
# The shop's own test entries (_decisive_spam): with these words also when they name an order
# or a page.
_QA_MAX_WORDS = 15
_QA_WORDS = frozenset({"qa", "staging", "testeintrag", "testkauf", "testbestellung",
                       "testnachricht"})
_QA_PHRASES = _Phrases((
    "bitte ignorieren", "please ignore", "ignore this", "dev check", "nicht versenden",
    "do not ship", "nicht bearbeiten", "test order", "test entry", "test submission",
    "test bestellung",
))
# Addressing one person as a friend: shops are "ihr" or "Sie", rarely "du".
_CHAT_WORDS = frozenset({"omw", "schatz", "babe", "du", "dir", "dich", "dein", "deine",
                         "deinen", "deinem", "deiner"})
_CHAT_MAX_WORDS = 15


def _reply_not_feedback(t: _Text, experience: int) -> str | None:
    """Why the entry is a reply to the shop's message and not feedback, if it is one;
    `experience`: its points for a problem, a suggestion or a weighed judgement, which a
    message meant for someone else does not have."""
    n = len(t.words)
    if n > _AUTOMATIC_REPLY_MAX_WORDS:
        return None
    automatic = sorted(_AUTOMATIC_REPLIES.found(t))
    if not automatic and n > _CHAT_MAX_WORDS:
        return None
    opt_out = _mentions(t, _OPT_OUT_WORDS, _OPT_OUT_PHRASES) if n <= _OPT_OUT_MAX_WORDS else []
    # Not when something did not happen ("Wer ist da? Der Bote hat nicht geklingelt").
    sender = [] if _NEGATORS & t.vocabulary else sorted(_SENDER_QUESTIONS.found(t))
    chat = [] if experience else _mentions(t, _CHAT_WORDS, _CHAT_PHRASES)
    found = automatic + opt_out + sender + chat
    # The words of the reply itself are no word of a purchase: "danke" in "Danke für deine
    # Nachricht", "phone" in "can't come to the phone", "gute" in "gute Besserung".
    rest = t.vocabulary - frozenset(chain.from_iterable(phrase.split(" ") for phrase in found))
    # An automatic reply names days as reports do ("back on Monday", "ab dem 3. wieder"):
    # only the other words of a purchase tell a customer quoting one ("the hotline only
    # said 'you have reached our service team', my kettle is still broken").
    if automatic and not _of_a_purchase(t, rest - _AWAY_WORDS, details=False):
        return f"an automatic reply, not feedback{_listed(automatic, 2)}"
    if not (opt_out or sender or chat) or _of_a_purchase(t, rest):
        return None
    if opt_out:
        return f"a request to stop the messages, not feedback{_listed(opt_out, 2)}"
    if sender:
        return f"a question about the sender or the number, not feedback{_listed(sender, 2)}"
    return f"a message meant for someone else, not feedback{_listed(chat, 2)}"


_SPEC_KEY_RE = re.compile(r"(?:^|[.,;]\s*)[A-ZÄÖÜa-zäöü][\w ()/-]{1,30}:\s")
_SPEC_HEADINGS = ("product description", "produktbeschreibung", "specifications",
                  "technische daten", "key features", "about this item", "ingredients",
                  "zutaten", "nutrition", "nährwerte", "eigenschaften", "pflegehinweis",
                  "artikelnummer", "material", "maße", "dimensions", "analytische bestandteile",
                  "zusammensetzung", "composition", "inhaltsstoffe", "lieferumfang",
                  "klappentext", "product details", "produktdetails", "technische details",
                  # 2026.6: directions for use
                  "anwendung", "directions", "how to use", "gebrauchsanweisung")
_FIRST_PERSON = frozenset({
    "i", "me", "my", "mine", "i'm", "i've", "we", "our", "us", "ich", "mir", "mich", "mein",
    "meine", "meinen", "meinem", "meiner", "wir", "uns", "unser", "unsere", "unseren", "hab",
    "habe",
})
_COPY_PHRASES = _Phrases((
    "this product", "this jacket", "dieses produkt", "this item", "this classic",
    "dieses elegante", "features a", "perfekt für", "perfect for", "ideal for", "crafted from",
    "designed to", "offers", "überzeugt mit", "schützt zuverlässig", "wind und wetter",
    "sorgt für", "bietet", "für jeden anlass", "keeps you", "ensures",
))


def _copied_product_text(t: _Text) -> str | None:
    if _FIRST_PERSON & t.vocabulary:
        return None
    keys = t.field_names
    heading = next((h for h in _SPEC_HEADINGS if t.lower.startswith(h)), None)
    if (heading and keys >= 1) or keys >= 3:
        return "copied product text (attribute list" + (f", {heading!r}" if heading else "") + ")"
    copy = sorted(_COPY_PHRASES.found(t))
    if len(copy) >= 2:
        return f"copied product text (marketing copy{_listed(copy)})"
    return None


# 2026.16: the shop's own texts pasted under their heading: shipping and return policies,
# assembly or planting instructions, safety warnings. Customers write such headings too
# ("Achtung: fällt klein aus", "Rückgabe: hat geklappt, wir haben ..."), so the heading
# alone decides nothing: the shop's voice ("we", "wir") or field names in a long policy
# text (a customer asks the shop "Können Sie ...", so the formal "Sie" tells nothing), or
# numbered steps, field names or safety phrases in an instruction or warning, with nobody
# speaking for themselves.
_POLICY_HEADINGS = (
    "shipping", "delivery information", "returns", "return policy", "refund", "versand",
    "lieferbedingungen", "lieferinformationen", "lieferung", "rückgabe", "rücksendung",
    "widerruf", "garantie", "warranty", "gewährleistung",
)
_INSTRUCTION_HEADINGS = (
    "aufbauanleitung", "montageanleitung", "pflanzanleitung", "anleitung", "instructions",
    "assembly", "care instructions", "sicherheitshinweis", "safety", "warnhinweis",
    "warning", "warnung", "achtung", "caution", "vorsicht", "hinweis",
)
_POLICY_MIN_WORDS = 25
# A heading of up to four words that ends in a colon (a policy's) or a colon or "!" (a
# warning's: "Achtung!"); "Lieferung war schnell! Wir ..." is a sentence, no heading.
_HEADING_RE = re.compile(r"\s*([^\W\d_][^:!\n]{1,30}?)\s*([:!])")
_HEADING_MAX_WORDS = 4
_FIRST_PERSON_SINGULAR = frozenset({
    "i", "me", "my", "mine", "i'm", "i've", "ich", "mir", "mich", "mein", "meine", "meinen",
    "meinem", "meiner", "hab", "habe",
})
_SHOP_VOICE = _FIRST_PERSON - _FIRST_PERSON_SINGULAR
_NUMBERED_STEP_RE = re.compile(r"(?:^|\s)\d{1,2}[.)]\s+[A-ZÄÖÜ]")
_SAFETY_PHRASES = _Phrases((
    "choking hazard", "small parts", "kleinteile", "erstickungsgefahr", "not for children",
    "nicht für kinder", "keep out of reach", "außerhalb der reichweite", "unter aufsicht",
    "under adult supervision", "verschluckbare",
))


def _copied_shop_text(t: _Text) -> str | None:
    heading = _HEADING_RE.match(t.lower)
    if (heading is None or heading[1].count(" ") >= _HEADING_MAX_WORDS
            or _FIRST_PERSON_SINGULAR & t.vocabulary):
        return None
    name = heading[1]
    fields = t.field_names
    if name.startswith(_POLICY_HEADINGS) and heading[2] == ":":
        policy = len(t.words) >= _POLICY_MIN_WORDS and (_SHOP_VOICE & t.vocabulary or fields >= 2)
        return f"copied shop text (a policy under {name!r})" if policy else None
    instructions = (name.startswith(_INSTRUCTION_HEADINGS) and not _FIRST_PERSON & t.vocabulary
                    and (len(_NUMBERED_STEP_RE.findall(t.raw)) >= 3 or fields >= 2
                         or _SAFETY_PHRASES.found(t)))
    return f"copied shop text (instructions or a warning under {name!r})" if instructions else None


# 2026.18: sending the reader to another seller, with a comparison: "geht lieber direkt zu
# RadHaus Möller" (better, cheaper), "go to Dave's Bike Barn ..., ask for Tony" (the same,
# cheaper), "bei uns gibt es die gleichen Jacken 30 % günstiger", "Schaut da mal vorbei!"
# (fresher). A customer who names a cheaper shop to ask for a price match, or praises
# this one to other buyers ("Schaut mal vorbei"), sends nobody elsewhere. Where the
# redirect could be the shop's own people or the writer's home ("ask for Sarah", "bei uns
# gibt es keine Packstation"), only a price or "the same" counts as the comparison.
_SAME_OR_CHEAPER = frozenset({"cheaper", "billiger", "günstiger", "preiswerter", "same",
                              "gleiche", "gleichen", "gleiches"})
_COMPARED = _SAME_OR_CHEAPER | {"besser", "better", "frischer", "fresher"}
_REDIRECTS = (
    (re.compile(r"\b(?:geht|geh|kauft|kauf|bestellt|bestell) (?:doch )?lieber\b"
                r"|\bschaut (?:(?:doch|mal|einfach) )*(?:da|dort) (?:(?:doch|mal|einfach) )*"
                r"(?:vorbei|rein)\b|\beinfach nach .{1,40}? suchen\b"
                r"|\b(?:go|head) to \w+['\u2019]s\b"),
     False, _COMPARED),
    (re.compile(r"\b[Kk]ann (?![Ii]ch\b|[Ee]uch\b|[Ii]hn\b|[Ss]ie\b|[Ee]s\b)"
                r"[A-Z]\w*[A-Z0-9]\w* nur empfehlen"), True, _COMPARED),
    (re.compile(r"\bbei uns (?:gibt(?:'s| es)|bekommt|kriegt)\b"
                r"|\b(?:my|our) (?:\w+['\u2019]s )?(?:store|shop)\b"), False, _SAME_OR_CHEAPER),
    (re.compile(r"\bask for [A-Z][a-z]+"), True, _SAME_OR_CHEAPER),
)


def _other_seller(t: _Text) -> str | None:
    compared = _COMPARED & t.vocabulary  # most entries compare nothing: no pattern runs
    if not compared:
        return None
    for pattern, on_raw, comparisons in _REDIRECTS:
        if comparisons & compared:
            found = pattern.search(t.raw if on_raw else t.lower)
            if found:
                return f"sends the reader to another seller ({found[0]!r})"
    return None


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
_MASKED_RE = re.compile(r"\w[*@$!]|[*@$!]\w")
# "F U C K": letters spaced out to slip past a word filter
_SPACED_RE = re.compile(r"(?<!\w)(?:\w ){2,}\w(?!\w)")
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
    tokens = _RAW_TOKEN_RE.findall(t.lower) if masked else list(t.words)
    spaced = _SPACED_RE.findall(t.lower)
    tokens += ["".join(run.split()) for run in spaced]
    hits = sum(map(_is_profane, tokens))
    # "F U C K" is one word, not four
    words = max(1, len(t.words) - sum(run.count(" ") for run in spaced))
    if hits and hits / words >= _RANT_SHARE:
        reason = f"{hits} profane word(s) in {words}: an insult, not feedback"
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
    return _shingled(text)[0]


@lru_cache(maxsize=64)
def _shingled(text: str) -> tuple[int, int]:
    """The text's simhash and how many normalised words it has. The intake fingerprints
    an entry, then scores it, and the score asks again (the near-copy check): the words
    are normalised and hashed once (a tenth of the scorer's time for a short entry)."""
    words = _normal_words(text)
    return _simhash_words(words), len(words)


def _simhash_words(words: Sequence[str]) -> int:
    unigrams = set(words)
    bigrams = {f"{a} {b}" for a, b in pairwise(words)}
    if not unigrams:
        return 0
    # Words recur across entries and are worth caching; word pairs mostly do not.
    digests = b"".join(map(_cached_feature_hash, unigrams)) + b"".join(map(_feature_hash, bigrams))
    return _majority_bits(digests, len(unigrams) + len(bigrams))


# blake2b, not hash(): str hashes are salted per process and would break stored values.
# Each feature's hash starts from a copy of this state: two-thirds of the time of a new
# hash object with its parameters (a 160-word review has 160 word pairs to hash).
_FEATURE_HASH = hashlib.blake2b(digest_size=8, person=b"resonanz.sh")


def _feature_hash(feature: str) -> bytes:
    state = _FEATURE_HASH.copy()
    state.update(feature.encode())
    return state.digest()


_cached_feature_hash = lru_cache(maxsize=32768)(_feature_hash)


def _majority_bits(digests: bytes, n: int) -> int:
    """Bit i is set when more than half of the n 8-byte digests have bit i set."""
    # One row of 64 bits per digest, summed by column: half the time of counting with
    # big-integer masks, and ~20x less than a Python loop over features and bits.
    bits = np.unpackbits(np.frombuffer(digests, dtype=np.uint8).reshape(n, 8), axis=1)
    return int.from_bytes(np.packbits(2 * bits.sum(axis=0) > n).tobytes(), "big")


def _duplicate(text: str, earlier: Sequence[Fingerprint]) -> tuple[str | None, ComponentScore]:
    none = ComponentScore(0, 0, DUPLICATE_PENALTY, "no near-copy of an earlier entry")
    own, words = _shingled(text) if earlier else (0, 0)
    if words < DUPLICATE_MIN_WORDS:
        return None, none
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
