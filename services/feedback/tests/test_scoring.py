"""Specification of the offline quality scorer (resonanz.feedback.scoring)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from resonanz.feedback import evaluation, learned, scoring
from resonanz.feedback.scoring import (
    VERSION,
    ComponentScore,
    Fingerprint,
    QualityScore,
    fingerprint,
    normalise,
    score_feedback,
    simhash,
)

LABELLED = Path(scoring.__file__).parent / "data" / "labelled_examples.jsonl"
TRAINER = Path(__file__).resolve().parents[3] / "tools" / "train_scorer.py"
LABELS = ("good", "lazy", "spam", "duplicate")
COMPONENTS = ("effort", "specificity", "experience", "language", "readability", "consistency",
              "boilerplate", "spam", "register", "profanity", "duplicate", "learned",
              "learned_spam")

GERMAN_REVIEW = (
    "Die Schuhe fallen eine Nummer kleiner aus. Ich trage sonst 42 und musste auf 43 "
    "umtauschen. Der Umtausch lief aber unkompliziert, das Rücksendeetikett lag im Paket."
)
ENGLISH_REVIEW = (
    "Delivery took 11 days instead of the 3-5 days shown at checkout, and the tracking "
    "number didn't work until day 8. Customer service just sent me a copy-pasted reply."
)


def score(text: str, rating: int | None = 4, earlier: list[Fingerprint] | None = None,
          answers: dict[str, object] | None = None) -> QualityScore:
    return score_feedback(text, rating, answers, earlier or [])


def load_labelled() -> list[dict[str, Any]]:
    with LABELLED.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def classify(result: QualityScore) -> str:
    """The moderation decision: accept "good", reject everything else with a reason."""
    if result.label == "spam":
        return "spam"
    if result.duplicate_of is not None:
        return "duplicate"
    return "good" if result.label == "good" else "lazy"


def score_in_submission_order(rows: list[dict[str, Any]]) -> Iterator[QualityScore]:
    """Like the service: each entry sees the fingerprints of its campaign's earlier entries."""
    earlier: dict[str, list[Fingerprint]] = defaultdict(list)
    for index, row in enumerate(rows):
        yield score_feedback(row["text"], row["rating"], None, earlier[row["campaign"]])
        earlier[row["campaign"]].append(fingerprint(f"entry-{index}", row["text"]))


# --- what counts as good ------------------------------------------------------------------


def test_specific_german_review_scores_good() -> None:
    result = score(GERMAN_REVIEW)
    assert result.label == "good"
    assert result.language == "de"
    assert result.score >= scoring.GOOD_THRESHOLD


def test_specific_english_complaint_scores_good_despite_low_rating() -> None:
    result = score(ENGLISH_REVIEW, rating=1)
    assert result.label == "good"
    assert result.language == "en"


@pytest.mark.parametrize("text", ["ok", "gut", "Alles super!", "nice", "Top Shop, gerne wieder",
                                  "Great product, thanks!", "Sehr zufrieden."])
def test_generic_one_liners_are_not_good(text: str) -> None:
    result = score(text, rating=5)
    assert result.label in ("fair", "poor")
    assert result.breakdown["specificity"].points < 10


def test_long_generic_praise_is_not_good() -> None:
    text = ("Everything was perfect, thank you so much, very happy with my order and will "
            "definitely come back to this lovely shop again!")
    assert score(text, rating=5).label != "good"


def test_specific_details_raise_the_score() -> None:
    vague = score("The jacket is nice and I like it a lot, really happy with it overall.")
    concrete = score("The jacket in size M fits well, but the zipper broke after 2 weeks "
                     "because the seam is too tight.")
    assert concrete.breakdown["specificity"].points > vague.breakdown["specificity"].points
    assert concrete.score > vague.score


def test_free_text_survey_answers_count_towards_effort() -> None:
    answers = {"what_went_wrong": "The parcel arrived two days late and the box was dented.",
               "nps": 6, "would_recommend": True}
    without = score("Okay overall.", answers=None)
    with_answers = score("Okay overall.", answers=answers)
    assert with_answers.breakdown["effort"].points > without.breakdown["effort"].points


REFERENCE_EXAMPLE = "Checkout button was unresponsive on mobile Safari."


def test_the_reference_example_is_good() -> None:
    # FeedBackPro's documentation example: names the step, the control, the device and the
    # browser in one sentence, with a low rating.
    result = score(REFERENCE_EXAMPLE, rating=2)
    assert result.label == "good"
    assert {"checkout", "button", "mobile", "safari"} <= set(
        result.breakdown["specificity"].reason.replace(",", " ").replace("(", " ")
        .replace(")", " ").split())
    assert "unresponsive" in result.breakdown["experience"].reason
    # The rules alone carry it well past the threshold, whatever the learned heads make of
    # so short an entry, which moves with each retrain (2026.14: 0.5x, naming 'checkout';
    # 2026.15: 0.47; 2026.16: 0.53; 2026.20, trained with short reports too: 0.93).
    rules = sum(c.points for name, c in result.breakdown.items()
                if name not in ("learned", "learned_spam"))
    assert rules >= scoring.GOOD_THRESHOLD + 10
    assert result.score >= scoring.GOOD_THRESHOLD + 10


@pytest.mark.parametrize("text", [
    "Der Bezahlen-Button reagiert in der App auf Android nicht.",
    "PayPal payment fails on the iPad app with \"session expired\".",
    "Gutscheincode wird im Warenkorb als ungültig angezeigt.",
    "Retourenlabel download gives a blank PDF on Chrome.",
])
def test_one_sentence_naming_a_problem_and_where_it_happens_is_good(text: str) -> None:
    assert score(text, rating=2).label == "good"


@pytest.mark.parametrize("text", [
    "Ich war sehr zufrieden mit der Lieferung und der Ware. Alles kam schnell und gut verpackt "
    "an. Ich werde bestimmt wieder bestellen.",
    "Checkout was easy and delivery quick. Very satisfied customer, will order again!",
    "Great quality, fast shipping, friendly service. Thank you so much, five stars!",
])
def test_generic_praise_naming_steps_is_not_good(text: str) -> None:
    result = score(text, rating=5)
    assert result.label in ("fair", "poor")
    assert result.breakdown["specificity"].points <= 10
    assert result.breakdown["experience"].points <= 6


@pytest.mark.parametrize("text", [
    "Ich war echt positiv überrascht, bei dem Laden kann man nix falsch machen. Gerne wieder!",
    "Pleasantly surprised, you can't go wrong with this shop. Will order again for sure.",
    "Kann ich nur weiterempfehlen, macht weiter so! Die Bezahlung ging auch problemlos.",
    "I'm happy, it's all fine and we're ordering again, that's for sure.",
])
def test_praise_in_words_problems_or_details_also_use_is_not_good(text: str) -> None:
    # Idioms with a problem's words, "weiter(empfehlen)" (not "weite"), the generic step
    # "Bezahlung" and contractions ("I'm", which is not a number) found nothing concrete.
    result = score(text, rating=5)
    assert result.label in ("fair", "poor")
    reason = result.breakdown["specificity"].reason
    assert reason.startswith("0 concrete reference(s)") and "0 number(s)" in reason
    assert result.breakdown["experience"].reason.startswith("problem or observation: none")


@pytest.mark.parametrize("text", ["Fällt eine Nummer kleiner aus.", "Runs small, size up.",
                                  "Die Ratenzahlung wurde abgelehnt."])
def test_short_reports_of_fit_or_a_named_payment_are_concrete(text: str) -> None:
    assert not score(text).breakdown["specificity"].reason.startswith("0 concrete")


@pytest.mark.parametrize("text", [
    "I recently purchased this product and I must say it has truly exceeded my expectations. "
    "The quality is outstanding and the customer service was exceptional. Overall, a "
    "fantastic experience.",
    "Als zufriedener Kunde möchte ich betonen, dass dieses Produkt in jeder Hinsicht "
    "überzeugt. Insgesamt ein rundum gelungenes Einkaufserlebnis.",
    "Certainly! Here is a review: \"Great product, highly recommended.\"",
    "Sure! Here's a short 5-star review you can post: \"Lovely shop, fast and friendly.\"",
])
def test_machine_written_boilerplate_is_spam(text: str) -> None:
    result = score(text, rating=5)
    assert result.label == "spam"
    assert result.breakdown["boilerplate"].points <= scoring.BOILERPLATE_LABEL_PENALTY
    assert result.breakdown["boilerplate"].reason != "no template or machine-like phrasing"


