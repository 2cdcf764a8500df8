"""The four crypto vectors in shared/spec/wechat_vectors.json, against the
product's protocol module."""

import json
from urllib.parse import parse_qsl

import pytest

from handlers.common.wechat_protocol import WeChatCrypto, open_push, parse, sha1_signature
from tests.conftest import DATA

VECTORS_FILE = DATA / "wechat_vectors.json"  # shared/spec/wechat_vectors.json, vendored


def vectors():
    return json.loads(VECTORS_FILE.read_text())["vectors"] if VECTORS_FILE.exists() else []


@pytest.mark.parametrize("vector", vectors(), ids=lambda v: v["name"])
def test_decrypts_every_vector(vector):
    i, o = vector["inputs"], vector["outputs"]
    crypto = WeChatCrypto(i["token"], i["encoding_aes_key"], i["appid"])
    assert sha1_signature(i["token"], i["timestamp"], i["nonce"], o["encrypt"]) == o["msg_signature"]
    assert crypto.decrypt(o["encrypt"]) == i["plaintext_xml"]


@pytest.mark.parametrize("vector", [v for v in vectors() if v["inputs"].get("random16")], ids=lambda v: v["name"])
def test_reencrypts_byte_identical_with_the_same_prefix(vector):
    i, o = vector["inputs"], vector["outputs"]
    crypto = WeChatCrypto(i["token"], i["encoding_aes_key"], i["appid"])
    assert crypto.encrypt(i["plaintext_xml"], prefix=i["random16"]) == o["encrypt"]
    envelope = crypto.envelope(i["plaintext_xml"], i["nonce"], i["timestamp"], prefix=i["random16"])
    assert envelope == o["reply_envelope_xml"]
    assert sha1_signature(i["token"], i["timestamp"], i["nonce"]) == o["url_signature"]


@pytest.mark.parametrize("vector", [v for v in vectors() if "inbound_query" in v["outputs"]], ids=lambda v: v["name"])
def test_inbound_push_opens(vector):
    i, o = vector["inputs"], vector["outputs"]
    crypto = WeChatCrypto(i["token"], i["encoding_aes_key"], i["appid"])
    query = dict(parse_qsl(o["inbound_query"]))
    opened = open_push(query, o["inbound_post_body"].encode(), i["token"], crypto)
    assert opened.encrypted and opened.xml == i["plaintext_xml"]


def test_tencent_sample_compatible_mode_body():
    v0 = vectors()[0]
    i, o = v0["inputs"], v0["outputs"]
    crypto = WeChatCrypto(i["token"], i["encoding_aes_key"], i["appid"])
    query = {"timestamp": i["timestamp"], "nonce": i["nonce"], "encrypt_type": "aes", "msg_signature": o["msg_signature"]}
    opened = open_push(query, o["inbound_post_body"].encode(), i["token"], crypto)
    assert parse(opened.xml).content == "abcdteT"


def test_wrong_appid_in_ciphertext_is_refused():
    v1 = vectors()[1]
    i = v1["inputs"]
    other = WeChatCrypto(i["token"], i["encoding_aes_key"], "wx0000000000000000")
    with pytest.raises(Exception) as err:
        other.decrypt(v1["outputs"]["encrypt"])
    assert "appid" in str(err.value)
