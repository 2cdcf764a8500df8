"""WeChat Official Account wire protocol (shared/spec/WECHAT.md): signatures,
message crypto, parsing and reply rendering, on top of wechatpy.

wechatpy does the AES framing and reply rendering; this module adds what
it lacks: constant-time signature checks, a ``secrets`` random prefix,
CDATA-safe reply text, the 2000-byte cap, clear errors, and messages read
by ElementTree's C parser into the product's ``Push`` (bot/domain/wechat.py),
named as wechatpy's ``parse_message`` names them (a test holds the two equal).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cached_property

from wechatpy.crypto import PrpCrypto
from wechatpy.exceptions import InvalidAppIdException
from wechatpy.replies import TextReply

from bot.domain.wechat import Push

MAX_REPLY_BYTES = 2000  # WeChat truncates or refuses longer text replies
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class ProtocolError(Exception):
    """A request that is not a genuine, well-formed WeChat push."""

    def __init__(self, status: int, reason: str):
        self.status = status
        self.reason = reason
        super().__init__(reason)


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def signature_ok(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.strip().lower().encode())


class _SecretPrpCrypto(PrpCrypto):
    """wechatpy draws the 16-byte prefix from ``random``; use the operating
    system's CSPRNG (16 hex digits: 64 random bits, alphanumeric like
    WeChat's own), read 4 KiB at a time: one system call per 512 replies
    instead of one each (a call releases the GIL, and getting it back from
    the writer thread cost more than the call). Every byte is used once. A
    fixed prefix can be given for reproducing the published vectors."""

    _POOL = 4096

    def __init__(self, key: bytes, prefix: str | None = None):
        super().__init__(key)
        self._prefix = prefix
        self._random = b""
        self._used = 0
        self._lock = threading.Lock()  # replies are made on the loop's thread; be safe anyway

    def get_random_string(self) -> str:
        if self._prefix:
            return self._prefix
        with self._lock:
            if self._used + 8 > len(self._random):
                self._random, self._used = secrets.token_bytes(self._POOL), 0
            start = self._used
            self._used += 8
            return self._random[start : start + 8].hex()


@dataclass(frozen=True)
class WeChatCrypto:
    token: str
    aes_key: str  # EncodingAESKey, 43 characters
    app_id: str

    @property
    def key(self) -> bytes:
        return base64.b64decode(self.aes_key + "=")

    @cached_property
    def _prp(self) -> _SecretPrpCrypto:
        return _SecretPrpCrypto(self.key)  # the AES key schedule, once

    def decrypt(self, encrypt: str) -> str:
        try:
            return self._prp.decrypt(encrypt, self.app_id)
        except InvalidAppIdException:
            raise ProtocolError(400, "appid inside the ciphertext does not match") from None
        except Exception:
            raise ProtocolError(400, "ciphertext cannot be decrypted") from None

    def encrypt(self, xml: str, prefix: str | None = None) -> str:
        prp = self._prp if prefix is None else _SecretPrpCrypto(self.key, prefix)
        return prp.encrypt(xml, self.app_id).decode()

    def envelope(self, xml: str, nonce: str, timestamp: str, prefix: str | None = None) -> str:
        encrypt = self.encrypt(xml, prefix)
        signature = sha1_signature(self.token, timestamp, nonce, encrypt)
        return (
            "<xml>\n"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>\n"
            f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>\n"
            f"<TimeStamp>{timestamp}</TimeStamp>\n"
            f"<Nonce><![CDATA[{nonce}]]></Nonce>\n"
            "</xml>"
        )


def envelope_encrypt(text: str) -> str:
    """The <Encrypt> of a safe-mode envelope. The envelope is parsed by
    ElementTree's C parser (a tenth of xmltodict's cost); any markup
    declaration (<!DOCTYPE, <!ENTITY) is refused before parsing."""
    root = _read_xml(text)
    if root.tag != "xml":
        raise ProtocolError(400, "body is not a WeChat <xml> message")
    encrypt = root.findtext("Encrypt")
    if not encrypt or len(root.findall("Encrypt")) != 1:
        raise ProtocolError(400, "encrypted push without <Encrypt>")
    return encrypt.strip()


def _read_xml(text: str) -> ET.Element:
    """The root element of a push's XML, by ElementTree's C parser, markup
    declarations refused first."""
    _refuse_declarations(text)
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise ProtocolError(400, f"malformed XML ({type(exc).__name__})") from None


_MARKUP_OPEN = re.compile(r"<[!?]")
# What may hold "<!" or "<?" without declaring anything, and how each ends.
_INERT_MARKUP = (("<![CDATA[", "]]>"), ("<!--", "-->"), ("<?", "?>"))


def _refuse_declarations(text: str) -> None:
    """Refuse a markup declaration (<!DOCTYPE, <!ENTITY): WeChat never sends
    one, and ElementTree would act on it. Outside CDATA sections, comments
    and processing instructions, "<!" can only start one (raw "<" is not
    allowed in text or attribute values). They are skipped in the order a
    reader meets them, so a comment's text that looks like CDATA (or the
    reverse) is taken as what it is; one pass, linear in the body."""
    if text.count("<!") == text.count("<![CDATA["):  # the usual case: every "<!" opens CDATA
        return
    pos = 0
    while (m := _MARKUP_OPEN.search(text, pos)) is not None:
        start = m.start()
        for opener, closer in _INERT_MARKUP:
            if text.startswith(opener, start):
                end = text.find(closer, start + len(opener))
                if end < 0:
                    raise ProtocolError(400, f"malformed XML ({opener} without {closer})")
                pos = end + len(closer)
                break
        else:
            raise ProtocolError(400, "malformed XML (declarations are not accepted)")


@dataclass(frozen=True)
class Opened:
    xml: str
    encrypted: bool


def open_push(query, body: bytes, token: str, crypto: WeChatCrypto | None) -> Opened:
    """Authenticate a POST and return the message XML. ``query`` is the
    request's query mapping."""
    timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(400, "body is not UTF-8") from None
    if query.get("encrypt_type", "raw") == "aes":
        if crypto is None:
            raise ProtocolError(400, "encrypted push but no EncodingAESKey is configured")
        encrypt = envelope_encrypt(text)
        if not signature_ok(sha1_signature(token, timestamp, nonce, encrypt), query.get("msg_signature")):
            raise ProtocolError(403, "msg_signature does not match")
        if "signature" in query and not signature_ok(sha1_signature(token, timestamp, nonce), query["signature"]):
            raise ProtocolError(403, "signature does not match")
        return Opened(crypto.decrypt(encrypt), encrypted=True)
    if not signature_ok(sha1_signature(token, timestamp, nonce), query.get("signature")):
        raise ProtocolError(403, "signature does not match")
    if crypto is not None:
        # In safe mode every genuine push is encrypted. A plain signature does
        # not cover the body, so one captured query string could carry any
        # forged message: refuse plain pushes once an EncodingAESKey is set.
        raise ProtocolError(400, "plain push refused: the account is in safe mode")
    return Opened(text, encrypted=False)


