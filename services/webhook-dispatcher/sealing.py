"""What the dispatcher keeps secret at rest, sealed under the application key ring
(AES-256-GCM, see resonanz.shared.crypto), each value to its table, column and row, so a
sealed value copied into another row or column does not open there: webhook signing
secrets, and the bodies of queued mail (an invitation or a password reset carries a
one-time link; a mail's body is dropped once it is sent).

Rows from before sealing keep their secret in the plaintext columns until the dispatcher
seals them (commands.seal_plaintext: at start, then hourly, in small batches). Where a
plaintext value is present it is the newer one (only an older release writes it), so
readers prefer it.

Opening a secret costs about 25 µs (measured on the 2-core CI machine for a `whsec_`
secret, against a 50 ms p50 target per webhook): secrets are opened per claim, never
cached in memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from resonanz.shared.crypto import KeyRing

TABLE = "webhooks.subscriptions"
MAIL_BODY = "webhooks.outgoing_mail.body"
CURRENT, PREVIOUS = "secret", "previous_secret"
# The secrets rotations retired, each with the time it signs until: JSON, sealed as one.
PREVIOUS_LIST = "previous_secrets"
Retired = tuple[tuple[str, datetime], ...]


@dataclass(frozen=True)
class SealedSecrets:
    """New sealed values for one subscription's columns; None leaves a column as it is."""

    subscription_id: uuid.UUID
    secret: str | None
    previous_secret: str | None
    previous_secrets: str | None = None


class SecretBox:
    """Seals and opens the signing secrets of subscriptions and the bodies of queued mail."""

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    @staticmethod
    def context(column: str, subscription_id: uuid.UUID | str) -> str:
        return f"{TABLE}.{column}:{uuid.UUID(str(subscription_id))}"

    def seal(self, column: str, subscription_id: uuid.UUID | str, secret: str) -> str:
        return self.keys.encrypt(secret, self.context(column, subscription_id))

    def open(self, column: str, subscription_id: uuid.UUID | str, sealed: str) -> str:
        return self.keys.decrypt(sealed, self.context(column, subscription_id))

    def seal_mail(self, dedup_key: str, body: str) -> str:
        return self.keys.encrypt(body, f"{MAIL_BODY}:{dedup_key}")

    def open_mail(self, dedup_key: str, plain: str | None, sealed: str | None) -> str:
        """A queued mail's body: rows queued by an older release hold it in plaintext."""
        if plain is not None:
            return plain
        assert sealed is not None, "outgoing_mail_body_kept"
        return self.keys.decrypt(sealed, f"{MAIL_BODY}:{dedup_key}")

    def seal_retired(self, subscription_id: uuid.UUID | str, retired: Retired) -> str | None:
        if not retired:
            return None
        listed = [{"secret": secret, "until": until.isoformat()} for secret, until in retired]
        return self.seal(PREVIOUS_LIST, subscription_id, orjson.dumps(listed).decode())

    def retired(self, row: Mapping[str, Any], subscription_id: uuid.UUID | str) -> Retired:
        """The secrets a row's rotations retired, with their times: the sealed list, and the
        one previous secret of a row from before the list. UndecryptableSecret when no key
        opens them."""
        found: list[tuple[str, datetime]] = []
        legacy = self.stored(PREVIOUS, subscription_id, row["previous_secret"],
                             row["previous_secret_sealed"])
        if legacy is not None and row["previous_until"] is not None:
            found.append((legacy, row["previous_until"]))
        if row["previous_secrets_sealed"] is not None:
            listed = orjson.loads(self.open(PREVIOUS_LIST, subscription_id,
                                            row["previous_secrets_sealed"]))
            found.extend((item["secret"], datetime.fromisoformat(item["until"]))
                         for item in listed)
        return tuple(found)

    def stored(self, column: str, subscription_id: uuid.UUID | str, plain: str | None,
               sealed: str | None) -> str | None:
        """What a row holds in `column`; raises UndecryptableSecret when no key opens it."""
        if plain is not None:
            return plain
        return None if sealed is None else self.open(column, subscription_id, sealed)

    def resealed(self, column: str, subscription_id: uuid.UUID, plain: str | None,
                 sealed: str | None, *, rotate: bool) -> str | None:
        """The sealed value to store in place of what the row holds, or None when the
        column stays as it is: plaintext is always sealed, a value under an older key
        only when rotating."""
        if plain is not None:
            return self.seal(column, subscription_id, plain)
        if sealed is None or not rotate or self.keys.is_current(sealed):
            return None
        return self.seal(column, subscription_id, self.open(column, subscription_id, sealed))

    def row_update(self, row: Mapping[str, Any], *, rotate: bool) -> SealedSecrets | None:
        """A row's secrets as they should be stored now, or None when nothing changes."""
        sid = row["id"]
        current = self.resealed(CURRENT, sid, row["secret"], row["secret_sealed"],
                                rotate=rotate)
        previous = self.resealed(PREVIOUS, sid, row["previous_secret"],
                                 row["previous_secret_sealed"], rotate=rotate)
        retired = self.resealed(PREVIOUS_LIST, sid, None, row["previous_secrets_sealed"],
                                rotate=rotate)
        if current is None and previous is None and retired is None:
            return None
        return SealedSecrets(sid, current, previous, retired)
