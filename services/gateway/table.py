"""Every public operation of both dialects, one row each: the gateway's router and its
OpenAPI document are both rendered from this table.

Adding a read-only endpoint to both dialects is two rows (one per dialect) naming the
service's path and the view of each dialect, plus the service's handler. See
`operations.py` for what a row can say.
"""

from __future__ import annotations

from typing import Any

from resonanz.shared import contracts as c
from resonanz.shared.params import MAX_PAGE_NUMBER
from resonanz.shared.widget_contracts import (
    PauseIn,
    ResumeIn,
    SubmissionIn,
    WidgetIn,
    WidgetPatch,
)

from . import claims as cl
from . import identity_api as ia
from .api import me
from .operations import Operation, Param, as_sent, items, pages, rows
from .public import analytics, organization
from .public import audit as au
from .public import feedback as fb
from .public import keys as ks
from .public import payouts as po
from .public import privacy as pv
from .public import users as us
from .public import webhooks as wh
from .public import widgets as wg


def _int(lo: int, hi: int | None = None) -> dict[str, Any]:
    return {"type": "integer", "minimum": lo, **({"maximum": hi} if hi else {})}


STRING = {"type": "string"}
DATE = {"type": "string", "format": "date-time"}
ID = Param("id", STRING, "path", required=True)
WIDGET = "the widget's id (UUID) or its public id (`wdg_…`, as in the embed code)"
WIDGET_ID = Param("id", STRING, "path", required=True, description=WIDGET)
FBP_PAGE = (Param("page", _int(1, MAX_PAGE_NUMBER)),
            Param("limit", _int(1), description="default 50; more than 200 is clamped to 200"))
SEARCH = ("full-text search over the body and the answers (German, English and literal"
          " words; \"quoted phrase\", -word, or)")
INBOX = (Param("rating", STRING, description="comma list of ratings 1-5"),
         Param("rating_min", _int(1, 5)), Param("rating_max", _int(1, 5)),
         Param("category", STRING, description="exact, any case"),
         Param("quality", STRING, description="comma list of quality labels: good, fair,"
               " poor, spam"),
         Param("score_min", {"type": "integer", "minimum": 0, "maximum": 100},
               description="quality score at least"),
         Param("score_max", {"type": "integer", "minimum": 0, "maximum": 100},
               description="quality score at most"),
         Param("q", {"type": "string", "maxLength": 200}, description=SEARCH))
ASSIGNEE = "a user id, `me` (the signed-in member or the key's user) or a name"
REWARD_STATES = ["pending", "approved", "rejected", "none"]
FBP_LIST = (*FBP_PAGE, Param("status", STRING, description="comma list"),
            *INBOX, Param("assignee", STRING, description=ASSIGNEE),
            Param("assigned_to", STRING, description="the same as assignee"),
            Param("reward_status", STRING, description="comma list of "
                  + ", ".join(REWARD_STATES) + " (none: the widget pays no reward)"),
            Param("widget_id", STRING, description=WIDGET), Param("from", DATE),
            Param("to", DATE),
            Param("sort", {"enum": ["created_at:desc", "created_at:asc"]}),
            Param("cursor", STRING, description="opaque; from meta.next_cursor"))
P4F_LIST = (Param("limit", _int(1), description="default 500; more is clamped to 500"),
            Param("cursor", STRING),
            Param("status", STRING, description="reward state, a comma list of "
                  + ", ".join(REWARD_STATES) + " in any case (NONE: the campaign pays no"
                  " reward)"),
            Param("campaign_id", STRING, description=WIDGET), Param("from", DATE),
            Param("to", DATE), *INBOX, Param("assignee", STRING, description=ASSIGNEE))
SUMMARY = (Param("period", {"enum": ["7d", "30d", "90d"]}),
           Param("group_by", {"enum": ["day", "week", "month"]}),
           Param("widget_id", STRING, description=WIDGET))

WRITE = (400, 401, 403, 404, 409, 415, 429)
IF_NONE_MATCH = Param("If-None-Match", STRING, "header",
                      description="the ETag of an earlier answer: 304 without a body while"
                      " nothing it lists has changed (poll with it)")
LISTED = (304, 400, 401, 403, 404, 429)
BULK = ("Many entries at once, by `ids` or by the list's `filter` (at most"
        f" {c.MAX_BULK}; more is a 400): each is changed in its own transaction with its own"
        " audit row and events, as a request for that entry alone would; the answer has one"
        " result per entry (ok, or the status and error that entry alone would have"
        " answered). An Idempotency-Key makes a retry safe.")