@pytest.mark.parametrize(("text", "reason"), [
    ("Earn $3000 weekly from home, DM me on Telegram @richmindset_coach", "handle"),
    ("Nebenverdienst gesucht? Melde dich auf WhatsApp +49 157 33445566", "phone number"),
    ("test", "a test entry"),
    ("Dies ist ein Test, bitte ignorieren.", "a test entry"),
    ("1234567890", "no words"),
    ("00000000", "no words"),
    ("Material: 100% Baumwolle. Pflege: 30 Grad. Passform: Regular Fit.", "product text"),
    ("Buy cheap Windows 11 keys only $9.99 at softkey-market.store", "throwaway domain"),
    ("You are all idiots.", "insults without content"),
    ("Lonely tonight? Singles near you are waiting: flirt-now.date", "throwaway domain"),
    ("Dieselbe Lampe 30% billiger: lampen-outlet-direkt.de", "discount"),
    ("Zusammensetzung: 80% Wolle, 20% Polyamid. Handwäsche empfohlen.", "product text"),
    ("🔥🔥🔥🔥🔥🔥", "no words"),
    # 2026.5
    ("Noch billiger bei moebel-discount [punkt] de", "slip past filters"),
    ("Same jacket for half the price at jacketsdirect dot com", "slip past filters"),
    ("Alle Infos: w w w . outlet . de", "slip past filters"),
    ("Gratis Proben jeden Tag in unserer Gruppe: t.me/probenclub", "messenger chat"),
    ("Mit meinem Code ANNA15 spart ihr 15% auf alles", "no experience of the shop"),
    ("Congratulations, you have been selected for a €500 voucher!", "no experience of the shop"),
    ("x", "one letter"),
    ("Dumme Firma, dumme Leute", "insults without content"),
    # 2026.31: replies to a shop's message after delivery that say nothing of the purchase
    ("STOPP", "a request to stop the messages"),
    ("Please no more texts", "a request to stop the messages"),
    ("Woher haben Sie meine Handynummer?", "a question about the sender"),
    ("who is this??", "a question about the sender"),
    ("Automatic reply: I am out of office until Monday.", "an automatic reply"),
    ("Ich bin im Urlaub und antworte ab dem 12. wieder.", "an automatic reply"),
    ("Kommst du heute noch vorbei? Bin bis 8 zuhause", "meant for someone else"),
    ("see you later, save me a seat!", "meant for someone else"),
    ("Happy birthday Tom, love you 🎂", "meant for someone else"),
    ("QA staging check, bitte ignorieren", "the shop's own test entry"),
])
def test_spam_shapes_are_spam_with_a_reason(text: str, reason: str) -> None:
    result = score(text, rating=5)
    assert result.label == "spam"
    assert reason in result.breakdown["spam"].reason


# 2026.31: the words of a reply that is not feedback, in reports of a purchase (written
# for this test, none from the corpus)
@pytest.mark.parametrize(("text", "rating"), [
    ("Stop! Der Reißverschluss klemmt schon nach zwei Tagen.", 2),
    ("The courier had my number and still did not call before coming.", 2),
    ("Wer ist da? Der Bote hat nicht geklingelt, Zettel im Briefkasten.", 2),
    ("Danke dir für die schnelle Hilfe mit dem Umtausch!", 5),
    ("Happy birthday present for my wife, she loves the necklace.", 5),
    ("Bis morgen hieß es in der Mail, gekommen ist das Paket nach einer Woche.", 2),
])
def test_purchase_reports_with_words_of_a_reply_are_not_spam(text: str, rating: int) -> None:
    assert score(text, rating=rating).label != "spam"


# 2026.6: the register, the shape of product, advertising and offer text
@pytest.mark.parametrize(("text", "kinds"), [
    ("Entdecken Sie unsere neue Frühjahrskollektion: zeitlose Schnitte, edle Stoffe und "
     "exklusive Farben für jeden Tag.", ("addresses the reader", "calls to act",
                                         "advertising words")),
    ("Treat yourself to a handcrafted leather bag from the new collection, timeless and "
     "durable. Shop the look today.", ("addresses the reader", "calls to act")),
    ("Wir bieten Ihnen professionelle Umzüge und Entrümpelungen in ganz NRW zu fairen "
     "Festpreisen. Rufen Sie uns an.", ("addresses the reader", "speaks for a business")),
])
def test_product_and_advertising_text_is_spam_by_its_register(text: str,
                                                              kinds: tuple[str, ...]) -> None:
    result = score(text, rating=5)
    register = result.breakdown["register"]
    assert result.label == "spam"
    assert register.points == scoring.REGISTER_MIN
    assert register.reason.startswith("reads like product or advertising text")
    assert all(kind in register.reason for kind in kinds)


@pytest.mark.parametrize("text", [
    "Ich habe die zeitlose Tasche in Cognac bestellt, das Leder ist hochwertig und die Nähte "
    "sind sauber verarbeitet.",
    "Laut Beschreibung 65 W, tatsächlich lädt das Netzteil nur mit 45 W, gemessen mit einem "
    "USB-Tester.",
    "Die Lieferung kam einen Tag zu spät, aber der Fahrer hat das Sofa bis in den dritten "
    "Stock getragen.",
    "Ordered the 2 kg bag of 100% arabica, it arrived with a 5 cm tear and half the beans "
    "spilled.",
])
def test_the_register_spares_entries_that_speak_of_their_order_or_use(text: str) -> None:
    result = score(text, rating=4)
    assert result.breakdown["register"].points == 0
    assert result.breakdown["register"].reason == (
        "speaks of own experience (first person, order or use)")
    assert result.label != "spam"


# 2026.7: feedback addressed to the shop is not advertising text. One kind found alone costs
# the score nothing (it stays a doubt for the spam decision), and "your" of the shop's own
# service is no kind at all.
SHOP_ADDRESSED = [
    ("Your delivery charges to Belgium are twice what other shops ask for a parcel of that "
     "size.", "The delivery charges to Belgium are twice what other shops ask for a parcel of "
     "that size.", 3),
    ("Could you sell the duvet covers in king size as well, the largest one is only "
     "155 x 220.", "Could the shop sell the duvet covers in king size as well, the largest one "
     "is only 155 x 220.", 4),
    ("Your app logs out after every update and the saved wish list is empty again, please "
     "fix that.", "The app logs out after every update and the saved wish list is empty "
     "again, please fix that.", 3),
    ("Your hotline answered within two minutes and sorted out the wrong invoice address at "
     "once.", "The hotline answered within two minutes and sorted out the wrong invoice "
     "address at once.", 5),
    ("Könnten Sie die Wanderschuhe auch in Weite H anbieten, in Weite G drücken sie am "
     "Ballen.", "Könnte der Shop die Wanderschuhe auch in Weite H anbieten, in Weite G drücken "
     "sie am Ballen.", 4),
    ("Leider sind Ihre Versandkosten in die Schweiz mit 19 Euro deutlich höher als bei "
     "anderen Shops.", "Leider sind die Versandkosten in die Schweiz mit 19 Euro deutlich "
     "höher als bei anderen Shops.", 3),
]


def rules_points(result: QualityScore) -> int:
    return sum(c.points for name, c in result.breakdown.items()
               if name not in ("learned", "learned_spam"))


@pytest.mark.parametrize(("addressed", "plain", "rating"), SHOP_ADDRESSED)
def test_addressing_the_shop_costs_no_points_of_the_rules(addressed: str, plain: str,
                                                           rating: int) -> None:
    to_shop, without = score(addressed, rating), score(plain, rating)
    register = to_shop.breakdown["register"]
    assert register.points == 0
    assert ("not counted alone" in register.reason
            or "speaks to the shop of its service" in register.reason), register.reason
    assert rules_points(to_shop) == rules_points(without)
    assert to_shop.label != "spam"


# Not fixed in 2026.7: the learned heads read the words, and the development half they were
# trained on had no genuine entry that addresses the shop, while its spam did ("your" was
# among the reward head's strongest signs against: 54 against 91 for the first pair).
# Not fixed by more data either: a model trained with the 103 development rows of corpus
# 2026-12d (half of them genuine entries that address the shop; tried as 2026.9, not
# shipped: docs/benchmarks.md "Quality scoring") weighs "your" itself little (the reward
# head gives the shipping-costs probe 0.22 without a determiner, 0.18 with "Your"), but
# "the" is one of its strongest signs for a reward (0.64 with "The"); the first pair
# scored 55 against 86. No C from 3 to 100 closed the gap. Leaving articles, possessives
# and pronouns out of the n-grams closes it by construction, but out of fold on the
# development half (950 rows, 2026-12-05) it cost reward recall (0.963 -> 0.955; over four
# fold assignments 0.957 -> 0.952 on average) and was not kept: docs/benchmarks.md
# "Quality scoring", 2026.10.
@pytest.mark.xfail(strict=True, reason="the learned reward head reads 'the' as a sign of"
                                       " substance and 'your' slightly against it")
@pytest.mark.parametrize(("addressed", "plain", "rating"), SHOP_ADDRESSED[:1])
def test_addressing_the_shop_keeps_the_whole_score(addressed: str, plain: str,
                                                   rating: int) -> None:
    assert abs(score(addressed, rating).score - score(plain, rating).score) <= 5


# 2026.8: words that open a customer's sentence as often as an ad's call to act only
# before what an imperative takes; with the shop addressed they had made two kinds (spam).
@pytest.mark.parametrize(("text", "rating"), [
    ("Die Versandkosten nach Österreich sind bei Ihnen zu hoch. Jetzt zahlt man 14 Euro für "
     "zwei Paar Socken.", 2),
    ("Stellen Sie bitte die Größentabelle richtig, Ihre Angaben zur Beinlänge stimmen bei den "
     "Chinos nicht.", 2),
    ("Shop is fine but your search never finds the article numbers printed in the catalogue.",
     3),
    ("Taste is far too sweet, your new granola recipe has much more sugar than the old one.",
     2),
    ("Claim was refused although your warranty covers two years and the kettle stopped "
     "heating.", 1),
])
def test_a_sentence_opening_that_is_no_call_to_act_is_not_spam(text: str,
                                                               rating: int) -> None:
    result = score(text, rating)
    assert "calls to act" not in result.breakdown["register"].reason
    assert result.label != "spam"


@pytest.mark.parametrize("text", [
    "Shop now and save 30 % on all garden furniture, only this week, free delivery for you!",
    "Jetzt zuschlagen: 30 % auf alle Gartenmöbel, nur diese Woche, Versand gratis für Sie!",
    "Taste the difference of our artisan jams, crafted from the finest berries for you.",
])
def test_an_imperative_opening_still_calls_to_act(text: str) -> None:
    assert "calls to act" in score(text, 5).breakdown["register"].reason


