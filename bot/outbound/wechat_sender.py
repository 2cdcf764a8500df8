"""The outbox's "wechat" sender: a staff answer leaves as a customer-service
text message through the WeChat API (bot/outbound/wechat_api.py)."""

from __future__ import annotations

from collections.abc import Callable

from storage.database import Database
from storage.models import Case, Contact, OutboxItem

from .outbox import DeliveryError
from .wechat_api import WeChatApi, WeChatApiError

# What staff read when WeChat refuses; the reply stays on the case as a draft.
REFUSALS = {
    45015: "微信拒绝发送：已超过群众最后一条留言后的48小时客服消息时限。请电话联系或等待群众再次留言后重新发送。",
    45047: "微信拒绝发送：本次48小时窗口内客服消息已达5条上限。请等待群众再次留言后重新发送，或改用电话联系。",
    43004: "微信拒绝发送：该用户已取消关注公众号。请改用其他方式联系。",
    40003: "微信拒绝发送：OpenID 无效。请改用其他方式联系。",
    45002: "微信拒绝发送：消息内容过长，请精简后重新发送。",
}


def describe(exc: WeChatApiError) -> str:
    if exc.errcode in REFUSALS:
        return REFUSALS[exc.errcode]
    if exc.errcode == -1:
        return f"暂时无法连接微信服务器（{exc.errmsg}），系统将自动重试。"
    return f"微信返回错误 {exc.errcode}：{exc.errmsg}"


def _openid_of(tx, case_id: int) -> str | None:
    case = tx.session.get(Case, case_id)
    contact = tx.session.get(Contact, case.contact_id) if case and case.contact_id else None
    return contact.identity if contact is not None and contact.channel == "wechat" else None


class WeChatSender:
    def __init__(self, db: Database, api: Callable[[], WeChatApi | None]):
        self.db = db
        self.api = api  # None when no AppID/AppSecret is configured

    async def __call__(self, item: OutboxItem) -> None:
        text = str((item.payload or {}).get("text") or "")
        if not text or item.case_id is None:
            raise DeliveryError("答复内容为空，无法发送", retryable=False)
        openid = await self.db.read(_openid_of, item.case_id)
        if openid is None:
            raise DeliveryError("该案件没有微信用户（OpenID），无法通过公众号答复", retryable=False)
        api = self.api()
        if api is None:
            raise DeliveryError("未配置公众号 AppID/AppSecret，无法发送客服消息", retryable=False)
        try:
            await api.send_text(openid, text)
        except WeChatApiError as exc:
            raise DeliveryError(describe(exc), retryable=exc.retryable) from None