OPEN = (400, 403, 415, 429)
ENTRY = {"id": fb.entry_id}
PAYOUT = {"id": fb.payout_id}
BATCH = {"id": po.batch_id}
SEPA_NOTE = (
    "A cash payout is `claimed` once the shopper has given payment details on the claim"
    " page (mailed on approval). Bank payouts are paid by SEPA credit transfer: set the"
    " shop's account once, create a batch (its payouts become `processing`), download its"
    " pain.001 file for the bank, then mark the batch paid: each payout is paid,"
    " `payout_completed` and the shopper's email follow once. A claimed bank payout in"
    " another currency is in no batch (SEPA is in EUR): `not_batchable` says so, and it is"
    " marked paid by hand. PayPal payouts are paid through PayPal's Payouts API when the"
    " operator has configured it (method `paypal`), else marked paid one by one. Admins"
    " only.")
LIMITS_NOTE = (
    "A campaign's `reward` may limit what approvals pay: `budget` (the most its cash rewards"
    " pay in total) and `per_shopper` (`max_rewards` per shopper email within `period_days`"
    " days). An approval over either is 409 `reward_budget_exhausted` or"
    " `shopper_reward_limit_reached`, naming the limit and its value; nothing is approved."
    " A payout failed or cancelled counts towards neither; a rejection is never limited.")
PAYOUT_NOTE = (
    "An approved reward's payout is `pending` until it is paid: a voucher when its code is"
    " handed out (at once, from the campaign's pool), cash when the shop has transferred it"
    " and marks it paid here. `payout_completed` (webhook, and the shopper's email) follows"
    " only a paid payout, `payout_failed` a failed or cancelled one. Marking is for admins,"
    " once: a payout already paid, failed or cancelled answers 409.")


def _mark(outcome: str, path: str, summary: str) -> Operation:
    return Operation("POST", f"/api/v1/payouts/{{id}}/{path}", summary, service="feedback",
                     upstream=f"/payouts/{{id}}/{outcome}", ids=PAYOUT, role="admin",
                     body=fb.review_body, view=fb.p4f_payout, request=c.PayoutMarkIn,
                     response=c.PayoutView, params=(ID,), errors=WRITE,
                     description=PAYOUT_NOTE)


PAYOUTS = [
    Operation("GET", "/api/v1/payouts", "List payouts, newest first", service="feedback",
              upstream="/payouts", query=fb.payout_list_query, view=fb.p4f_payout,
              answer=rows, response=c.PayoutView, many=True, description=PAYOUT_NOTE,
              params=(P4F_LIST[0], P4F_LIST[1],
                      Param("status", STRING, description="pending, claimed, processing, paid,"
                            " failed, cancelled or blocked; a comma list")),
              errors=(400, 401, 403, 429)),
    Operation("GET", "/api/v1/payouts/{id}", "One payout", service="feedback",
              upstream="/payouts/{id}", ids=PAYOUT, view=fb.p4f_payout,
              response=c.PayoutView, params=(ID,), description=PAYOUT_NOTE),
    _mark("paid", "mark-paid", "Mark a cash payout paid (after transferring it)"),
    _mark("failed", "mark-failed", "Mark a payout failed (the payment did not go through)"),
    _mark("cancelled", "cancel", "Cancel a payout that is not paid yet"),
    Operation("GET", "/api/v1/payout-account", "The shop's payout account (IBAN masked)",
              service="feedback", upstream="/payout-account", role="admin",
              response=c.PayoutAccountView, errors=(401, 403, 404, 429), description=SEPA_NOTE),
    Operation("PUT", "/api/v1/payout-account", "Set the shop's payout account: the debtor"
              " of its SEPA transfers (IBAN checked; BIC from the IBAN when left out)",
              service="feedback", upstream="/payout-account", role="admin",
              request=c.PayoutAccountIn, response=c.PayoutAccountView,
              errors=(400, 401, 403, 415, 429), description=SEPA_NOTE),
    Operation("POST", "/api/v1/payout-batches", "Create a SEPA batch of every claimed bank"
              " payout (EUR) not in one yet; they become `processing`", service="feedback",
              upstream="/payout-batches", role="admin", body=fb.review_body,
              request=c.PayoutBatchIn, response=c.PayoutBatchView, status=201,
              location="/api/v1/payout-batches/{id}", errors=WRITE, description=SEPA_NOTE),
    Operation("GET", "/api/v1/payout-batches", "SEPA batches, newest first (the 200 newest)",
              service="feedback", upstream="/payout-batches", role="admin", answer=items,
              response=c.PayoutBatchView, many=True, errors=(401, 403, 429)),
    Operation("GET", "/api/v1/payout-batches/{id}", "One SEPA batch", service="feedback",
              upstream="/payout-batches/{id}", ids=BATCH, role="admin",
              response=c.PayoutBatchView, params=(ID,)),
    Operation("GET", "/api/v1/payout-batches/{id}/pain.001", "The batch as a pain.001.001.03"
              " file for the shop's bank (made on each download, always with the batch's"
              " MsgId)", handler=po.pain001, role="admin", media=("application/xml",),
              params=(ID,), errors=(401, 403, 404, 409, 429), description=SEPA_NOTE),
    Operation("POST", "/api/v1/payout-batches/{id}/mark-paid", "Mark the batch paid once the"
              " bank has executed it: each payout paid, booked and announced once",
              service="feedback", upstream="/payout-batches/{id}/paid", ids=BATCH,
              role="admin", body=fb.review_body, request=c.PayoutBatchPaidIn,
              response=c.PayoutBatchView, params=(ID,), errors=WRITE, description=SEPA_NOTE),
]
WIDGET_IDS = {"id": wg.widget_id}
widget_pages, widget_page_answer = pages(wg.FBP_MAX_PAGE)