def test_one_kind_of_register_is_still_a_doubt_for_the_spam_decision() -> None:
    # One kind costs the score nothing, but its -18 counts towards the spam decision: a
    # spam head short of the penalty decides with it.
    result = score("Du suchst günstige Gaming-Stühle? 40 % Rabatt auf alle Modelle diese "
                   "Woche, kostenloser Versand.", rating=5)
    assert result.breakdown["register"].points == 0
    assert "addresses the reader (du): not counted alone" in result.breakdown["register"].reason
    assert result.label == "spam"
    quiet = ComponentScore(0, 0, 0, "")
    breakdown = {"spam": quiet, "readability": quiet, "profanity": quiet,
                 "boilerplate": quiet, "learned_spam": ComponentScore(-20, 0, -40, "")}
    assert scoring._label(60, breakdown, 0) == "good"
    assert scoring._label(60, breakdown, -scoring.REGISTER_POINTS) == "spam"


@pytest.mark.parametrize(("text", "tells"), [
    # 2026.30: what a product did in use tells of using it, like "tested" and "getragen"
    ("Test passed: the jacket kept me dry in 3 hours of rain.", True),
    ("Die Jeans hat 20 Wäschen überstanden, Farbe wie neu.", True),
    ("The battery lasted two days of hiking.", True),
    ("Auf 2 Touren getestet, Sohle hielt gut.", True),
    ("Keep calm and shop on, the best deals of the year.", False),
])
def test_what_a_product_did_in_use_tells_of_using_it(text: str, tells: bool) -> None:
    assert scoring._analyse(text).tells_of_use is tells


@pytest.mark.parametrize("text", ["Die Lampe ist sehr hell und schön.",
                                  "Dumm gelaufen: das Paket kam 3 Tage zu spät.",
                                  "Test passed: the jacket kept me dry in 3 hours of rain.",
                                  # 2026.5: promotional words as what a report is about
                                  "The Bitcoin wallet guide came with pages 40-56 missing.",
                                  "Der Gutscheincode HERBST20 für 20 % wurde an der Kasse nicht "
                                  "angenommen, Meldung 'ungültig'.",
                                  "Link zum Foto vom Riss im Stoff: https://imgur.com/a/Zt7Qk "
                                  "(nach 2 Wochen)."])
def test_words_that_are_spam_elsewhere_do_not_make_genuine_entries_spam(text: str) -> None:
    assert score(text, rating=4).label != "spam"


@pytest.mark.parametrize("text", ["👍", "😍🙂"])
def test_a_lone_emoji_is_a_lazy_reaction_not_spam(text: str) -> None:
    assert score(text, rating=5).label == "poor"


def test_a_detailed_complaint_may_insult_and_stay_genuine() -> None:
    text = ("Ihr Idioten habt mir zum dritten Mal die Jacke in Größe M statt L geschickt, "
            "das Rücksendeetikett lag wieder nicht im Paket.")
    assert score(text, rating=1).label != "spam"


# --- spam, gibberish, profanity -----------------------------------------------------------


@pytest.mark.parametrize("text", ["asdfghjkl", "qwertzuiop asdf", "sdfkjh sdkfjh skdjfh lksjdf",
                                  "jjjjjjjjjjjjjjjjjjjj", "asdasdasd asdasd", "xcvbnm mnbvcx"])
def test_keyboard_mash_is_spam(text: str) -> None:
    result = score(text, rating=1)
    assert result.label == "spam"
    assert result.breakdown["readability"].reason.startswith("gibberish")
    assert result.language == "unknown"


def test_repeating_one_word_is_spam() -> None:
    assert score("good good good good good good good good good good", rating=5).label == "spam"


@pytest.mark.parametrize("text", [
    "BUY NOW!!! Cheap Rolex replicas at www.best-replica-watches.top click here!!!",
    "Jetzt kaufen!!! Beste Preise auf www.billig-uhren24.biz - gratis Versand!!!",
    "Verdiene 5000€ im Monat! Schreib mir auf WhatsApp +49 176 12345678",
    "Make money from home, earn $500 a day with crypto. Contact me: richfast@gmail.com",
])
def test_promotional_text_with_contact_details_is_spam(text: str) -> None:
    result = score(text, rating=5)
    assert result.label == "spam"
    assert result.breakdown["spam"].points <= scoring.SPAM_LABEL_PENALTY


OFF_TOPIC_REASON = "nothing about a shop, a product or an order"


@pytest.mark.parametrize("text", [
    # 2026.22: chatter that is about something else than a purchase
    "Grüße an meine Schwester in Köln, wir sehen uns am Wochenende",
    "Is anyone else watching the match tonight",
    "Kennt jemand einen guten Friseur in Graz?",
])
def test_an_entry_about_something_else_than_a_purchase_adds_doubt(text: str) -> None:
    spam = score(text, rating=3).breakdown["spam"]
    assert OFF_TOPIC_REASON in spam.reason, spam.reason
    assert spam.points == 0  # doubt for the decision, not points off the score


@pytest.mark.parametrize("text", [
    # However generic, these speak of the purchase or judge it; under four words or with
    # something specific the doubt is not asked.
    "Alles super, gerne wieder!",
    "Schnelle Lieferung, gute Qualität.",
    "Love it, would buy again",
    "Leider kaputt angekommen.",
    "Rubbish, do not buy",  # 2026.23: words that judge a product
    "Hält was es verspricht.",
    "Mein Hund liebt es!",
    "Passt.",  # under four words
    "Die Gasdruckfeder vom Bürostuhl sinkt nach 3 Wochen ab.",  # something specific
])
def test_an_entry_about_a_purchase_adds_no_doubt(text: str) -> None:
    assert OFF_TOPIC_REASON not in score(text, rating=3).breakdown["spam"].reason


# Genuine entries without a word of the list: the doubt alone stays below the spam decision.
@pytest.mark.parametrize("text", [
    "Schlafe wie ein Baby", "Die Kinder haben sich riesig darauf gestürzt",
])
def test_the_doubt_alone_calls_no_entry_spam(text: str) -> None:
    result = score(text, rating=3)
    assert OFF_TOPIC_REASON in result.breakdown["spam"].reason
    assert result.breakdown["learned_spam"].points > -5, "the head leans towards spam now"
    assert result.label != "spam"


def test_the_doubt_decides_with_another_signal_and_not_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The spam head silenced: the capitals' 15 points and the doubt's 25 reach the spam
    # decision together; the doubt alone does not.
    monkeypatch.setattr(scoring, "SPAM_HEAD_MAX", 0)
    monkeypatch.setattr(scoring, "SPAM_HEAD_MAX_LONG", 0)
    shouting = score("WER HAT HEUTE DAS SPIEL GESEHEN", rating=3)
    assert shouting.breakdown["spam"].points == -15
    assert shouting.breakdown["learned_spam"].points == 0
    assert OFF_TOPIC_REASON in shouting.breakdown["spam"].reason
    assert shouting.label == "spam"
    calm = score("Wer hat heute das Spiel gesehen", rating=3)
    assert OFF_TOPIC_REASON in calm.breakdown["spam"].reason
    assert calm.label != "spam"


@pytest.mark.parametrize("text", [
    # 2026.23: an invitation to the writer's own profile or inbox is promotional
    "Alle Infos zum Angebot per DM",
    "Want the same for half? Link in my bio",
    "Noch mehr davon gibts, pm me",
])
def test_an_invitation_to_the_writers_profile_or_inbox_is_promotional(text: str) -> None:
    assert "promotional words" in score(text, rating=3).breakdown["spam"].reason


def test_support_address_in_a_genuine_complaint_is_not_spam() -> None:
    text = ("Ich habe am 12.05. an service@beispielshop.de geschrieben, weil auf der Rechnung "
            "die Mehrwertsteuer doppelt berechnet wurde, und bis heute keine Antwort bekommen.")
    result = score(text, rating=1)
    assert result.label == "good"
    assert "e-mail address" in result.breakdown["spam"].reason


def test_order_numbers_are_not_phone_numbers() -> None:
    result = score("Bestellnummer 100234567: die Lieferung kam ohne Rechnung an, bitte senden.")
    assert "phone" not in result.breakdown["spam"].reason


@pytest.mark.parametrize("text", ["This shop is shit, fucking scammers, f*ck you all!!!",
                                  "Sch31ß L4den, f1ck3n!!!", "sh1t sh0p, fuuuck th1s",
                                  "FUCK THIS SHOP"])
def test_profanity_rants_are_spam(text: str) -> None:
    result = score(text, rating=1)
    assert result.label == "spam"
    assert result.breakdown["profanity"].points <= scoring.PROFANITY_LABEL_PENALTY


def test_one_swear_word_in_a_detailed_complaint_costs_points_but_stays_good() -> None:
    text = ("Honestly the zipper is shit: it broke after 2 days. I returned it via DHL and the "
            "refund took 3 weeks, which is far too long for a 90 euro jacket.")
    result = score(text, rating=1)
    assert result.breakdown["profanity"].points == -12
    assert result.label == "good"


@pytest.mark.parametrize("text", ["Der Stoff ist sehr dick und warm.", "Shiitake mushrooms, fresh.",
                                  "Die Bewertung ist ehrlich gemeint.", "A classic assessment."])
def test_innocent_words_are_not_profane(text: str) -> None:
    assert score(text).breakdown["profanity"].points == 0


