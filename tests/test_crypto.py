"""Secrets at rest: sealed under the key ring, bound to their row, rotatable."""

from __future__ import annotations

import base64

import pytest

from resonanz.shared.crypto import KeyRing, UndecryptableSecret


def key(fill: bytes) -> str:
    return base64.urlsafe_b64encode(fill * 32).decode().rstrip("=")


def test_a_sealed_secret_opens_only_in_its_own_context() -> None:
    ring = KeyRing.from_setting(key(b"a"))
    sealed = ring.encrypt("whsec_abc", "webhooks.subscriptions.secret:1")
    assert "whsec_abc" not in sealed
    assert ring.decrypt(sealed, "webhooks.subscriptions.secret:1") == "whsec_abc"
    with pytest.raises(UndecryptableSecret):
        ring.decrypt(sealed, "webhooks.subscriptions.secret:2")


def test_two_seals_of_one_value_differ() -> None:
    ring = KeyRing.from_setting(key(b"a"))
    assert ring.encrypt("same", "c") != ring.encrypt("same", "c")


def test_rotation_keeps_old_values_readable_and_seals_new_ones_under_the_new_key() -> None:
    old = KeyRing.from_setting(key(b"a"))
    sealed_before = old.encrypt("secret", "c")
    rotated = KeyRing.from_setting(f"{key(b'b')},{key(b'a')}")
    assert rotated.decrypt(sealed_before, "c") == "secret"
    assert not rotated.is_current(sealed_before)
    assert rotated.is_current(rotated.encrypt("secret", "c"))
    with pytest.raises(UndecryptableSecret):
        KeyRing.from_setting(key(b"b")).decrypt(sealed_before, "c")


def test_a_tampered_secret_does_not_open() -> None:
    ring = KeyRing.from_setting(key(b"a"))
    sealed = ring.encrypt("secret", "c")
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(UndecryptableSecret):
        ring.decrypt(flipped, "c")


@pytest.mark.parametrize("setting", ["", "not base64 !", key(b"a")[:20]])
def test_a_malformed_key_setting_is_refused(setting: str) -> None:
    with pytest.raises(ValueError):
        KeyRing.from_setting(setting)