IDENTITY = [
    Operation("GET", "/v1/me", "The organization this key belongs to", handler=me,
              response=c.MeView, errors=(401, 429)),
    Operation("GET", "/api/v1/me", "Sanity-check your key", handler=me, response=c.MeView,
              errors=(401, 429)),
    Operation("POST", "/v1/sessions", "Sign in with email and password (sets the session"
              " cookie)", handler=ia.sign_in, request=ia.SignInIn, response=ia.SessionView,
              status=201, errors=(400, 401, 403, 415, 429), open=True),
    Operation("GET", "/v1/session", "The current session", handler=ia.current_session,
              response=ia.SessionView, errors=(401, 429)),
    Operation("DELETE", "/v1/session", "Sign out", handler=ia.sign_out, role="viewer",
              status=204, errors=(401, 403, 429)),
    Operation("GET", "/v1/sessions", "Your own live sessions", handler=ia.list_sessions,
              response=ia.SessionListItemView, many=True, errors=(401, 429)),
    Operation("DELETE", "/v1/sessions/{id}", "End one of your sessions",
              handler=ia.end_session, role="viewer", status=204, params=(ID,),
              errors=(401, 403, 404, 429)),
    Operation("POST", "/v1/invitations/accept", "Accept an invitation: set a password, be"
              " signed in", handler=ia.accept_invitation, request=ia.InvitationAcceptIn,
              response=ia.SessionView, errors=OPEN, open=True),
    Operation("POST", "/v1/password-resets", "Mail a password reset link (answered alike"
              " for any email)", handler=ia.request_password_reset,
              request=ia.PasswordResetIn, response=ia.ResetRequestedView, status=202,
              errors=OPEN, open=True),
    Operation("POST", "/v1/password-resets/complete", "Set a new password with the mailed"
              " token; ends every session", handler=ia.complete_password_reset,
              request=ia.PasswordResetCompleteIn, status=204, errors=OPEN, open=True),
    Operation("GET", "/v1/organization", "Your organization: name, time zone and data"
              " retention",
              handler=organization.get_organization, response=c.OrganizationView,
              errors=(401, 403, 429)),
    Operation("PATCH", "/v1/organization", "Rename the organization, set its time zone"
              " or its data retention (admin); analytics count days, weeks and months in the"
              " zone; entries older than retention_months are anonymised",
              handler=organization.update_organization, role="admin",
              request=c.OrganizationIn, response=c.OrganizationView,
              errors=(400, 401, 403, 415, 429)),
]