def test_praising_text_with_one_star_loses_consistency_points() -> None:
    text = "Super Qualität, perfekte Passform, ich bin total begeistert und zufrieden!"
    assert score(text, rating=1).breakdown["consistency"].points == 0
    assert score(text, rating=5).breakdown["consistency"].points == scoring.CONSISTENCY_MAX


def test_negated_praise_is_read_as_negative() -> None:
    text = "Nicht zufrieden, nicht empfehlen, gar nicht toll."
    assert score(text, rating=1).breakdown["consistency"].points == scoring.CONSISTENCY_MAX


# --- language -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "language"), [
    (GERMAN_REVIEW, "de"), (ENGLISH_REVIEW, "en"), ("gut", "de"), ("nice", "en"),
    ("Très bonne qualité, livraison rapide, je recommande vivement ce magasin.", "unknown"),
    ("asdfghjkl", "unknown"), ("", "unknown"),
])
def test_language_is_german_english_or_unknown(text: str, language: str) -> None:
    result = score(text)
    assert result.language == language
    assert (result.breakdown["language"].points > 0) == (language != "unknown")


# --- duplicates ---------------------------------------------------------------------------


def test_near_duplicate_in_same_campaign_is_flagged() -> None:
    original = fingerprint("entry-1", ENGLISH_REVIEW)
    copy = ENGLISH_REVIEW.replace("just sent me", "only sent me").replace(", and", " and")
    result = score(copy, rating=1, earlier=[fingerprint("entry-0", GERMAN_REVIEW), original])
    assert result.duplicate_of == "entry-1"
    assert result.breakdown["duplicate"].points == scoring.DUPLICATE_PENALTY
    assert classify(result) == "duplicate"


def test_copy_with_other_casing_and_punctuation_has_the_same_fingerprint() -> None:
    shouted = "DIE SCHUHE fallen eine Nummer kleiner aus!!! ich trage sonst 42 ... " + \
              GERMAN_REVIEW.split("42 ", 1)[1].upper()
    assert normalise(shouted) == normalise(GERMAN_REVIEW)
    assert fingerprint("a", shouted).distance(fingerprint("b", GERMAN_REVIEW)) == 0
    result = score(shouted, earlier=[fingerprint("b", GERMAN_REVIEW)])
    assert result.duplicate_of == "b"
    assert "same fingerprint as entry b" in result.breakdown["duplicate"].reason


def test_different_reviews_on_the_same_topic_are_not_duplicates() -> None:
    other = ("Delivery took almost two weeks and nobody answered my emails. When the parcel "
             "finally came, the box was crushed and one mug was broken.")
    assert score(other, rating=1, earlier=[fingerprint("e1", ENGLISH_REVIEW)]).duplicate_of is None


def test_duplicate_in_other_campaign_is_not_flagged() -> None:
    rows = load_labelled()
    by_text: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        by_text[row["text"]].add(row["campaign"])
    cross_campaign = [i for i, row in enumerate(rows) if len(by_text[row["text"]]) > 1]
    assert cross_campaign, "the labelled set should contain copies across campaigns"

    results = list(score_in_submission_order(rows))
    assert all(results[i].duplicate_of is None for i in cross_campaign)
    # Proof that only the campaign scoping saves them: with one shared campaign they match.
    merged = list(score_in_submission_order([{**row, "campaign": "all"} for row in rows]))
    assert any(merged[i].duplicate_of is not None for i in cross_campaign)


def test_short_generic_texts_are_never_duplicates() -> None:
    earlier = [fingerprint("e1", "Alles super, danke!")]
    assert score("alles super, danke", earlier=earlier).duplicate_of is None


def test_closest_earlier_fingerprint_wins_and_ties_go_to_the_oldest() -> None:
    earlier = [fingerprint("old", GERMAN_REVIEW), fingerprint("new", GERMAN_REVIEW)]
    assert score(GERMAN_REVIEW, earlier=earlier).duplicate_of == "old"


@given(st.integers(min_value=0, max_value=2**64 - 1),
       st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=40),
       st.lists(st.integers(min_value=0, max_value=63), max_size=6),
       st.integers(min_value=0, max_value=64))
def test_closest_compares_a_stored_window_bit_by_bit(simhash: int, stored: list[int],
                                                     flips: list[int], most: int) -> None:
    """The window as PostgreSQL gives it (signed), near and far fingerprints, ties: the
    closest within `most` bits, the oldest (last) of equals, as a loop over Python ints
    finds it."""
    near = (simhash ^ sum(1 << bit for bit in set(flips))) % 2**64
    window = [*stored, near - 2**64 if near >= 2**63 else near, *stored[:2]]
    distances = [((value % 2**64) ^ simhash).bit_count() for value in window]
    best = min(distances)
    expected = (len(window) - 1 - distances[::-1].index(best)) if best <= most else None
    assert scoring.closest(simhash, scoring.fingerprint_window(window), most) == expected
    assert scoring.closest(simhash, scoring.fingerprint_window([]), most) is None


_PIECES = st.sampled_from([
    "a", "x", "t", "h", "p", "m", "e", " ", "  ", "\n", ".", "/", "(", ")", "[", "]", "dot",
    "punkt", "at", "www", "com", "de", "h t t p", "t.me/", "wa.me/", "chat.whatsapp.com/",
    "<", "script", "select * from", "drop table", "{{", "${", "[url=", "<a href", "lorem ipsum",
    "dolor", "[produktname]", "me/", "whatsapp.com",
])


@given(st.lists(_PIECES, max_size=30).map("".join))
@example("shop (dot) de")
@example("shop dot com")
@example("www. shop")
@example("shop . com")
@example("h t t p s")
@example("chat: t.me/shop")
@example("<script>")
@example("{{name}}")
@example("[url=x]")
@example("lorem ipsum dolor")
@settings(max_examples=300)
def test_the_patterns_hints_never_skip_a_text_the_pattern_matches(lower: str) -> None:
    """The obfuscated-link, messenger-link, template and code patterns run only on texts
    with what each of their branches needs: the answers are the patterns' own."""
    for hinted in (scoring._OBFUSCATED_LINK, scoring._MESSENGER_LINK, scoring._TEMPLATE,
                   scoring._CODE):
        found, tried = hinted.pattern.search(lower), hinted.search(lower)
        assert (found and found.span()) == (tried and tried.span()), hinted.pattern.pattern


def test_fingerprint_is_pinned_so_stored_values_stay_comparable() -> None:
    # Changing normalisation, features or hash invalidates every stored fingerprint:
    # bump scoring.VERSION and plan a backfill before touching this value.
    fp = fingerprint("e1", "Die Lieferung kam pünktlich, aber der Karton war beschädigt.")
    assert fp.simhash == 0xC4F77062B11F22E8
    assert fp.signed == -4253807753847430424


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_fingerprint_round_trips_through_a_signed_bigint(value: int) -> None:
    fp = Fingerprint.from_signed("e1", value)
    assert 0 <= fp.simhash < 2**64
    assert fp.signed == value
    assert Fingerprint.from_signed("e1", fp.signed) == fp


@pytest.mark.parametrize("bad", [-1, 2**64])
def test_fingerprint_rejects_values_outside_64_bits(bad: int) -> None:
    with pytest.raises(ValueError, match="64-bit"):
        Fingerprint("e1", bad)


@pytest.mark.parametrize("text", ["0 " * 5000, "+" + "1" * 20000, "a'" * 5000, "ASDF " * 4000,
                                  "".join(chr(0x4E00 + i) for i in range(3000)) * 3])
def test_pathological_input_is_scored_as_junk(text: str) -> None:
    result = score(text, rating=1, earlier=[fingerprint("e0", GERMAN_REVIEW)])
    assert result.label in ("spam", "poor")


@pytest.mark.parametrize("word", ["Deutschland", "Schifffahrt", "Kampfsport", "Angstschweiß",
                                  "Herbstschuhe", "strengths", "Bewertung", "property"])
def test_real_words_with_consonant_clusters_read_as_language(word: str) -> None:
    result = score(f"Das Wort {word} steht so im Text und ist ganz normal.")
    assert result.breakdown["readability"].points == scoring.READABILITY_MAX


def test_empty_text_has_an_empty_fingerprint() -> None:
    assert simhash("") == simhash("?!") == 0


# --- contract -----------------------------------------------------------------------------


def test_breakdown_explains_every_component() -> None:
    for text in (GERMAN_REVIEW, "ok", "asdfghjkl", "BUY NOW at www.x-shop.biz!!!", ""):
        result = score(text, earlier=[fingerprint("e0", GERMAN_REVIEW)])
        assert tuple(result.breakdown) == COMPONENTS
        for name, part in result.breakdown.items():
            assert part.reason.strip(), name
            assert part.min_points <= part.points <= part.max_points, name


def test_as_dict_matches_the_json_contract() -> None:
    result = score(GERMAN_REVIEW, earlier=[fingerprint("e0", GERMAN_REVIEW)])
    data = json.loads(json.dumps(result.as_dict()))
    assert set(data) == {"score", "label", "components", "language", "duplicate_of", "version"}
    assert data["version"] == VERSION == "2026.33"
    assert data["duplicate_of"] == "e0"
    assert data["label"] in ("good", "fair", "poor", "spam")
    for part in data["components"].values():
        assert {"points", "max", "reason"} <= set(part)


