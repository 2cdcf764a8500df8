"""No stable key where a person reads: the staff pages, read over real HTTP
(SQLite and PostgreSQL) as text (tags, and so links and form values, left
out), name channels, kinds, topics, statuses, applicant types, the outbox's
targets and states and the knowledge base's entries by their Chinese names."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from html import unescape

from bot.domain import vocabulary as v
from bot.domain.actors import Actor
from bot.exports.documents import read_document
from bot.services import cases, knowledge
from tests.handlers.test_inbox_cases import new_case
from tests.inbox_staff import add_user, login, page, submit

STARTER = "deploy/knowledge_base.yaml"


def readable(html: str) -> str:
    """The page's text (the admin's folded raw audit entries left out: they are the record as stored)."""
    body = html[html.index("<main>"):html.index("</main>")]
    body = re.sub(r"<details class=\"raw\">.*?</details>", " ", body, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", body))


def stable_keys(kb_keys) -> set[str]:
    keys = {*v.CHANNELS, *v.KINDS, *v.TOPICS, *v.STATUSES, *v.APPLICANT_TYPES, *v.REPLY_TYPES, *v.RATING_SOURCES,
            *v.OUTBOX_STATUS_LABELS, *v.OUTBOX_TARGET_LABELS, *v.CLASSIFIED_BY_LABELS, *kb_keys}
    return {str(k) for k in keys}


async def test_staff_pages_name_everything_in_chinese(server):
    rt = server.runtime
    await add_user(rt, "boss", role="admin", display_name="王主任")
    await knowledge.import_document(rt.db, read_document(STARTER), Actor("test"))
    await rt.knowledge.reload()
    wechat = await new_case(rt, "人防工程漏水好几个月了没人修", channel="wechat", identity="oVocab1", phone=None)
    disclosure = await new_case(rt, "申请公开本单位人防工程名录", kind="disclosure_request")
    await cases.reply(rt, Actor("user:boss", user_id=1, username="boss", role="admin"), wechat.id,
                      "已转物业处理。", reply_type="interim")
    assert (await login(server, "boss")).status == 303
    path = f"/inbox/cases/{disclosure.id}/disclosure"
    year = datetime.now(timezone.utc).year - 1
    resp = await submit(server, path, path, {"applicant_type": "legal_service", "receipt_date": f"{year}-03-04",
                                              "outcome": "r5_2", "decided_at": f"{year}-03-10"})
    assert resp.status == 303

    keys = stable_keys(rt.knowledge.current.entries)
    pattern = re.compile(r"(?<![A-Za-z_./-])(%s)(?![A-Za-z_/-])" % "|".join(sorted(map(re.escape, keys), key=len,
                                                                                       reverse=True)))
    pages = ["/inbox", "/inbox?view=all", f"/inbox/cases/{wechat.id}", f"/inbox/cases/{disclosure.id}", path,
             "/inbox/outbox", "/inbox/outbox?status=pending", "/inbox/kb", "/inbox/kb?all=1", "/inbox/disclosure",
             f"/inbox/reports?year={year}", "/inbox/dashboard", "/inbox/canned"]
    for p in pages:
        text = readable(await page(server, p))
        found = pattern.findall(text)
        assert not found, (p, found)

    # And what they do say, by name.
    assert "微信公众号" in readable(await page(server, "/inbox"))
    outbox = readable(await page(server, "/inbox/outbox"))
    assert "微信" in outbox and "待发送" in outbox
    assert "法人或其他组织·法律服务机构" in readable(await page(server, "/inbox/disclosure"))
    kb = readable(await page(server, "/inbox/kb"))
    assert "防空警报试鸣的一般安排" in kb and "siren-general" not in kb