FEEDBACK = [
    Operation("GET", "/v1/feedback", "List feedback entries", service="feedback",
              upstream="/entries", query=fb.fbp_list_query, answer=fb.fbp_list_answer,
              response=c.FeedbackView, many=True, params=(*FBP_LIST, IF_NONE_MATCH),
              mark="/entries/mark", errors=LISTED),
    Operation("POST", "/v1/feedback/bulk", "Bulk triage: set status and/or assignee",
              service="feedback", upstream="/entries/bulk", body=fb.fbp_bulk_body,
              answer=fb.fbp_bulk_answer, request=c.BulkTriageIn,
              response=c.FeedbackBulkView, errors=WRITE, description=BULK),
    Operation("POST", "/v1/feedback", "Create a feedback entry", service="feedback",
              upstream="/entries", body=fb.entry_body, view=fb.fbp_entry,
              location="/v1/feedback/{id}", request=c.EntryIn, response=c.FeedbackView,
              status=201, errors=(400, 401, 403, 404, 409, 413, 415, 422, 429)),
    Operation("GET", "/v1/feedback/{id}", "One entry with its audit trail",
              service="feedback", upstream="/entries/{id}", ids=ENTRY,
              view=fb.fbp_entry_detail, response=c.FeedbackDetailView, params=(ID,)),
    Operation("PATCH", "/v1/feedback/{id}", "Update status, assignee or add a note",
              service="feedback", upstream="/entries/{id}", ids=ENTRY, body=fb.patch_body,
              view=fb.fbp_entry, request=c.PatchIn, response=c.FeedbackView, params=(ID,),
              errors=WRITE),
    Operation("DELETE", "/v1/feedback/{id}", "Soft-delete an entry", service="feedback",
              upstream="/entries/{id}", ids=ENTRY, response=c.DeletedView, params=(ID,)),
    Operation("GET", "/api/v1/responses", "List feedback responses, newest first",
              service="feedback", upstream="/entries", query=fb.p4f_list_query,
              view=fb.p4f_response, answer=rows, response=c.ResponseView, many=True,
              params=(*P4F_LIST, IF_NONE_MATCH), mark="/entries/mark", errors=LISTED),
    Operation("POST", "/api/v1/responses/bulk", "Approve or reject many rewards",
              service="feedback", upstream="/entries/bulk", body=fb.p4f_bulk_body,
              answer=fb.p4f_bulk_answer, request=c.BulkReviewIn,
              response=c.ResponseBulkView, errors=WRITE, description=BULK),
    Operation("GET", "/api/v1/rewards/totals", "Running totals of the rewards: responses"
              " by state, money approved and paid per currency", service="feedback",
              upstream="/rewards/totals", query=fb.reward_totals_query,
              response=c.RewardTotalsView, params=(Param("campaign_id", STRING,
                                                         description=WIDGET),)),
    Operation("GET", "/api/v1/rewards/threshold-preview", "What automatic review thresholds"
              " would have done to the responses so far", service="feedback",
              upstream="/rewards/threshold-preview", query=fb.threshold_preview_query,
              response=c.ThresholdPreviewView, description=(
                  "Try a campaign's `auto_approve_above` / `auto_reject_below` (0-100) before"
                  " setting them with `PATCH /api/v1/campaigns/{id}`: how many of the"
                  " responses so far each would approve, reject or leave for review, and"
                  " how many responses have each quality score. Responses the scorer labels"
                  " spam are never approved automatically, whatever their score; with"
                  " `auto_reject_below` set they are rejected."),
              params=(Param("campaign_id", STRING, description=WIDGET),
                      Param("auto_approve_above", {"type": "integer", "minimum": 0,
                                                   "maximum": 100}),
                      Param("auto_reject_below", {"type": "integer", "minimum": 0,
                                                  "maximum": 100}))),
    Operation("GET", "/api/v1/responses/{id}", "One response with answers and quality",
              service="feedback", upstream="/entries/{id}", ids=ENTRY,
              view=fb.p4f_response_detail, response=c.ResponseDetailView, params=(ID,)),
    Operation("POST", "/api/v1/responses/{id}/approve", "Approve the reward",
              service="feedback", upstream="/entries/{id}/approve", ids=ENTRY,
              body=fb.review_body, view=fb.p4f_response_detail, request=c.ReviewIn,
              response=c.ResponseDetailView, params=(ID,), errors=WRITE,
              description=LIMITS_NOTE),
    Operation("POST", "/api/v1/responses/{id}/reject", "Reject the reward",
              service="feedback", upstream="/entries/{id}/reject", ids=ENTRY,
              body=fb.review_body, view=fb.p4f_response_detail, request=c.ReviewIn,
              response=c.ResponseDetailView, params=(ID,), errors=WRITE),
    *PAYOUTS,
    Operation("GET", "/v1/analytics/summary", "Aggregate metrics", service="analytics",
              upstream="/summary", query=analytics.summary_query, response=c.SummaryView,
              params=SUMMARY),
]