def test_rating_outside_one_to_five_is_rejected() -> None:
    with pytest.raises(ValueError, match="rating"):
        score("ok", rating=6)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(max_size=400) | st.text(alphabet="aeiouäöüßqwrtzsdfgh !?.,*@1", max_size=200),
    rating=st.none() | st.integers(min_value=1, max_value=5),
    answers=st.none() | st.dictionaries(st.text(max_size=5),
                                        st.text(max_size=50) | st.integers(), max_size=3),
    earlier=st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=5),
)
def test_scores_stay_within_0_and_100(text: str, rating: int | None,
                                      answers: dict[str, object] | None,
                                      earlier: list[int]) -> None:
    fingerprints = [Fingerprint(f"e{i}", value) for i, value in enumerate(earlier)]
    result = score_feedback(text, rating, answers, fingerprints)
    assert 0 <= result.score <= 100
    assert result.label in ("good", "fair", "poor", "spam")
    json.dumps(result.as_dict())


DETERMINISM_SCRIPT = """
import json, sys
from resonanz.feedback.scoring import fingerprint, score_feedback
texts = json.loads(sys.stdin.read())
earlier = [fingerprint(f"e{i}", t) for i, t in enumerate(texts)]
out = [[score_feedback(t, 3, None, earlier[:i]).as_dict(), earlier[i].signed]
       for i, t in enumerate(texts)]
print(json.dumps(out, sort_keys=True))
"""


def test_score_is_deterministic_across_processes() -> None:
    # str hashes are salted per process; a scorer leaning on hash() would differ here.
    texts = [row["text"] for row in load_labelled()[:40]]
    runs = [_score_in_subprocess(texts, seed) for seed in ("1", "2", "random")]
    assert runs[0] == runs[1] == runs[2]
    earlier = [fingerprint(f"e{i}", t) for i, t in enumerate(texts)]
    here = [[score_feedback(t, 3, None, earlier[:i]).as_dict(), earlier[i].signed]
            for i, t in enumerate(texts)]
    assert json.loads(runs[0]) == json.loads(json.dumps(here))


