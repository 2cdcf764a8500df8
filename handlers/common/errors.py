"""The one mapping from the domain's refusals to HTTP statuses."""

from __future__ import annotations

from bot.domain.errors import Conflict, DomainError, Forbidden, NotFound, TooManyRequests


def status_of(exc: DomainError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, TooManyRequests):
        return 429
    return 400


# What a person reads for each HTTP error the server can give, in Chinese
# (aiohttp's own bodies say "404: Not Found" and "Request Entity Too Large"),
# and the stable code a program reads in a JSON error.
STATUS_TEXT: dict[int, tuple[str, str]] = {
    400: ("bad_request", "请求无效，请检查后重试"),
    401: ("unauthorized", "需要登录或有效的令牌"),
    403: ("forbidden", "没有权限进行此操作"),
    404: ("not_found", "没有找到这个页面"),
    405: ("method_not_allowed", "不支持这种请求方式"),
    406: ("not_acceptable", "无法提供所要求的格式"),
    408: ("timeout", "请求超时：数据发送太慢，请重试"),
    409: ("conflict", "请求与当前状态冲突，请刷新后重试"),
    411: ("length_required", "请求缺少长度（Content-Length）"),
    413: ("too_large", "请求内容过大"),
    414: ("uri_too_long", "网址过长"),
    415: ("unsupported_media_type", "不支持的内容类型或字符集，请使用 UTF-8"),
    417: ("expectation_failed", "无法满足请求的 Expect 头"),
    422: ("invalid", "请求内容无法处理"),
    429: ("too_many_requests", "请求过于频繁，请稍后再试"),
    431: ("headers_too_large", "请求头过大"),
    500: ("internal", "服务器内部错误，请稍后再试"),
    501: ("not_implemented", "不支持这种请求"),
    502: ("bad_gateway", "上游服务暂时不可用，请稍后再试"),
    503: ("unavailable", "服务暂时不可用，请稍后再试"),
    504: ("gateway_timeout", "上游服务超时，请稍后再试"),
}


def status_text(status: int) -> tuple[str, str]:
    """(code, Chinese message) for an HTTP error status."""
    if status in STATUS_TEXT:
        return STATUS_TEXT[status]
    return ("client_error", "请求无法完成") if status < 500 else ("server_error", "服务器暂时无法完成请求，请稍后再试")