def _widgets(base: str, view: Any, *, fbp: bool) -> list[Operation]:
    """A widget (FeedBackPro) is a campaign (Pay4Feedback): one service, two views."""
    one_of = {"service": "widgets", "ids": WIDGET_IDS, "view": view,
              "response": c.WidgetView if fbp else c.CampaignView}
    path = f"{base}/{{id}}"
    return [
        Operation("GET", base, "List widgets" if fbp else "List all campaigns",
                  service="widgets", upstream="/widgets", view=view,
                  query=widget_pages if fbp else wg.every_campaign,
                  answer=widget_page_answer if fbp else rows,
                  response=one_of["response"], many=True,
                  params=FBP_PAGE if fbp else (P4F_LIST[0], P4F_LIST[1])),
        Operation("POST", base, "Create a widget" if fbp else "Create a campaign (starts in"
                  " DRAFT)", service="widgets", upstream="/widgets", view=view,
                  body=None if fbp else wg.draft_body, location=f"{base}/{{id}}",
                  request=WidgetIn, response=one_of["response"], status=201,
                  errors=WRITE),
        Operation("GET", path, "One widget" if fbp else "Get one campaign",
                  upstream="/widgets/{id}", params=(WIDGET_ID,), **one_of),
        Operation("PATCH", path, "Change settings; live on shop pages within 15 s",
                  upstream="/widgets/{id}", request=WidgetPatch, params=(WIDGET_ID,),
                  errors=WRITE, **one_of),
        Operation("POST", f"{path}/pause", "Pause, optionally until resume_at",
                  upstream="/widgets/{id}/pause", request=PauseIn, params=(WIDGET_ID,),
                  errors=WRITE, **{**one_of, **({"view": wg.fbp_paused,
                                                 "response": c.PausedView} if fbp else {})}),
        Operation("POST", f"{path}/resume", "Resume; notify=true emails the admins",
                  upstream="/widgets/{id}/resume", request=ResumeIn, params=(WIDGET_ID,),
                  errors=WRITE, **one_of),
    ]


WIDGETS = _widgets("/v1/widgets", wg.fbp_widget, fbp=True) + _widgets(
    "/api/v1/campaigns", wg.p4f_campaign, fbp=False)

# The shoppers' paths: no key, the widgets service's own shape, relayed with its headers.
PUBLIC_ID = Param("public_id", STRING, "path", required=True,
                  description="the widget's public id (`wdg_…`)")
SHOPPERS = [
    Operation("GET", "/widget.js", "The embeddable widget script (one script tag)",
              handler=wg.widget_script, open=True, tags=("Widget",), errors=(429,)),
    Operation("GET", "/public/widgets/{public_id}", "The widget's live configuration",
              handler=wg.public_config, open=True, tags=("Widget",), params=(PUBLIC_ID,),
              errors=(403, 404, 429)),
    Operation("OPTIONS", "/public/widgets/{public_id}", "CORS preflight",
              handler=wg.public_config, open=True, tags=("Widget",), params=(PUBLIC_ID,),
              status=204, errors=(403, 404, 429)),
    Operation("POST", "/public/widgets/{public_id}/submissions", "A shopper's answers",
              handler=wg.public_submission, open=True, tags=("Widget",),
              request=SubmissionIn, status=201, params=(PUBLIC_ID,),
              errors=(400, 403, 404, 409, 413, 415, 429)),
    Operation("OPTIONS", "/public/widgets/{public_id}/submissions", "CORS preflight",
              handler=wg.public_submission, open=True, tags=("Widget",),
              params=(PUBLIC_ID,), status=204, errors=(403, 404, 429)),
    Operation("GET", "/demo/{public_id}", "A demo shop page with the widget embedded",
              handler=wg.demo_page, open=True, tags=("Widget",), params=(PUBLIC_ID,),
              errors=(404, 429)),
    # The claim page of a cash reward: the mailed link's token (in the fragment) is the key.
    Operation("GET", "/claim", "The shopper's claim page (German or English; the token in"
              " the link's fragment)", handler=cl.claim_page, open=True, tags=("Claim",),
              errors=(429,)),
    Operation("GET", "/claim/assets/{name}", "The claim page's script and style sheet",
              handler=cl.claim_asset, open=True, tags=("Claim",),
              params=(Param("name", STRING, "path", required=True),), errors=(404, 429)),
    Operation("POST", "/public/claims/lookup", "What a claim link offers (a used link is"
              " 409, an expired one 410)", handler=cl.lookup, open=True, tags=("Claim",),
              request=c.ClaimTokenIn, response=c.ClaimView, errors=(400, 404, 409, 410, 429)),
    Operation("POST", "/public/claims/answer", "Claim the reward by bank transfer (IBAN,"
              " account holder) or PayPal, or decline it; once", handler=cl.answer,
              open=True, tags=("Claim",), request=c.ClaimAnswerIn, response=c.ClaimView,
              errors=(400, 404, 409, 410, 413, 429)),
]

