"""The automatic review a campaign's thresholds make of a fresh entry (pure domain)."""

from __future__ import annotations

import pytest

from resonanz.feedback.domain import Campaign, automatic_review


def campaign(approve: int | None, reject: int | None) -> Campaign:
    return Campaign("w", "active", {"amount": "2.00", "currency": "EUR"}, approve, reject)


@pytest.mark.parametrize(("approve", "reject", "score", "spam", "verdict"), [
    (70, 30, 80, False, "approved"),
    (70, 30, 50, False, None),
    (70, 30, 20, False, "rejected"),
    (None, None, 100, False, None),
    # Spam is never approved, whatever its score: a rejecting threshold rejects it, and
    # without one a person decides.
    (0, None, 90, True, None),
    (70, 30, 90, True, "rejected"),
    (70, 30, 50, True, "rejected"),
    (None, 10, 90, True, "rejected"),
])
def test_thresholds_approve_and_reject_but_never_approve_spam(
        approve: int | None, reject: int | None, score: int, spam: bool,
        verdict: str | None) -> None:
    assert automatic_review(campaign(approve, reject), score, spam) == verdict


def test_no_campaign_or_no_score_is_left_for_a_person() -> None:
    assert automatic_review(None, 90, False) is None
    assert automatic_review(campaign(0, 100), None, True) is None
