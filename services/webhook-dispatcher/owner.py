"""What an entry says, asked of its owner, the feedback service (docs/privacy.md).

Personal data does not travel in events: a `feedback.created` or `payout.completed` event
names the entry, and the dispatcher asks the feedback service for the entry's text and the
shopper's email when it builds the webhook payload or the shopper's mail, and a
`reward.approved` or `reward.rejected` event for the team's reason. An erased
entry gives nothing, so a late consumer sends nothing personal. (Only for an entry the
feedback service does not know does an event's own copy count: events of older releases
carried the fields.)
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from resonanz.shared.caller import Caller
from resonanz.shared.web import HttpClientKey

# The entry's fields that the events leave out and the webhooks and mails carry.
PERSONAL_FIELDS = ("body", "customer_email")
# And the review's reason, which reward events leave out.
OWNED_FIELDS = (*PERSONAL_FIELDS, "reason")


class OwnerUnavailable(ConnectionError):
    """The feedback service did not answer: the event is retried (an outage is waited out),
    never sent without what it should carry."""


class EntryOwner:
    def __init__(self, feedback_url: str) -> None:
        self.feedback_url = feedback_url.rstrip("/")
        # The service's app, bound once made: its client (which carries the internal token)
        # exists once the app has started.
        self.app: web.Application | None = None

    async def personal(self, tenant_id: str, entry_id: str) -> dict[str, Any] | None:
        """The entry's text, email and review reason now (None each once erased, the
        reason `[erased]`); None for an entry the service does not know."""
        return (await self.personal_many(tenant_id, [entry_id])).get(entry_id)

    async def personal_many(self, tenant_id: str, entry_ids: list[str]
                            ) -> dict[str, dict[str, Any]]:
        """`personal` for many entries of one tenant in one request; an entry the service
        does not know is left out."""
        assert self.app is not None, "EntryOwner.app is bound in create_app"
        async with self.app[HttpClientKey].post(
                f"{self.feedback_url}/internal/personal", json={"ids": entry_ids},
                headers=Caller(tenant_id).headers()) as response:
            if response.status != 200:
                raise OwnerUnavailable(f"feedback answered {response.status} for entries")
            found: dict[str, dict[str, Any]] = await response.json()
        return {entry_id: {name: fields.get(name) for name in OWNED_FIELDS}
                for entry_id, fields in found.items()}