MAX_USER_ID = 128


def parse(xml: str) -> Push:
    """The push, read by ElementTree's C parser into the dict xmltodict would
    give (a third of its cost; namespaces, which WeChat does not use, are
    refused rather than kept as prefixes). A markup declaration (<!DOCTYPE,
    <!ENTITY) is refused: WeChat never sends one."""
    root = _read_xml(xml)
    try:
        data = _xmltodict_value(root) if root.tag == "xml" else None
    except RecursionError:  # WeChat's deepest message nests four levels
        raise ProtocolError(400, "malformed message (nested too deeply)") from None
    if not isinstance(data, dict) or not isinstance(data.get("MsgType"), str) \
            or not isinstance(data.get("FromUserName"), str):
        raise ProtocolError(400, "message without MsgType or FromUserName")
    if not isinstance(data.get("Event", ""), (str, type(None))) or \
            not isinstance(data.get("EventKey", ""), (str, type(None))):
        raise ProtocolError(400, "malformed message (an Event or EventKey that is not text)")
    target = data.get("ToUserName")
    if len(data["FromUserName"]) > MAX_USER_ID or (isinstance(target, str) and len(target) > MAX_USER_ID):
        # An OpenID is 28 characters, an account's id about 15: a longer one
        # is no WeChat push (and would not fit the contact's column).
        raise ProtocolError(400, "FromUserName or ToUserName too long")
    return Push(msg_type=data["MsgType"].lower(), source=data["FromUserName"],
                target=target if isinstance(target, str) else "", event=_event_name(data), fields=data, raw=xml)


def _xmltodict_value(elem):
    """What ``xmltodict.parse`` (default options) makes of an element:
    attributes as "@name", children by tag (a list when repeated), the text
    stripped (as "#text" beside attributes or children), None when empty."""
    value: dict = {"@" + k: v for k, v in elem.attrib.items()}
    text = elem.text or ""
    for child in elem:
        v = _xmltodict_value(child)
        tag = child.tag
        if tag in value:
            old = value[tag]
            if isinstance(old, list):
                old.append(v)
            else:
                value[tag] = [old, v]
        else:
            value[tag] = v
        if child.tail:
            text += child.tail
    text = text.strip()
    if not value:
        return text or None
    if text:
        value["#text"] = text
    return value


def _event_name(message: dict) -> str | None:
    """An event's name as wechatpy's ``parse_message`` gives it, or None for
    a message. A subscribe through a product code or a qrscene_ code is
    renamed (and a qrscene_ EventKey loses its prefix) in ``message`` itself,
    as wechatpy does (WECHAT.md)."""
    if message["MsgType"].lower() != "event":
        return None  # device_* pushes (hardware accounts) are messages of an unknown type here
    event_type = (message.get("Event") or "").lower()
    if event_type == "subscribe" and message.get("EventKey"):
        event_key = message["EventKey"]
        if event_key.startswith(("scanbarcode|", "scanimage|")):
            event_type = message["Event"] = "subscribe_scan_product"
        elif event_key.startswith("qrscene_"):
            event_type = message["Event"] = "subscribe_scan"
            message["EventKey"] = event_key[len("qrscene_") :]
    return event_type


def clip_utf8(text: str, limit: int = MAX_REPLY_BYTES - 1) -> str:
    """Cut ``text`` to fewer than ``limit`` UTF-8 bytes at a character
    boundary, marking the cut with an ellipsis."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    cut = data[: limit - 3].decode("utf-8", errors="ignore")
    return cut + "…"


def cdata_safe(text: str) -> str:
    """Text that can sit inside CDATA: ']]>' split across two sections and
    characters XML forbids removed."""
    return _XML_ILLEGAL.sub("", text).replace("]]>", "]]]]><![CDATA[>")


def render_text(to_user: str, from_user: str, content: str, create_time: int | None = None) -> str:
    content = cdata_safe(clip_utf8(_XML_ILLEGAL.sub("", content)))
    return TextReply(
        source=cdata_safe(from_user), target=cdata_safe(to_user), content=content,
        time=create_time or int(time.time()),
    ).render()
