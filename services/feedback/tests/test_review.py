"""The automatic review a campaign's thresholds make of a fresh entry (pure domain)."""

from __future__ import annotations

import pytest

from resonanz.feedback.domain import Campaign, automatic_review


def campaign(approve: int | None, reject: int | None) -> Campaign:
    return Campaign("w", "active", {"amount": "2.00", "currency": "EUR"}, approve, reject)


@pytest.mark.parametrize(("approve", "reject", "score", "label", "verdict"), [
    (70, 30, 80, "good", "approved"),
    (70, 30, 50, "fair", None),
    (70, 30, 20, "poor", "rejected"),
    (None, None, 100, "good", None),
    # Spam is never approved, whatever its score: a rejecting threshold rejects it, and
    # without one a person decides.
    (0, None, 90, "spam", None),
    (70, 30, 90, "spam", "rejected"),
    (70, 30, 50, "spam", "rejected"),
    (None, 10, 90, "spam", "rejected"),
])
def test_thresholds_approve_and_reject_but_never_approve_spam(
        approve: int | None, reject: int | None, score: int, label: str,
        verdict: str | None) -> None:
    assert automatic_review(campaign(approve, reject), score, label) == verdict


def test_no_campaign_or_no_score_is_left_for_a_person() -> None:
    assert automatic_review(None, 90, "good") is None
    assert automatic_review(campaign(0, 100), None, "spam") is None