AUDIT_PARAMS = (
    Param("actor", {"type": "string", "format": "uuid"},
          description="a user id or key id: what that member or key did"),
    Param("method", STRING, description="comma list of POST, PUT, PATCH, DELETE (also as"
          " `action`)"),
    Param("operation", STRING, description="a path template, e.g. /v1/feedback/{id}"),
    Param("path", STRING, description="paths starting with this"),
    Param("target_id", STRING, description="the id of the record changed"),
    Param("from", DATE), Param("to", DATE),
    Param("limit", _int(1), description="default 50; more than 200 is clamped to 200"),
    Param("cursor", STRING, description="opaque; from meta.next_cursor (next)"),
)
EXPORT = ("Stream every entry the list's filters find as a file: `format=csv` (default;"
          " answers and metadata as JSON text, cells that a spreadsheet would run as a"
          " formula prefixed with ') or `format=jsonl` (one JSON object a line)")
FORMAT = Param("format", {"enum": list(au.FORMATS)})
NOT_PAGED = ("page", "limit", "cursor")
EXPORT_MEDIA = ("text/csv", "application/x-ndjson")
AUDIT = [
    Operation("GET", "/v1/audit-log", "The organization's audit log, newest first (admins):"
              " every change by members and keys", handler=au.fbp_audit_log, role="admin",
              response=c.AuditEventView, many=True, params=AUDIT_PARAMS,
              errors=(400, 401, 403, 429)),
    Operation("GET", "/api/v1/audit-log", "The organization's audit log (admins)",
              handler=au.p4f_audit_log, role="admin", response=c.AuditEventView, many=True,
              params=AUDIT_PARAMS, errors=(400, 401, 403, 429)),
    Operation("POST", "/v1/feedback/{id}/restore", "Restore a soft-deleted entry (404 when"
              " it is not deleted)", service="feedback", upstream="/entries/{id}/restore",
              ids=ENTRY, body=au.no_body, view=au.restored, response=c.RestoredView,
              params=(ID,)),
    Operation("GET", "/v1/feedback/export", EXPORT, handler=au.fbp_export,
              response=c.ExportRowView, many=True, media=EXPORT_MEDIA,
              params=(FORMAT, *(p for p in FBP_LIST if p.name not in NOT_PAGED))),
    Operation("GET", "/api/v1/responses/export", EXPORT, handler=au.p4f_export,
              response=c.ExportRowView, many=True, media=EXPORT_MEDIA,
              params=(FORMAT, *(p for p in P4F_LIST if p.name not in NOT_PAGED))),
]



