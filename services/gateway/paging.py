"""FeedBackPro's `page`/`limit` paging: parameters in, `meta` and `links` out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from resonanz.shared.params import query_limit, query_page


@dataclass(frozen=True)
class Paging:
    page: int
    limit: int

    @classmethod
    def from_query(cls, query: Mapping[str, str], *, default_limit: int, max_limit: int
                   ) -> Paging:
        """A `limit` above `max_limit` is clamped to it (and `meta.per_page` says so)."""
        return cls(query_page(query), query_limit(query, default_limit, max_limit))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    def meta(self, total: int | None) -> dict[str, Any]:
        return {"page": self.page, "per_page": self.limit, "total": total}

    def links(self, request: web.Request, total: int | None, *, more: bool | None = None
              ) -> dict[str, str | None]:
        has_next = more if more is not None else (total or 0) > self.page * self.limit
        return {
            "self": str(request.rel_url),
            "next": self._link(request, self.page + 1) if has_next else None,
            "prev": self._link(request, self.page - 1) if self.page > 1 else None,
        }

    def _link(self, request: web.Request, page: int) -> str:
        return str(request.rel_url.update_query(page=str(page), limit=str(self.limit)))
