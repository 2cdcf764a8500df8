"""A WeChat server, as the Official Account platform behaves, written from
shared/spec/WECHAT.md without using the product's code or wechatpy: it signs,
encrypts and posts pushes, and checks and decrypts the replies."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import re
import struct
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def sha1_sorted(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def pkcs7_pad(data: bytes, block: int = 32) -> bytes:
    n = block - len(data) % block
    return data + bytes([n]) * n


def pkcs7_unpad(data: bytes) -> bytes:
    n = data[-1]
    if not 1 <= n <= 32:
        raise ValueError("bad padding")
    return data[:-n]


@dataclass
class WeChatPeer:
    token: str
    aes_key: str
    app_id: str
    account: str = "gh_0a1b2c3d4e5f"

    @property
    def key(self) -> bytes:
        return base64.b64decode(self.aes_key + "=")

    def encrypt(self, xml: str, random16: bytes | None = None, app_id: str | None = None) -> str:
        msg = xml.encode()
        plain = (random16 or os.urandom(16)) + struct.pack(">I", len(msg)) + msg + (app_id or self.app_id).encode()
        enc = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).encryptor()
        return base64.b64encode(enc.update(pkcs7_pad(plain)) + enc.finalize()).decode()

    def decrypt(self, encrypt: str) -> tuple[str, str]:
        dec = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).decryptor()
        plain = pkcs7_unpad(dec.update(base64.b64decode(encrypt)) + dec.finalize())
        (length,) = struct.unpack(">I", plain[16:20])
        return plain[20 : 20 + length].decode(), plain[20 + length :].decode()

    # -- building pushes -----------------------------------------------------

    def text(self, user: str, content: str, msg_id: int | None = None, create_time: int | None = None) -> str:
        return self.message(user, "text", {"Content": content}, msg_id, create_time)

    def message(self, user: str, msg_type: str, fields: dict, msg_id: int | None = None,
                create_time: int | None = None) -> str:
        body = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
        mid = f"<MsgId>{msg_id if msg_id is not None else random.randrange(10**16, 10**17)}</MsgId>"
        return (
            f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
            f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
            f"{body}{mid}</xml>"
        )

    def event(self, user: str, event: str, key: str | None = None, create_time: int | None = None) -> str:
        k = f"<EventKey><![CDATA[{key}]]></EventKey>" if key is not None else ""
        return (
            f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
            f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event>{k}</xml>"
        )

    def push(self, xml: str, mode: str = "safe", *, timestamp: str | None = None, nonce: str | None = None,
             random16: bytes | None = None, app_id: str | None = None) -> tuple[dict, str]:
        """(query parameters, body) for a POST /wechat in plain, compatible or safe mode."""
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or str(random.randrange(10**8, 10**9))
        query = {"signature": sha1_sorted(self.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
                 "openid": "o"}
        if mode == "plain":
            return query, xml
        encrypt = self.encrypt(xml, random16, app_id)
        query.update(encrypt_type="aes", msg_signature=sha1_sorted(self.token, timestamp, nonce, encrypt))
        if mode == "safe":
            body = f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        else:  # compatible: the plain fields plus <Encrypt>
            body = xml.replace("</xml>", f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
        return query, body

    # -- reading replies -------------------------------------------------------

    def open_reply(self, body: str, query: dict) -> dict | None:
        """The reply's fields, after checking the envelope's signature when
        encrypted; None for 'success' / empty."""
        if body in ("", "success"):
            return None
        root = ET.fromstring(body)
        if root.find("Encrypt") is not None:
            encrypt = root.findtext("Encrypt")
            ts, nonce = root.findtext("TimeStamp"), root.findtext("Nonce")
            assert root.findtext("MsgSignature") == sha1_sorted(self.token, ts, nonce, encrypt), "reply signature"
            assert nonce == query["nonce"]
            xml, app_id = self.decrypt(encrypt)
            assert app_id == self.app_id
            root = ET.fromstring(xml)
        return {child.tag: child.text for child in root}


def case_number_in(text: str) -> str | None:
    m = re.search(r"[A-Z]{2}\d{8}-\d{4,}", text or "")
    return m.group(0) if m else None