def _webhooks(base: str) -> list[Operation]:
    """The same subscriptions in both dialects, kept by the webhook dispatcher."""
    admin: dict[str, Any] = {"service": "webhook_dispatcher", "role": "admin"}
    sub: dict[str, Any] = {**admin, "answer": as_sent, "params": (ID,)}
    delivery = (ID, Param("delivery_id", STRING, "path", required=True))
    moves = (400, 401, 403, 404, 429)
    return [
        # Before the `{id}` rows, so that `events` and `event-types` are never taken for ids.
        Operation("GET", f"{base}/events/{{event_id}}/deliveries", "Deliveries of one event",
                  upstream="/events/{event_id}/deliveries", answer=items,
                  response=c.EventDeliveryView, many=True,
                  params=(Param("event_id", STRING, "path", required=True),), **admin),
        Operation("GET", f"{base}/event-types", "Event catalog: every webhook a subscription"
                  " may choose, with its JSON Schema and a sample", upstream="/event-types",
                  answer=items, response=c.EventTypeView, many=True, errors=(401, 403, 429),
                  **admin),
        Operation("GET", base, "List webhook subscriptions", upstream="/subscriptions",
                  answer=items, response=c.WebhookView, many=True, errors=(401, 403, 429),
                  **admin),
        Operation("POST", base, "Create a subscription (its secret is shown once)",
                  upstream="/subscriptions", body=wh.json_body, location=f"{base}/{{id}}",
                  request=c.SubscriptionIn, response=c.WebhookCreatedView, status=201,
                  errors=(400, 401, 403, 409, 415, 422, 429), **admin),
        Operation("GET", f"{base}/{{id}}", "One subscription", upstream="/subscriptions/{id}",
                  response=c.WebhookView, **sub),
        Operation("PATCH", f"{base}/{{id}}", "Change url, events, description or enabled",
                  upstream="/subscriptions/{id}", body=wh.json_body, request=c.WebhookPatchIn,
                  response=c.WebhookView, errors=(400, 401, 403, 404, 415, 429), **sub),
        Operation("DELETE", f"{base}/{{id}}", "Delete a subscription",
                  upstream="/subscriptions/{id}", response=c.DeletedView, **sub),
        Operation("POST", f"{base}/{{id}}/test", "Send a test event: a signed sample with"
                  " \"test\": true in its data, to this endpoint only, logged like any"
                  " delivery", upstream="/subscriptions/{id}/test", body=wh.json_body,
                  request=c.WebhookTestIn, response=c.WebhookTestView, status=202,
                  errors=(400, 401, 403, 404, 409, 429), **sub),
        Operation("POST", f"{base}/{{id}}/rotate-secret", "New secret; the old one signs"
                  " beside it for 24 h", upstream="/subscriptions/{id}/rotate-secret",
                  response=c.WebhookCreatedView, errors=moves, **sub),
        Operation("POST", f"{base}/{{id}}/enable", "Re-enable a disabled endpoint",
                  upstream="/subscriptions/{id}/enable", response=c.WebhookView,
                  errors=moves, **sub),
        Operation("GET", f"{base}/{{id}}/deliveries", "Delivery log, newest first",
                  upstream="/subscriptions/{id}/deliveries", query=wh.delivery_filters,
                  answer=items, response=c.DeliveryView, many=True, params=(
                      ID, Param("status", {"enum": list(c.DELIVERY_STATUSES)}),
                      Param("event_id", STRING, description="one event's deliveries"),
                      Param("limit", _int(1),
                            description="default 100; more than 500 is clamped to 500")),
                  **admin),
        Operation("GET", f"{base}/{{id}}/deliveries/{{delivery_id}}/attempts",
                  "Attempts of one delivery",
                  upstream="/subscriptions/{id}/deliveries/{delivery_id}/attempts",
                  answer=items, response=c.AttemptView, many=True, params=delivery, **admin),
        Operation("POST", f"{base}/{{id}}/deliveries/{{delivery_id}}/resend",
                  "Send one delivery again",
                  upstream="/subscriptions/{id}/deliveries/{delivery_id}/resend",
                  answer=as_sent, response=c.DeliveryView, status=202, params=delivery,
                  errors=moves, **admin),
        Operation("POST", f"{base}/{{id}}/recover", "Redeliver failures since a time",
                  upstream="/subscriptions/{id}/recover", body=wh.json_body,
                  request=c.RecoverIn, response=c.RecoveredView, status=202, errors=moves,
                  **sub),
    ]


WEBHOOKS = _webhooks("/api/v1/webhooks") + _webhooks("/v1/webhooks")

CONFIRM = Param("X-Confirm", {"enum": ["true"]}, "header", required=True)
TEAM = [
    Operation("GET", "/v1/users", "List team members", handler=us.list_users,
              response=c.UserView, many=True, params=FBP_PAGE, errors=(400, 401, 429)),
    Operation("GET", "/v1/users/{id}", "One team member", handler=us.get_user,
              response=c.UserView, params=(ID,), errors=(401, 404, 429)),
    Operation("POST", "/v1/users", "Invite a team member (admin)", handler=us.invite_user,
              role="admin", location="/v1/users/{id}", request=c.InvitationIn,
              response=c.InvitedUserView, status=201, errors=(400, 401, 403, 409, 415, 429)),
    Operation("DELETE", "/v1/users/{id}", "Remove a team member (admin): their open entries"
              " go to the owner, their sessions end and their keys are revoked",
              handler=us.remove_user, role="admin", response=c.UserView,
              params=(ID, CONFIRM), errors=(400, 401, 403, 404, 409, 429)),
    Operation("PATCH", "/v1/users/{id}", "Change a member's role (admin; not your own, and"
              " the owner stays an admin); it holds from their next request",
              handler=us.change_role, role="admin", request=c.RoleIn, response=c.UserView,
              params=(ID,), errors=(400, 401, 403, 404, 409, 415, 429)),
    Operation("POST", "/v1/users/{id}/invitation", "Mail a new invitation to a member who has"
              " not accepted yet (admin); earlier links stop working",
              handler=us.resend_invitation, role="admin", response=c.InvitedUserView,
              params=(ID,), errors=(401, 403, 404, 409, 429)),
]


