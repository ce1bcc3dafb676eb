"""The widget's rules on their own: lifecycle, settings, answers. No I/O."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from resonanz.devstack.run import DEMO_WIDGET
from resonanz.shared.errors import InvalidInput
from resonanz.shared.events import WidgetEnded, WidgetPaused, WidgetResumed, WidgetUpdated
from resonanz.shared.widget_contracts import WidgetSettingsIn, contrast_ratio
from resonanz.widgets.domain import (
    ACTIVE,
    DEFAULT_QUESTIONS,
    DRAFT,
    ENDED,
    PAUSED,
    InvalidTransition,
    Question,
    Reward,
    Theme,
    Trigger,
    Widget,
    WidgetNotActive,
    check_answers,
    configure_widget,
    end_widget,
    event_class,
    move_to,
    pause_widget,
    resume_widget,
    validated,
)

NOW = datetime(2025, 11, 28, 14, 3, 11, tzinfo=UTC)
CHOICE = Question.model_validate({
    "id": "liked", "type": "multiple_choice", "label": "Liked?",
    "options": [{"id": "price", "label": "Price"}, {"id": "speed", "label": "Speed"}]})


def widget(status: str = ACTIVE, **changes: Any) -> Widget:
    base = Widget(
        id="w1", tenant_id="t1", public_id="wdg_x", name="Survey", status=status,
        placement="bottom-right", trigger=Trigger(), theme=Theme(), languages=("de", "en"),
        questions=(*DEFAULT_QUESTIONS, CHOICE), reward=None, auto_approve_above=None,
        auto_reject_below=None, allowed_origins=(), pause_reason=None, paused_at=None,
        resume_at=None, ended_at=None, version=1, created_at=NOW, updated_at=NOW)
    return dataclasses.replace(base, **changes)


def test_pausing_records_reason_time_and_schedule_and_resuming_clears_them() -> None:
    later = NOW + timedelta(days=4)
    paused = pause_widget(widget(), "Black Friday", later, NOW)
    assert (paused.status, paused.pause_reason, paused.paused_at, paused.resume_at) == (
        PAUSED, "Black Friday", NOW, later)
    assert event_class(widget(), paused) is WidgetPaused
    resumed = resume_widget(paused)
    assert (resumed.status, resumed.paused_at, resumed.resume_at) == (ACTIVE, None, None)
    assert event_class(paused, resumed) is WidgetResumed


@pytest.mark.parametrize(("status", "wanted"), [
    (DRAFT, PAUSED), (ENDED, ACTIVE), (ENDED, PAUSED), (PAUSED, DRAFT), (ACTIVE, DRAFT)])
def test_impossible_moves_are_conflicts_that_name_the_allowed_ones(status: str,
                                                                   wanted: str) -> None:
    with pytest.raises(InvalidTransition) as refused:
        move_to(widget(status), wanted, NOW)
    assert refused.value.status == 409
    assert refused.value.details[0]["allowed"] == sorted(
        {DRAFT: [ACTIVE, ENDED], ACTIVE: [PAUSED, ENDED], PAUSED: [ACTIVE, ENDED],
         ENDED: []}[status])


def test_only_a_paused_widget_resumes() -> None:
    for status in (DRAFT, ACTIVE, ENDED):
        with pytest.raises(InvalidTransition):
            resume_widget(widget(status))


def test_activating_a_draft_is_an_update_and_ending_drops_the_schedule() -> None:
    draft = widget(DRAFT)
    assert event_class(draft, move_to(draft, ACTIVE, NOW)) is WidgetUpdated
    paused = pause_widget(widget(), None, NOW + timedelta(hours=1), NOW)
    ended = end_widget(paused, NOW)
    assert (ended.status, ended.resume_at, ended.ended_at) == (ENDED, None, NOW)
    assert event_class(paused, ended) is WidgetEnded


def test_a_resume_time_in_the_past_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        pause_widget(widget(), None, NOW - timedelta(seconds=1), NOW)
    assert refused.value.details[0]["field"] == "resume_at"


def test_only_an_active_widget_collects_and_each_other_state_says_why() -> None:
    widget(ACTIVE).ensure_collecting()
    codes = {}
    for status in (DRAFT, PAUSED, ENDED):
        with pytest.raises(WidgetNotActive) as refused:
            widget(status).ensure_collecting()
        codes[status] = refused.value.code
    assert codes == {DRAFT: "widget_draft", PAUSED: "widget_paused", ENDED: "widget_ended"}


def test_the_public_config_hides_rewards_and_says_nothing_while_paused() -> None:
    rewarded = widget(reward=Reward(voucher_codes=("SECRET",)), auto_approve_above=80)
    config = rewarded.public_config()
    assert config["collect_email"] is True
    assert "SECRET" not in str(config) and "80" not in str(config)
    assert widget(PAUSED).public_config() == {"public_id": "wdg_x", "active": False,
                                              "status": "paused"}


def test_a_theme_patch_merges_and_rejects_css_injection() -> None:
    patched = configure_widget(widget(), {"theme": {"primary_color": "#aa0000"}})
    assert patched.theme.primary_color == "#aa0000"
    assert patched.theme.font_family == Theme().font_family
    with pytest.raises(InvalidInput) as refused:
        configure_widget(widget(), {"theme": {"font_family": "x;}body{display:none"}})
    assert refused.value.details[0]["field"] == "theme.font_family"


def test_contrast_is_measured_as_wcag_defines_it() -> None:
    assert contrast_ratio("#ffffff", "#000000") == pytest.approx(21.0)
    assert contrast_ratio("#fff", "#fff") == pytest.approx(1.0)
    assert contrast_ratio("#c2671f", "#ffffff") == pytest.approx(3.997, abs=0.001)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)


def refusal(theme: dict[str, str]) -> dict[str, Any]:
    with pytest.raises(InvalidInput) as refused:
        validated(Theme, theme, "theme")
    [detail] = refused.value.details
    return detail


def test_a_theme_whose_text_would_be_hard_to_read_is_refused_naming_the_field() -> None:
    on_button = refusal({"primary_color": "#c2671f"})
    assert on_button["field"] == "theme.primary_color"
    assert "3.99:1" in on_button["message"] and "4.5:1" in on_button["message"]
    on_panel = refusal({"text_color": "#999999"})
    assert on_panel["field"] == "theme.text_color"
    # A dark background makes the default text colour unreadable: that pair is refused too.
    assert refusal({"background_color": "#111827"})["field"] == "theme.text_color"
    assert validated(Theme, {"background_color": "#111827", "text_color": "#f9fafb"}, "theme")
    with pytest.raises(InvalidInput):
        configure_widget(widget(), {"theme": {"primary_color": "#f59e0b"}})


def test_a_stored_theme_is_read_as_it_is_and_the_demo_and_defaults_pass() -> None:
    # Widgets saved before the rule keep working; the rule applies when a theme is saved.
    assert Theme.model_validate({"primary_color": "#c2671f"}).primary_color == "#c2671f"
    assert validated(Theme, {}, "theme") == Theme()
    assert validated(Theme, DEMO_WIDGET["theme"], "theme")


def test_thresholds_must_not_cross() -> None:
    with pytest.raises(InvalidInput):
        configure_widget(widget(), {"auto_approve_above": 40, "auto_reject_below": 60})


def test_answers_are_checked_against_the_questions() -> None:
    kept = check_answers(widget().questions, {"rating": 5, "comment": "  gut  ",
                                              "liked": ["price"]})
    assert kept == {"rating": 5, "comment": "gut", "liked": ["price"]}
    with pytest.raises(InvalidInput) as refused:
        check_answers(widget().questions, {"rating": 6, "liked": ["price", "price"], "x": 1})
    assert {d["field"] for d in refused.value.details} == {
        "answers.rating", "answers.liked", "answers.x"}
    with pytest.raises(InvalidInput) as refused:
        check_answers(widget().questions, {"comment": "no rating"})
    assert refused.value.details == [{"field": "answers.rating", "message": "required"}]


def test_a_reward_is_an_amount_or_a_voucher_pool_never_both() -> None:
    assert Reward.model_validate({"amount": "2.50", "currency": "EUR"}).amount is not None
    invalid: list[dict[str, Any]] = [
        {"amount": "2.50"}, {"voucher_codes": []},
        {"amount": "1", "currency": "EUR", "voucher_codes": ["A"]}]
    for bad in invalid:
        with pytest.raises(ValueError):
            Reward.model_validate(bad)


def test_a_voucher_code_is_one_to_a_hundred_characters() -> None:
    assert Reward.model_validate({"voucher_codes": ["A" * 100]}).voucher_codes == ("A" * 100,)
    for bad in ("", "A" * 101):
        with pytest.raises(ValidationError) as refused:
            Reward.model_validate({"voucher_codes": ["OK-1", bad]})
        assert refused.value.errors()[0]["loc"] == ("voucher_codes", 1)


# --- allowed origins ---------------------------------------------------------------------


@pytest.mark.parametrize(("given", "stored"), [
    ("https://WWW.Shop.example/", "https://www.shop.example"),
    ("https://www.shop.example:443", "https://www.shop.example"),
    ("http://shop.example:80", "http://shop.example"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("http://[::1]:8080", "http://[::1]:8080"),
    ("https://bücher.example", "https://xn--bcher-kva.example"),
])
def test_allowed_origins_are_kept_as_a_browser_sends_them(given: str, stored: str) -> None:
    """The Origin header never carries a default port, capitals or a Unicode host: an
    origin kept in another form would refuse the shop's own pages."""
    assert WidgetSettingsIn.model_validate({"allowed_origins": [given]}).allowed_origins == [
        stored]


@pytest.mark.parametrize("given", ["https://*.shop.example", "https://user@shop.example",
                                   "https://shop.example:99999", "https://shop.example/path",
                                   "https://", "ftp://shop.example"])
def test_what_no_browser_sends_as_an_origin_is_refused(given: str) -> None:
    with pytest.raises(ValidationError) as refused:
        WidgetSettingsIn.model_validate({"allowed_origins": [given]})
    assert refused.value.errors()[0]["loc"] == ("allowed_origins", 0)
