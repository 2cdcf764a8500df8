"""Every route, middleware, page in the staff navigation and WeChat handler
of the application, in one place. Nothing registers itself elsewhere."""

from __future__ import annotations

from aiohttp import web

from handlers import (
    api_cases, api_disclosure, api_kb, api_outbox, api_reports, api_stats, hotline, inbox_admin, inbox_cases,
    inbox_dashboard, inbox_disclosure, inbox_kb, inbox_login, inbox_outbox, letters, ops, track, wechat,
    wechat_answers, wechat_default, wechat_dialog, wechat_own_cases, wechat_ratings,
)
from handlers.common.http_errors import error_middleware
from handlers.common.json_api import api_middleware
from handlers.common.render import STATIC, NavItem, page_errors
from handlers.common.staff import staff_middleware
from handlers.common.wechat_router import Router

# Outermost first: metrics see every request; hostile input is refused, the
# body read under a deadline and every error answered in Chinese (and logged
# on one line); /api/ answers in JSON with a
# token; staff pages need a session (and CSRF on every form); a refusal on a
# staff page is shown as a page.
MIDDLEWARES = (ops.metrics_middleware, error_middleware, api_middleware, staff_middleware, page_errors)

CASE = "/api/v1/cases/{case_id}"
DISCLOSURE = CASE + "/disclosure"

