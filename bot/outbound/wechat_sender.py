"""The outbox's WeChat senders: a staff answer leaves as a customer-service
text message through the WeChat API (bot/outbound/wechat_api.py), or, when
the customer-service window has closed, as a subscription notice."""

from __future__ import annotations

from collections.abc import Callable

from bot.config import Settings
from bot.domain import notices, tracking
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


# What staff read when WeChat refuses a notice; recorded on the reply.
NOTICE_REFUSALS = {
    43101: "微信拒绝推送通知：群众未订阅（或已取消订阅）办理进度通知。请电话联系群众告知答复。",
    47003: "微信拒绝推送通知：通知内容不符合模板规则（{errmsg}）。请管理员核对 [wechat_notice] 的字段配置。",
    40037: "微信拒绝推送通知：模板 ID 无效。请管理员核对 [wechat_notice] template_id。",
    40003: "微信拒绝推送通知：OpenID 无效。请改用其他方式联系。",
    43004: "微信拒绝推送通知：该用户已取消关注公众号。请改用其他方式联系。",
}


class WeChatNoticeSender:
    """The outbox's "wechat_notice" sender: a subscription notice (订阅通知)
    for a reply the customer-service window can no longer carry, linking
    to the case's /track page with the code derived for it."""

    def __init__(self, settings: Settings, db: Database, api: Callable[[], WeChatApi | None]):
        self.settings = settings
        self.db = db
        self.api = api

    async def __call__(self, item: OutboxItem) -> None:
        settings = self.settings
        values = (item.payload or {}).get("values")
        if not isinstance(values, dict) or not values.get("number") or item.case_id is None:
            raise DeliveryError("通知内容不完整，无法推送", retryable=False)
        if not settings.wechat_notice_template:
            raise DeliveryError("未配置订阅通知模板（[wechat_notice] template_id），无法推送", retryable=False)
        openid = await self.db.read(_openid_of, item.case_id)
        if openid is None:
            raise DeliveryError("该案件没有微信用户（OpenID），无法推送通知", retryable=False)
        api = self.api()
        if api is None:
            raise DeliveryError("未配置公众号 AppID/AppSecret，无法推送通知", retryable=False)
        number = str(values["number"])
        page = notices.track_link(settings.public_url, number, tracking.derived_code(settings.secret_key, number))
        try:
            await api.send_notice(openid, settings.wechat_notice_template,
                                  notices.notice_data(settings.wechat_notice_fields, values), page)
        except WeChatApiError as exc:
            if exc.errcode in NOTICE_REFUSALS:
                raise DeliveryError(NOTICE_REFUSALS[exc.errcode].format(errmsg=exc.errmsg), retryable=False) from None
            raise DeliveryError(describe(exc), retryable=exc.retryable) from None