def _score_in_subprocess(texts: list[str], hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run([sys.executable, "-c", DETERMINISM_SCRIPT], input=json.dumps(texts),
                          capture_output=True, text=True, env=env, check=True, timeout=120)
    return done.stdout


# --- the learned component ---------------------------------------------------------------


def test_the_learned_component_names_the_words_that_weighed_most() -> None:
    specific = score(GERMAN_REVIEW).breakdown["learned"]
    generic = score("Alles super, gerne wieder!", rating=5).breakdown["learned"]
    assert specific.points > 0 > generic.points
    assert re.match(r"learned model: [01]\.\d\d that it is worth a reward", specific.reason)
    # Which three words weigh most moves with every retrain; that they are three words of
    # the entry that say something (no function word) does not.
    signs = re.search(r"strongest signs for: '(\w+)', '(\w+)', '(\w+)'\)", specific.reason)
    assert signs, specific.reason
    assert set(signs.groups()) <= {"schuhe", "nummer", "kleiner", "trage", "musste",
                                   "umtauschen", "umtausch", "unkompliziert",
                                   "rücksendeetikett", "paket", "fallen", "sonst", "lief", "42"}
    # 2026.12 on: the heads also read the rules' signals, and name the one that weighed most.
    assert specific.reason.endswith("; of the rules' signals: an experience")
    against = re.search(r"strongest signs against: '(\w+)', '(\w+)', '(\w+)'\)", generic.reason)
    assert against and set(against.groups()) == {"alles", "gerne", "wieder"}, generic.reason
    assert -scoring.LEARNED_MAX <= generic.points < specific.points <= scoring.LEARNED_MAX


def test_the_learned_component_cannot_make_spam_or_a_copy_good() -> None:
    # The model only judges worth; spam and duplicates are the rules' verdicts.
    spam = score("Verdiene 5000€ im Monat! Schreib mir auf WhatsApp +49 176 12345678")
    copy = score(GERMAN_REVIEW, earlier=[fingerprint("e0", GERMAN_REVIEW)])
    assert spam.label == "spam"
    assert copy.label != "good"
    assert copy.breakdown["learned"].points == 0
    assert "near-copy" in copy.breakdown["learned"].reason


def test_the_spam_model_names_its_signs_and_only_ever_costs_points() -> None:
    ad = score("Günstige Designer-Taschen direkt ab Lager, einfach Nachricht schreiben, "
               "gratis Versand!", rating=5).breakdown["learned_spam"]
    genuine = score(GERMAN_REVIEW).breakdown["learned_spam"]
    assert re.match(r"learned spam model: [01]\.\d\d that it is spam", ad.reason)
    assert -scoring.SPAM_HEAD_MAX_LONG <= ad.points < 0 == genuine.points
    assert "strongest signs: '" in ad.reason
    assert "strongest signs" not in genuine.reason


@pytest.mark.parametrize("head", learned.HEADS)
@pytest.mark.parametrize("text", [GERMAN_REVIEW, ENGLISH_REVIEW, "Alles super, gerne wieder!",
                                  "sehr sehr sehr gut gut 42 42 Größe 38", "", "!!!"])
def test_one_weighing_gives_each_head_the_probability_of_the_trained_features(
        text: str, head: str) -> None:
    # The scorer weighs an entry's n-grams and the rules' signals once for both heads,
    # without the lists the trainer builds: the probability must still be the trainer's
    # features (2026.16 on, the char n-grams are summed as arrays, in another order than
    # the trainer's loop: the same to 1e-12, not to the last bit), and score_feedback must
    # give the heads the signals that scoring.signals gives the trainer.
    model = learned.load(VERSION, head)
    told = scoring.signals(text)
    assert any(learned.signal_feature(name) in model.pairs for name in told)
    chars, words = learned.raw_features(text, told)
    column = learned.HEADS.index(head) + 1
    char_weights, word_weights = model.chars.weights, model.pairs
    pushes = [*(char_weights[f][column] * v for f, v in learned.weighted(
                  chars, {f: w[0] for f, w in char_weights.items()}).items()),
              *(word_weights[f][column] * v for f, v in learned.weighted(
                  words, {f: w[0] for f, w in word_weights.items()}).items())]
    logit = max(-30.0, min(30.0, model.intercept + sum(pushes)))
    weighing = learned.load(VERSION).weigh(text, told)
    assert model.judge(weighing).probability == pytest.approx(1 / (1 + math.exp(-logit)),
                                                               rel=1e-12, abs=1e-15)
    with mock.patch.object(learned.Model, "weigh", autospec=True,
                           side_effect=learned.Model.weigh) as weigh:
        score(text)
    assert weigh.call_args.args[1:] == (text, told)


@pytest.mark.parametrize("text", [
    "a " * 5000,  # one n-gram as often as MAX_CHARS allows
    "\u0130" * 5000,  # lower-casing doubles it: "i" and a combining dot, 2,000 words
    "aa" * 3000,  # 40-letter words, one n-gram 39 times in each
    "x",
    "",
])
def test_the_heads_weigh_any_text_up_to_the_bounds_of_their_counts(text: str) -> None:
    weighing = learned.load(VERSION).weigh(text)
    for head in learned.HEADS:
        reading = learned.load(VERSION, head).judge(weighing)
        assert 0.0 < reading.probability < 1.0
        reading.signs(True)
        reading.signs(False)


def test_a_head_refuses_an_entry_weighed_with_other_weights() -> None:
    document = json.loads(learned.MODEL_PATH.read_text(encoding="utf-8"))
    other = learned.from_dict(document, "spam")
    with pytest.raises(ValueError, match="another model"):
        learned.load(VERSION, "spam").judge(other.weigh(GERMAN_REVIEW))


def test_the_spam_model_names_the_same_signs_whether_or_not_the_reward_head_read_first() -> None:
    text = ("Günstige Designer-Taschen direkt ab Lager, einfach Nachricht schreiben, "
            "gratis Versand!")
    weighing = learned.load(VERSION).weigh(text)
    alone = learned.load(VERSION, "spam").read(text).signs(True)
    learned.load(VERSION).judge(weighing).signs(False)
    assert learned.load(VERSION, "spam").judge(weighing).signs(True) == alone
    assert alone  # the ad has signs to name


def test_below_the_reward_fair_and_poor_follow_the_rules_alone() -> None:
    result = score("Everything was perfect, thank you so much, very happy with my order and "
                   "will definitely come back to this lovely shop again!", rating=5)
    rules = sum(c.points for name, c in result.breakdown.items()
                if name not in ("learned", "learned_spam"))
    assert result.breakdown["learned"].points < 0
    assert result.label == ("fair" if rules >= scoring.FAIR_THRESHOLD else "poor")


def test_the_shipped_model_was_trained_for_this_version_on_the_development_half() -> None:
    shipped = json.loads(learned.MODEL_PATH.read_text(encoding="utf-8"))
    assert shipped["version"] == VERSION
    assert shipped["trained_on"] == "corpus_dev.jsonl"
    assert shipped["rows"] == len(evaluation.load("dev"))


def test_a_model_trained_for_another_version_is_refused() -> None:
    with pytest.raises(RuntimeError, match="make train-scorer"):
        learned.load.__wrapped__("1999.1")


def test_the_shipped_model_is_what_make_train_scorer_writes() -> None:
    # Deterministic training: the weights in the repository are reproducible from the
    # development half, and nothing else went into them.
    done = subprocess.run([sys.executable, str(TRAINER), "--check"], capture_output=True,
                          text=True, check=False, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr


# --- the labelled set ---------------------------------------------------------------------


def test_labelled_set_is_big_and_balanced_enough() -> None:
    rows = load_labelled()
    assert len(rows) >= 120
    languages = Counter(row["language"] for row in rows)
    assert abs(languages["de"] - languages["en"]) <= len(rows) * 0.1
    assert set(Counter(row["label"] for row in rows)) == set(LABELS)
    assert all(1 <= row["rating"] <= 5 for row in rows)


def test_every_labelled_duplicate_copies_an_earlier_good_entry_of_its_campaign() -> None:
    earlier_good: dict[str, list[Fingerprint]] = defaultdict(list)
    for row in load_labelled():
        if row["label"] == "duplicate":
            distances = [fp.distance(fingerprint("", row["text"]))
                         for fp in earlier_good[row["campaign"]]]
            assert distances and min(distances) <= 20, row["text"]
        elif row["label"] == "good":
            earlier_good[row["campaign"]].append(fingerprint("", row["text"]))


def test_labelled_set_precision_and_recall(capsys: pytest.CaptureFixture[str]) -> None:
    rows = load_labelled()
    predicted = [classify(result) for result in score_in_submission_order(rows)]
    stats = _precision_recall([row["label"] for row in rows], predicted)
    with capsys.disabled():
        print(_table(stats, len(rows)))

    assert stats["good"]["precision"] >= 0.9
    assert stats["good"]["recall"] >= 0.85
    assert stats["spam"]["recall"] >= 0.85
    assert stats["duplicate"]["recall"] >= 0.9


def test_language_matches_the_labelled_set_for_genuine_feedback() -> None:
    rows = [row for row in load_labelled() if row["label"] in ("good", "duplicate")]
    hits = sum(score(row["text"]).language == row["language"] for row in rows)
    assert hits / len(rows) >= 0.95


def _precision_recall(truth: list[str], predicted: list[str]) -> dict[str, dict[str, float]]:
    stats: dict[str, dict[str, float]] = {}
    for label in LABELS:
        true_pos = sum(t == p == label for t, p in zip(truth, predicted, strict=True))
        said = predicted.count(label)
        actual = truth.count(label)
        stats[label] = {"precision": true_pos / said if said else 1.0,
                        "recall": true_pos / actual if actual else 1.0,
                        "support": actual, "predicted": said}
    return stats


def _table(stats: dict[str, dict[str, float]], total: int) -> str:
    lines = [f"\nlabelled set: {total} examples",
             f"{'class':<10} {'precision':>9} {'recall':>7} {'support':>8} {'predicted':>9}"]
    for label, s in stats.items():
        lines.append(f"{label:<10} {s['precision']:>9.2f} {s['recall']:>7.2f} "
                     f"{int(s['support']):>8} {int(s['predicted']):>9}")
    return "\n".join(lines)


# --- the corpus and its held-out half ------------------------------------------------------


def test_corpus_is_big_and_varied_enough() -> None:
    rows = [row for half in evaluation.HALVES for row in evaluation.load(half)]
    assert len(rows) >= 900
    assert {row.language for row in rows} == {"de", "en", "mix"}
    assert {row.shop for row in rows} == {
        "fashion", "outdoor", "electronics", "food", "furniture", "drugstore", "books", "pets",
        "bikes", "garden", "toys", "jewellery", "sports",
        # 2026-12n and 2026-12o
        "pharmacy", "car parts", "baby products", "stationery", "coffee and tea", "mattresses",
        "musical instruments", "cosmetics", "phone accessories", "home improvement", "wine",
        "shoes", "lighting", "gaming", "kitchenware", "perfume", "luggage",
        # 2026-12q: subscription and service shops
        "meal kits", "coffee subscription", "contact lenses", "printer ink", "flowers",
        "tickets", "photo prints", "software licences", "phone contracts", "vitamins",
        "pet food subscription", "wine club", "streaming hardware", "car accessories",
        "office supplies",
        # 2026-12r and 2026-12s
        "marketplace", "refurbished electronics", "bedding", "eyewear", "home decor",
        "supplements", "sports nutrition",
        # 2026-12t, 2026-12v
        "large appliances", "craft supplies"}
    labels = Counter(row.label for row in rows)
    assert set(labels) == set(evaluation.CLASSES)
    assert min(labels.values()) >= 150
    assert all(1 <= row.rating <= 5 for row in rows)
    texts = [row.text for row in rows]
    assert len(set(texts)) == len(texts), "an entry in two parts would leak"


def test_the_fresh_held_out_set_is_big_and_varied_enough() -> None:
    rows = evaluation.load("heldout_2026_12")
    assert len(rows) >= 150
    labels = Counter(row.label for row in rows)
    assert set(labels) == set(evaluation.CLASSES) and min(labels.values()) >= 30
    assert {row.language for row in rows} == {"de", "en", "mix"}
    assert len({row.shop for row in rows}) == 9


def test_the_spam_and_hard_negative_set_is_big_enough() -> None:
    # data/README.md: 2026-12b, spam of many kinds and genuine entries that look like it
    labels = Counter(row.label for row in evaluation.load("heldout_2026_12b"))
    assert labels["spam"] >= 50 and labels["good"] >= 25 and labels["low"] >= 25


# data/README.md: 2026-12c, subtle spam and hard negatives, 2026-12d, genuine entries
# that address the shop and spam that addresses the reader, and 2026-12e, spam of every
# kind and the genuine entries that look like it, and 2026-12f to 2026-12ab, written by
# writers that had read nothing of the scorer or the corpus; from eleven shop kinds, 12k
# from thirteen (jewellery and sports added), 12n to 12q and 12u from fifteen, 12s from
# eighteen, 12t and 12w from ten, 12v from nine, 12x from eighteen (products tried out and
# tested, and the shops' test entries), 12y from sixteen (short texts, many of them not
# feedback at all), 12z from thirty-eight (replies to a shop's message after delivery),
# 12aa from thirty-nine (specific texts that are not about the purchase), 12ab from
# forty-four (dictated or hastily typed entries, spam that hides what it is).
@pytest.mark.parametrize(("half", "least", "shops"), [
    ("heldout_2026_12c", {"spam": 50, "good": 25, "low": 20}, 11),
    ("heldout_2026_12d", {"spam": 25, "good": 35, "low": 25}, 11),
    ("heldout_2026_12e", {"spam": 50, "good": 30, "low": 20}, 11),
    ("heldout_2026_12f", {"spam": 65, "good": 45, "low": 25}, 11),
    ("heldout_2026_12g", {"spam": 45, "good": 55, "low": 45}, 11),
    ("heldout_2026_12h", {"spam": 45, "good": 50, "low": 45}, 11),
    ("heldout_2026_12i", {"spam": 50, "good": 55, "low": 40}, 11),
    ("heldout_2026_12j", {"spam": 60, "good": 55, "low": 35}, 11),
    ("heldout_2026_12k", {"spam": 65, "good": 50, "low": 35}, 13),
    ("heldout_2026_12l", {"spam": 50, "good": 65, "low": 50}, 11),
    ("heldout_2026_12m", {"spam": 30, "good": 60, "low": 35}, 11),
    ("heldout_2026_12n", {"spam": 35, "good": 65, "low": 50}, 15),
    ("heldout_2026_12o", {"spam": 50, "good": 45, "low": 45}, 15),
    ("heldout_2026_12p", {"spam": 40, "good": 45, "low": 35}, 15),
    ("heldout_2026_12q", {"spam": 35, "good": 55, "low": 50}, 15),
    ("heldout_2026_12r", {"spam": 45, "good": 50, "low": 30}, 11),
    ("heldout_2026_12s", {"spam": 40, "good": 55, "low": 35}, 18),
    ("heldout_2026_12t", {"spam": 40, "good": 50, "low": 30}, 10),
    ("heldout_2026_12u", {"spam": 45, "good": 55, "low": 30}, 15),
    ("heldout_2026_12v", {"spam": 50, "good": 60, "low": 25}, 9),
    ("heldout_2026_12w", {"spam": 40, "good": 50, "low": 25}, 10),
    ("heldout_2026_12x", {"spam": 35, "good": 55, "low": 30}, 18),
    ("heldout_2026_12y", {"spam": 50, "good": 50, "low": 20}, 16),
    ("heldout_2026_12z", {"spam": 50, "good": 45, "low": 25}, 38),
    ("heldout_2026_12aa", {"spam": 50, "good": 55, "low": 20}, 39),
    ("heldout_2026_12ab", {"spam": 55, "good": 55, "low": 35}, 44),
])
def test_the_later_blind_sets_are_big_and_varied_enough(half: str, least: dict[str, int],
                                                        shops: int) -> None:
    rows = evaluation.load(half)
    labels = Counter(row.label for row in rows)
    assert all(labels[label] >= n for label, n in least.items()), labels
    assert {row.language for row in rows} == {"de", "en", "mix"}
    assert len({row.shop for row in rows}) == shops


@pytest.mark.parametrize("half", evaluation.HALVES)
def test_corpus_split_follows_the_documented_rule(half: str) -> None:
    # data/README.md: held out when the first byte of this blake2b digest is odd; both
    # held-out sets follow the rule, the fresh one only adds rows written later.
    for row in evaluation.load(half):
        digest = hashlib.blake2b(row.text.encode(), digest_size=8,
                                 person=b"resonanz.split").digest()
        assert bool(digest[0] & 1) == (half in evaluation.HELD_OUT), row.text


def held_out_figures(half: str) -> tuple[dict[str, float], dict[str, dict[str, int]], bool]:
    """Aggregates only (the figures, the confusion matrix, whether the targets are met): a
    failed assertion on the Evaluation itself would print held-out entries row by row."""
    result = evaluation.evaluate(evaluation.load(half),
                                 lambda row: score(row.text, row.rating).label)
    figures = {name: round(value, 3) for name, value in (
        ("reward precision", result.reward.precision), ("reward recall", result.reward.recall),
        ("spam precision", result.per_class["spam"].precision),
        ("spam recall", result.per_class["spam"].recall))}
    return figures, result.confusion, all(result.meets_targets().values())


# Measured once each (make score-report): what 2026.33 (2026-12-07) still misses of issue
# 25's targets, per set (docs/benchmarks.md "Quality scoring", 2026.33). Strict, so
# meeting them fails the mark and the figures get recorded.
MISSED_2026_33 = {
    "heldout_2026_12d": "spam precision (0.853)",
    "heldout_2026_12h": "spam precision and spam recall (0.886, 0.812)",
    "heldout_2026_12k": "spam recall (0.924)",
    "heldout_2026_12l": "spam recall (0.945)",
    "heldout_2026_12m": "reward recall and spam recall (0.868, 0.829)",
    "heldout_2026_12o": "spam recall (0.836)",
    "heldout_2026_12p": "spam recall (0.913)",
    "heldout_2026_12q": "spam precision and spam recall (0.889, 0.842)",
    "heldout_2026_12t": "spam recall (0.864)",
    "heldout_2026_12v": "spam recall (0.885)",
    "heldout_2026_12w": "spam recall (0.867)",
    "heldout_2026_12x": "spam recall (0.925)",
    "heldout_2026_12y": "spam recall (0.702)",
    "heldout_2026_12z": "spam recall (0.750)",
    "heldout_2026_12aa": "reward precision and spam recall (0.784, 0.709)",
    "heldout_2026_12ab": "spam recall (0.895)",
}


@pytest.mark.parametrize("half", [
    pytest.param(half, marks=pytest.mark.xfail(
        strict=True, reason=f"2026.33 misses issue 25's {MISSED_2026_33[half]} on {half}"))
    if half in MISSED_2026_33 else half
    for half in evaluation.HELD_OUT])
def test_held_out_figures_meet_the_targets(half: str) -> None:
    # Reward precision and recall >= 0.90, spam precision >= 0.90 and recall >= 0.95
    # (issue 25). `make score-report` prints the same figures with latency.
    figures, confusion, met = held_out_figures(half)
    assert met, f"{figures}, confusion {confusion}"


# The shipped scorer on the held-out sets, as recorded in docs/benchmarks.md (one
# evaluation each), as floors for later versions, with how many genuine entries it called
# spam as a ceiling. 2026.22 (2026-12-07: an entry of four words or more with nothing of a
# shop, a product or an order and little substance adds doubt to the spam decision;
# 2026.21's heads) against 2026.21, pooled over sixteen sets: reward 0.961 / 0.965 (same),
# spam 0.984 / 0.896 -> 0.977 / 0.907, genuine entries called spam 12 -> 18 of 1,617.
# 2026.23 (the purchase words completed with words that judge a product, invitations to a
# profile or inbox promotional) against 2026.22: spam 0.977 / 0.907 -> 0.981 / 0.908,
# genuine entries called spam 18 -> 15. 2026.24 (the heads retrained with the development
# rows of two more writers, 12p and 12q) against 2026.23, pooled over eighteen sets: reward
# 0.959 / 0.965 -> 0.969 / 0.968, spam 0.978 / 0.902 -> 0.979 / 0.911, genuine entries
# called spam 19 -> 18 of 1,821. 2026.25 (retrained with the development rows of 12r and
# 12s) against 2026.24, pooled over twenty sets: reward 0.968 / 0.970 (same), spam 0.980 /
# 0.909 -> 0.979 / 0.916, genuine entries called spam 19 -> 20 of 2,006. 2026.26 (also with
# the development rows of 12t and 12u) against 2026.25, pooled over twenty-two sets: reward
# 0.971 / 0.968 -> 0.971 / 0.967, spam 0.976 / 0.911 -> 0.977 / 0.917, genuine entries
# called spam 25 -> 24 of 2,184; on twenty-four sets (12v and 12w added) 0.966 / 0.969,
# 0.978 / 0.902, 24 of 2,357. 2026.28 (also with the development rows of 12v, 12w and 12x;
# 2026.27, with 12v's and 12w's alone, was not shipped) against 2026.26, pooled over
# twenty-five sets (12x added): reward 0.965 / 0.970 -> 0.972 / 0.967, spam 0.977 / 0.900 ->
# 0.976 / 0.909, genuine entries called spam 26 -> 28 of 2,453; on twenty-six sets (12y
# added) 0.972 / 0.965, 0.976 / 0.894, 29 of 2,533. 2026.30 (past forms of use added to
# what the rules count as telling of use, "kept", "lasted", "getestet"; the heads also
# trained with 12y's development rows; 2026.29, with 12y's rows alone, was not shipped)
# against 2026.28 on the twenty-six sets: reward 0.976 / 0.965, spam 0.974 / 0.902, genuine
# entries called spam 32; on twenty-seven (12z added) 0.974 / 0.964, 0.973 / 0.888, 33 of
# 2,612. 2026.31 (replies to a shop's message that say nothing of the purchase decisive:
# opt-outs, automatic replies, messages meant for someone else; the heads also trained with
# 12z's development rows) against 2026.30 on the twenty-seven sets: reward 0.976 / 0.966,
# spam 0.974 / 0.909, genuine entries called spam 33; on twenty-eight (12aa added) 0.964 /
# 0.965, 0.974 / 0.897, 34 of 2,698. 2026.32 (the heads also trained with 12aa's development
# rows) against 2026.31 on the twenty-eight sets: reward 0.969 / 0.965, spam 0.972 / 0.908,
# genuine entries called spam 37; on twenty-nine (12ab added) 0.968 / 0.966, 0.972 / 0.906,
# 38 of 2,793. 2026.33 (the heads also trained with 12ab's development rows) against
# 2026.32 on the twenty-nine sets: reward 0.969 / 0.967, spam 0.970 / 0.912, genuine entries
# called spam 41. Each shipped by a rule written before its measurement
# (docs/benchmarks.md).
# Reward precision, reward recall, spam precision, spam recall, per set.
RECORDED = {half: dict(zip(("reward precision", "reward recall", "spam precision",
                            "spam recall"), figures, strict=True))
            for half, figures in {
                "heldout": (1.0, 0.975, 1.0, 1.0),
                "heldout_2026_12": (1.0, 0.961, 1.0, 1.0),
                "heldout_2026_12b": (1.0, 0.931, 0.982, 0.982),
                "heldout_2026_12c": (1.0, 1.0, 0.982, 0.982),
                "heldout_2026_12d": (1.0, 0.925, 0.853, 1.0),
                "heldout_2026_12e": (1.0, 0.939, 1.0, 0.982),
                "heldout_2026_12f": (0.98, 1.0, 1.0, 0.957),
                "heldout_2026_12g": (1.0, 1.0, 0.981, 0.981),
                "heldout_2026_12h": (0.911, 0.944, 0.886, 0.812),
                "heldout_2026_12i": (0.967, 1.0, 1.0, 0.981),
                "heldout_2026_12j": (0.983, 0.983, 0.983, 0.951),
                "heldout_2026_12k": (0.963, 0.981, 0.984, 0.924),
                "heldout_2026_12l": (0.959, 1.0, 0.945, 0.945),
                "heldout_2026_12m": (1.0, 0.868, 0.935, 0.829),
                "heldout_2026_12n": (1.0, 0.971, 0.925, 0.974),
                "heldout_2026_12o": (0.918, 0.938, 0.979, 0.836),
                "heldout_2026_12p": (0.981, 1.0, 1.0, 0.913),
                "heldout_2026_12q": (0.935, 0.951, 0.889, 0.842),
                "heldout_2026_12r": (1.0, 1.0, 1.0, 0.979),
                "heldout_2026_12s": (0.982, 0.948, 0.955, 0.977),
                "heldout_2026_12t": (1.0, 0.982, 0.95, 0.864),
                "heldout_2026_12u": (1.0, 0.949, 0.92, 0.979),
                "heldout_2026_12v": (0.939, 1.0, 1.0, 0.885),
                "heldout_2026_12w": (0.982, 0.982, 1.0, 0.867),
                "heldout_2026_12x": (0.984, 1.0, 0.949, 0.925),
                "heldout_2026_12y": (0.98, 0.909, 0.976, 0.702),
                "heldout_2026_12z": (0.959, 0.94, 0.975, 0.75),
                "heldout_2026_12aa": (0.784, 0.935, 0.975, 0.709),
                "heldout_2026_12ab": (0.949, 1.0, 1.0, 0.895),
            }.items()}
GENUINE_CALLED_SPAM = {"heldout_2026_12b": 1, "heldout_2026_12c": 1, "heldout_2026_12d": 5,
                       "heldout_2026_12g": 1, "heldout_2026_12h": 5, "heldout_2026_12j": 1,
                       "heldout_2026_12k": 1, "heldout_2026_12l": 3, "heldout_2026_12m": 2,
                       "heldout_2026_12n": 3, "heldout_2026_12o": 1, "heldout_2026_12q": 4,
                       "heldout_2026_12s": 2, "heldout_2026_12t": 2, "heldout_2026_12u": 4,
                       "heldout_2026_12x": 2, "heldout_2026_12y": 1, "heldout_2026_12z": 1,
                       "heldout_2026_12aa": 1}


@pytest.mark.parametrize("half", evaluation.HELD_OUT)
def test_held_out_figures_do_not_fall_behind_the_recorded_ones(half: str) -> None:
    figures, confusion, _ = held_out_figures(half)
    floors = RECORDED[half]
    assert all(figures[name] >= floor for name, floor in floors.items()), \
        f"{figures}, confusion {confusion}"
    # A change that only shuffles fair and poor is fine; calling more genuine entries spam
    # is not.
    genuine_spam = confusion["good"]["spam"] + confusion["low"]["spam"]
    assert genuine_spam <= GENUINE_CALLED_SPAM.get(half, 0), f"confusion {confusion}"


def test_evaluation_counts_precision_and_recall() -> None:
    rows = [evaluation.Row(t, 3, "en", "food", label) for t, label in
            [("a", "good"), ("b", "good"), ("c", "low"), ("d", "spam")]]
    said = {"a": "good", "b": "fair", "c": "good", "d": "spam"}
    result = evaluation.evaluate(rows, lambda row: said[row.text])
    assert (result.reward.precision, result.reward.recall) == (0.5, 0.5)
    assert result.per_class["spam"].f1 == 1.0
    assert result.confusion["good"] == {"good": 1, "low": 1, "spam": 0}
    assert [row.text for row, _ in result.misses] == ["b", "c"]


@pytest.mark.parametrize("text", [
    "Versandinformationen: Die Lieferung erfolgt innerhalb Deutschlands mit DHL. Die "
    "Lieferzeit beträgt 2-4 Werktage. Ab einem Bestellwert von 49 € liefern wir "
    "versandkostenfrei, darunter berechnen wir eine Pauschale von 4,95 €.",
    "Return policy: Items can be returned within 30 days of delivery in their original "
    "packaging. We refund the purchase price to the original payment method within 14 days "
    "of receiving the parcel; return shipping is free for orders over 50 euros.",
    "Montageanleitung: 1. Seitenteile auf eine weiche Unterlage legen. 2. Böden mit den "
    "Dübeln einsetzen. 3. Rückwand einschieben und festnageln. 4. Kippsicherung anbringen.",
    "Warnung! Nicht für Kinder unter 36 Monaten geeignet. Enthält verschluckbare "
    "Kleinteile. Erstickungsgefahr.",
    "Care instructions: Wash: 30 degrees, inside out. Dry: flat, away from direct heat.",
])
def test_the_shops_own_texts_under_their_heading_are_spam(text: str) -> None:
    result = score(text, rating=5)
    assert result.label == "spam", result.breakdown["spam"].reason
    assert result.breakdown["spam"].reason.startswith("spam: copied shop text")


@pytest.mark.parametrize("text", [
    # A customer's heading, a family's "wir", a warning to other buyers, a request to the
    # shop in its formal "Sie": feedback, whatever heading it starts with.
    "Achtung: fällt zwei Nummern kleiner aus!",
    "Lieferung war super schnell! Wir haben den Tisch am Samstag bestellt und am Dienstag "
    "stand er schon bei uns im Wohnzimmer, die Fahrer haben ihn sogar hochgetragen und "
    "die Verpackung wieder mitgenommen.",
    "Rückgabe: hat super geklappt, wir haben das Geld nach 3 Tagen zurück bekommen.",
    "Achtung: Kleinteile! Unser Sohn (2) hat fast eins verschluckt, bitte den Warnhinweis "
    "größer auf die Verpackung drucken.",
    "Warning: the zip broke after two weeks and we had to send it back, the return label "
    "was missing from the parcel and nobody answered our emails for a week.",
    "Versand: Können Sie bitte endlich ein Retourenlabel beilegen? Jedes Mal muss man das "
    "selbst ausdrucken, und das Paket kam diesmal auch noch nach neun Tagen statt drei an, "
    "obwohl Express bezahlt war.",
    "Shipping: I paid for express on Monday and the parcel arrived on Friday, the tracking "
    "page showed 'label created' for three days. Please check with your carrier.",
])
def test_a_customers_heading_alone_is_no_copied_shop_text(text: str) -> None:
    result = score(text, rating=2)
    assert result.label != "spam", result.breakdown["spam"].reason
    assert "copied shop text" not in result.breakdown["spam"].reason


@pytest.mark.parametrize("text", [
    "Ganz nett hier, aber geht lieber zu Reifen Krause in Bochum, der hat die gleichen "
    "Mäntel viel günstiger.",
    "Decent boots. You get the same pair cheaper from my brother's store though, ask for Kev.",
    "Go to Mike\u2019s Outdoor instead, the same tents for less and cheaper pegs.",
    "Bei uns gibt es die gleichen Lampen 20 % billiger, einfach nach Lichthaus Nord suchen!",
    "Hab die gleiche Kaffeemühle bei BohnenWelt24 bestellt, viel besser. Kann BohnenWelt24 "
    "nur empfehlen!",
    "Eure Brötchen sind ok, aber beim Bäcker Schulz am Markt sind sie frischer. Schaut "
    "dort mal vorbei!",
])
def test_sending_the_reader_to_another_seller_is_spam(text: str) -> None:
    result = score(text, rating=3)
    assert result.label == "spam", result.breakdown["spam"].reason
    assert "another seller" in result.breakdown["spam"].reason


@pytest.mark.parametrize("text", [
    # Another shop named to ask for a price match, this one praised to other buyers, the
    # shop's own people, the writer's home: nobody is sent elsewhere.
    "Bei Amazon ist der gleiche Artikel 10 € günstiger, könnt ihr den Preis anpassen?",
    "The same lamp is cheaper at IKEA, please match the price or I will return it.",
    "Schaut mal vorbei, der Laden ist besser als jeder andere!",
    "Bei uns gibt es keine Packstation, bitte liefert besser an die Haustür.",
    "Call the hotline and ask for Sarah, she explained the warranty better than the chat.",
    "Ich hab die gleiche Jacke letztes Jahr bei euch gekauft, die war besser verarbeitet.",
    "Kann ich nur empfehlen, besser als die Konkurrenz!",
])
def test_naming_another_seller_sends_nobody_there(text: str) -> None:
    # The rules' verdict only: the learned spam head calls some of these spam on its own
    # (docs/benchmarks.md, "Quality scoring", 2026.17).
    reason = score(text, rating=3).breakdown["spam"].reason
    assert not reason.startswith("spam:"), reason


@pytest.mark.parametrize(("text", "spam"), [
    # A sum the writer paid is part of the report; an amount nobody paid yet is an offer.
    ("Paid £30 extra for assembly. The front brake cable was routed on the wrong side of "
     "the fork and has rubbed through the paint. Photos: https://photos.app.goo.gl/x8LqR",
     False),
    ("Habe 49 € bezahlt und der Reißverschluss klemmt seit dem ersten Tag, Video: "
     "https://youtu.be/abc123", False),
    ("Pay only 19,99 € for three pairs today: socken-deals.com", True),
    ("Your parcel is waiting. Please pay the 2.99 EUR customs fee: parcel-fee-info.com", True),
])
def test_an_amount_the_writer_paid_is_no_offer(text: str, spam: bool) -> None:
    result = score(text, rating=2)
    assert (result.label == "spam") == spam, result.breakdown["spam"].reason


@pytest.mark.parametrize(("text", "rate", "promotional"), [
    # A rate is an income ad's only beside an amount offered; alone it is a customer's time.
    ("I have used the 27 inch monitor for a month now and the backlight bleeds at the "
     "bottom left corner.", "a month", False),
    ("A day after my order I got an SMS asking me to pay a customs fee for 'your order'. "
     "Please check whether your shipping partner leaked customer data.", "a day", False),
    ("Ich nutze die Zahnbürste seit zwei Wochen zweimal am Tag, der Akku hält nur vier Tage.",
     "am tag", False),
    ("Verdiene 300 € am Tag von zu Hause, schreib mir auf Telegram!", "am tag", True),
    ("Make $5,000 a month with my trading signals, link in bio", "a month", True),
])
def test_a_rate_is_promotional_only_beside_an_offered_amount(text: str, rate: str,
                                                             promotional: bool) -> None:
    spam = score(text, rating=3).breakdown["spam"]
    assert (rate in spam.reason) == promotional, spam.reason
    assert (spam.points < 0) == promotional, spam.reason


@pytest.mark.parametrize(("phrases", "text", "found"), [
    # At each word the longest phrase that starts there, then on after it: no overlaps.
    (("sehr gut", "gut verpackt"), "Sehr gut verpackt!", {"sehr gut"}),
    (("sehr gut", "sehr gut verpackt"), "sehr gut verpackt", {"sehr gut verpackt"}),
    (("gut verpackt",), "sehr gut verpackt", {"gut verpackt"}),
    (("zu klein", "zu groß"), "Ärmel zu klein, Bund zu groß", {"zu klein", "zu groß"}),
    # A first word that starts nothing here is passed over, and the walk goes on.
    (("gut verpackt",), "gut und gut verpackt", {"gut verpackt"}),
    # Whole words only, and a phrase's first word alone finds nothing.
    (("size chart",), "the sizechart, the size charts, the size", set()),
    (("don't fit",), "They don't fit", {"don't fit"}),
])
def test_phrases_are_found_as_whole_words_longest_first_without_overlaps(
    phrases: tuple[str, ...], text: str, found: set[str],
) -> None:
    assert scoring._Phrases(phrases).found(scoring._analyse(text)) == found


def test_a_phrase_that_is_no_run_of_words_is_refused() -> None:
    with pytest.raises(ValueError, match="not a phrase of words"):
        scoring._Phrases(("zu  klein",))