ROUTES = (
    # ops
    web.get("/healthz", ops.healthz),
    web.get("/metrics", ops.metrics_view),
    # channels
    web.get("/wechat", wechat.verify_url),
    web.post("/wechat", wechat.receive),
    web.post("/hotline/orders", hotline.receive_orders),
    web.post("/hotline/events", hotline.receive_events),
    # citizens' own pages
    web.get("/track", track.track),
    web.post("/track/rating", track.track_rating),
    web.get("/track.css", track.stylesheet),
    # the public web letter box (网上信箱)
    web.get("/letters/new", letters.letter_form),
    web.post("/letters", letters.letter_submit),
    web.get("/letters/done", letters.letter_done),
    web.get("/letters", letters.letter_list),
    web.static("/letters/static/", letters.STATIC, name="letters_static"),
    # the JSON API (Bearer tokens)
    web.post("/api/v1/cases", api_cases.create_case),
    web.get("/api/v1/cases", api_cases.list_cases),
    web.get(CASE, api_cases.get_case),
    web.patch(CASE, api_cases.patch_case),
    web.post(CASE + "/replies", api_cases.post_reply),
    web.post(CASE + "/extension", api_cases.post_extension),
    web.post(CASE + "/extension/decision", api_cases.post_extension_decision),
    web.post(CASE + "/return", api_cases.post_return),
    web.post(CASE + "/rating", api_cases.post_rating),
    web.post(CASE + "/urge", api_cases.post_urge),
    web.post(CASE + "/accept", api_cases.post_accept),
    web.post(CASE + "/tracking-code", api_cases.post_tracking_code),
    web.put(DISCLOSURE, api_disclosure.put_disclosure),
    web.get(DISCLOSURE, api_disclosure.get_disclosure),
    web.get(DISCLOSURE + "/answer-letter.docx", api_disclosure.answer_letter),
    web.post(DISCLOSURE + "/{step}", api_disclosure.take_step),
    web.post("/api/v1/reviews", api_disclosure.post_review),
    web.get("/api/v1/reviews", api_disclosure.list_reviews),
    web.patch("/api/v1/reviews/{review_id}", api_disclosure.patch_review),
    web.get("/api/v1/reports/{year}", api_reports.get_report),
    web.get("/api/v1/stats", api_stats.get_stats),
    web.get("/api/v1/outbox", api_outbox.list_outbox),
    web.post("/api/v1/outbox/{item_id}/retry", api_outbox.retry_outbox),
    web.get("/api/v1/kb/entries", api_kb.list_entries),
    web.post("/api/v1/kb/entries", api_kb.create_entry),
    web.put(api_kb.ENTRY, api_kb.put_entry),
    web.delete(api_kb.ENTRY, api_kb.delete_entry),
    web.get("/api/v1/kb/rules", api_kb.get_rules),
    web.put("/api/v1/kb/rules", api_kb.put_rules),
    web.post("/api/v1/kb/match", api_kb.try_match),
    web.get("/api/v1/kb/answers", api_kb.list_answers),
    web.post("/api/v1/kb/answers/{answer_id}/judgement", api_kb.judge_answer),
    # staff pages
    web.get("/", inbox_login.root),
    web.get("/login", inbox_login.login_page),
    web.post("/login", inbox_login.login_submit),
    web.post("/logout", inbox_login.logout),
    web.get("/inbox", inbox_cases.inbox_list),
    web.get("/inbox/", inbox_cases.inbox_list),
    web.get("/inbox/cases/{case_id}", inbox_cases.case_view),
    web.post("/inbox/cases/{case_id}/update", inbox_cases.case_update),
    web.post("/inbox/cases/{case_id}/reply", inbox_cases.case_reply),
    web.post("/inbox/cases/{case_id}/note", inbox_cases.case_note),
    web.post("/inbox/cases/{case_id}/merge", inbox_cases.case_merge),
    web.post("/inbox/cases/{case_id}/extension", inbox_cases.case_extension),
    web.post("/inbox/cases/{case_id}/extension/decision", inbox_cases.case_extension_decision),
    web.post("/inbox/cases/{case_id}/return", inbox_cases.case_return),
    web.post("/inbox/cases/{case_id}/rating", inbox_cases.case_rating),
    web.post("/inbox/cases/{case_id}/urge", inbox_cases.case_urge),
    web.post("/inbox/cases/{case_id}/accept", inbox_cases.case_accept),
    web.post("/inbox/cases/{case_id}/tracking-code", inbox_cases.case_tracking_code),
    web.post("/inbox/cases/{case_id}/publication", inbox_cases.case_publication),
    web.post("/inbox/cases/{case_id}/messages/{message_id}/retry", inbox_cases.message_retry),
    web.post("/inbox/cases/{case_id}/messages/{message_id}/delivered", inbox_cases.message_delivered),
    web.get("/inbox/dashboard", inbox_dashboard.dashboard),
    web.get("/inbox/dashboard/charts/{name}.svg", inbox_dashboard.chart_download),
    web.get("/inbox/canned", inbox_admin.canned_list),
    web.post("/inbox/canned", inbox_admin.canned_save),
    web.get("/inbox/admin/users", inbox_admin.users_page),
    web.post("/inbox/admin/users", inbox_admin.users_save),
    web.get("/inbox/admin/calendar", inbox_admin.calendar_page),
    web.post("/inbox/admin/calendar", inbox_admin.calendar_save),
    web.get("/inbox/outbox", inbox_outbox.outbox_page),
    web.post("/inbox/outbox/{item_id}/retry", inbox_outbox.outbox_retry),
    web.get("/inbox/kb", inbox_kb.kb_home),
    web.get("/inbox/kb/new", inbox_kb.entry_page),
    web.post("/inbox/kb/new", inbox_kb.entry_save),
    web.get("/inbox/kb/entries/{key}", inbox_kb.entry_page),
    web.post("/inbox/kb/entries/{key}", inbox_kb.entry_save),
    web.post("/inbox/kb/answers/{answer_id}/judge", inbox_kb.judge),
    web.get("/inbox/disclosure", inbox_disclosure.requests_list),
    web.get("/inbox/reports", inbox_disclosure.reports_page),
    web.get(r"/inbox/reports/{year:\d{4}}.{fmt:[a-z]+}", inbox_disclosure.report_download),
    web.get("/inbox/cases/{case_id}/disclosure", inbox_disclosure.case_page),
    web.post("/inbox/cases/{case_id}/disclosure", inbox_disclosure.case_save),
    web.get("/inbox/cases/{case_id}/disclosure/answer-letter.docx", inbox_disclosure.case_letter),
    web.post("/inbox/cases/{case_id}/disclosure/{action}", inbox_disclosure.case_action),
    web.static("/inbox/static/", STATIC, name="inbox_static"),
)

# The staff navigation, in order.
NAV = (
    NavItem("/inbox", "收件箱"),
    NavItem("/inbox/dashboard", "统计图表"),
    NavItem("/inbox/canned", "常用答复"),
    NavItem("/inbox/admin/calendar", "节假日", admin_only=True),
    NavItem("/inbox/admin/users", "账号", admin_only=True),
    NavItem("/inbox/kb", "自动答复"),
    NavItem("/inbox/outbox", "外发队列"),
    NavItem("/inbox/disclosure", "依申请公开"),
    NavItem("/inbox/reports", "年度报表"),
)


def wechat_router() -> Router:
    """Who answers a WeChat push, in order: `查询` (the sender's own cases,
    and its menu button), the disclosure dialog, the
    answer to a rating question (回访), instant answers (keyword rules, the
    knowledge base, menu clicks), then the default handlers that record a case."""
    root = Router("wechat")
    root.include_router(wechat_own_cases.router())
    root.include_router(wechat_dialog.router())
    root.include_router(wechat_ratings.router())
    root.include_router(wechat_answers.router())
    root.include_router(wechat_default.router())
    return root