def _keys(base: str) -> list[Operation]:
    """The organization's API keys, the same in both dialects (admins only)."""
    admin: dict[str, Any] = {"role": "admin"}
    return [
        Operation("GET", base, "List the organization's API keys (admin; prefixes only)",
                  handler=ks.list_keys, response=c.ApiKeyView, many=True,
                  errors=(401, 403, 429), **admin),
        Operation("POST", base, "Create an API key (admin): the whole key is in this answer"
                  " only; its role at most the caller's", handler=ks.create_key,
                  location=f"{base}/{{id}}", request=c.ApiKeyIn, response=c.ApiKeyCreatedView,
                  status=201, errors=(400, 401, 403, 415, 429), **admin),
        Operation("GET", f"{base}/{{id}}", "One API key (admin)", handler=ks.get_key,
                  response=c.ApiKeyView, params=(ID,), errors=(401, 403, 404, 429), **admin),
        Operation("POST", f"{base}/{{id}}/rotate", "Rotate a key (admin): a successor (shown"
                  " once) with the same name and role; the old key keeps working for 24"
                  " hours", handler=ks.rotate_key, location=f"{base}/{{id}}",
                  response=c.ApiKeyCreatedView, status=201, params=(ID,),
                  errors=(401, 403, 404, 409, 429), **admin),
        Operation("DELETE", f"{base}/{{id}}", "Revoke a key (admin): refused by every gateway"
                  " once this returns", handler=ks.revoke_key, response=c.ApiKeyView,
                  params=(ID,), errors=(401, 403, 404, 429), **admin),
    ]


KEYS = _keys("/v1/api-keys") + _keys("/api/v1/api-keys")



def _privacy(base: str) -> list[Operation]:
    """Data-subject requests (GDPR access and erasure), the same in both dialects; the
    feedback service keeps them (docs/privacy.md)."""
    admin: dict[str, Any] = {"service": "feedback", "role": "admin"}
    return [
        Operation("GET", base, "The organization's data-subject requests with each"
                  " service's progress, newest first (admin; the 100 newest)",
                  upstream="/privacy/requests", answer=items, response=c.PrivacyRequestView,
                  many=True, errors=(401, 403, 429), **admin),
        Operation("POST", base, "File a data-subject request (admin): an export of"
                  " everything held about one customer email, or its erasure in every"
                  " service; the email is matched exactly, ignoring case",
                  handler=pv.file_request, location=f"{base}/{{id}}",
                  request=c.PrivacyRequestIn, response=c.PrivacyRequestView, status=202,
                  errors=(400, 401, 403, 415, 429), **admin),
        Operation("GET", f"{base}/{{id}}", "A data-subject request with each service's"
                  " progress (admin)", upstream="/privacy/requests/{id}",
                  response=c.PrivacyRequestView, params=(ID,), errors=(401, 403, 404, 429),
                  **admin),
        Operation("GET", f"{base}/{{id}}/export", "An export's document: every entry of"
                  " the customer with answers, metadata, notes, reward and payout (admin;"
                  " 404 for an erasure or once the customer has been erased)",
                  upstream="/privacy/requests/{id}/export", response=c.PrivacyExportView,
                  params=(ID,), errors=(401, 403, 404, 429), **admin),
        Operation("GET", f"{base}/{{id}}/export/{{kind}}", "One kind of an export's"
                  " document as a CSV file (admin): `entries` (answers and metadata as JSON"
                  " text), `answers` (one row per question), `notes`, `payouts`; 404 as the"
                  " document", handler=pv.export_csv, media=("text/csv",),
                  params=(ID, Param("kind", {"enum": list(pv.CSV_KINDS)}, "path",
                                    required=True)),
                  errors=(401, 403, 404, 429), **admin),
    ]


PRIVACY = _privacy("/v1/privacy/requests") + _privacy("/api/v1/privacy/requests")

# Before the `{id}` rows: `export` is no entry id.
OPERATIONS: list[Operation] = [*IDENTITY, *TEAM, *KEYS, *AUDIT, *FEEDBACK, *WIDGETS,
                               *WEBHOOKS, *SHOPPERS, *PRIVACY]

