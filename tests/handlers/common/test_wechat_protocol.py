"""parse() reads a push as wechatpy's own parse_message does (same
sender, account, event name, same data), with ElementTree instead of
xmltodict; compared through wechatpy's and xmltodict's public APIs."""

import pytest
import xmltodict
from wechatpy import parse_message

from handlers.common.wechat_protocol import ProtocolError, envelope_encrypt, parse

HEAD = "<ToUserName><![CDATA[gh_office]]></ToUserName><FromUserName><![CDATA[oFan]]></FromUserName><CreateTime>1764000000</CreateTime>"


def msg(body: str) -> str:
    return f"<xml>{HEAD}{body}</xml>"


CORPUS = [
    msg("<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[请问人防车位可以买卖吗？]]></Content><MsgId>1234567890123456</MsgId>"),
    msg("<MsgType>text</MsgType><Content>  前后有空格 \n </Content><MsgId>1</MsgId>"),
    msg("<MsgType>text</MsgType><Content><![CDATA[a]]]]><![CDATA[>b &lt;c&gt;]]></Content><MsgId>2</MsgId>"),
    msg("<MsgType>text</MsgType><Content>&lt;b&gt; &amp; &#x4e2d;&#25991;</Content><MsgId>3</MsgId>"),
    msg("<MsgType>text</MsgType><Content></Content><MsgId>4</MsgId>"),
    msg("<MsgType>text</MsgType><Content/><MsgId>5</MsgId>"),
    msg("<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://x/y.jpg]]></PicUrl><MediaId><![CDATA[m]]></MediaId><MsgId>6</MsgId>"),
    msg("<MsgType>voice</MsgType><MediaId>m</MediaId><Format>amr</Format><Recognition><![CDATA[防空警报几点响]]></Recognition><MsgId>7</MsgId>"),
    msg("<MsgType>video</MsgType><MediaId>m</MediaId><ThumbMediaId>t</ThumbMediaId><MsgId>8</MsgId>"),
    msg("<MsgType>shortvideo</MsgType><MediaId>m</MediaId><ThumbMediaId>t</ThumbMediaId><MsgId>9</MsgId>"),
    msg("<MsgType>location</MsgType><Location_X>23.1</Location_X><Location_Y>113.3</Location_Y><Scale>20</Scale><Label><![CDATA[位置]]></Label><MsgId>10</MsgId>"),
    msg("<MsgType>link</MsgType><Title>t</Title><Description>d</Description><Url>http://u</Url><MsgId>11</MsgId>"),
    msg("<MsgType>miniprogrampage</MsgType><Title>t</Title><MsgId>12</MsgId>"),
    msg("<MsgType>brand_new_type</MsgType><Whatever a=\"1\">x</Whatever><MsgId>13</MsgId>"),
    msg("<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>"),
    msg("<MsgType>event</MsgType><Event>subscribe</Event><EventKey><![CDATA[qrscene_123]]></EventKey><Ticket>t</Ticket>"),
    msg("<MsgType>event</MsgType><Event>subscribe</Event><EventKey><![CDATA[scanbarcode|x]]></EventKey>"),
    msg("<MsgType>event</MsgType><Event>subscribe</Event><EventKey></EventKey>"),
    msg("<MsgType>event</MsgType><Event>unsubscribe</Event>"),
    msg("<MsgType>event</MsgType><Event>SCAN</Event><EventKey>123</EventKey><Ticket>t</Ticket>"),
    msg("<MsgType>event</MsgType><Event>LOCATION</Event><Latitude>23.1</Latitude><Longitude>113.3</Longitude><Precision>119</Precision>"),
    msg("<MsgType>event</MsgType><Event>CLICK</Event><EventKey>EVENTKEY</EventKey>"),
    msg("<MsgType>event</MsgType><Event>VIEW</Event><EventKey>http://www.qq.com/</EventKey><MenuId>1</MenuId>"),
    msg("<MsgType>event</MsgType><Event>scancode_push</Event><EventKey>6</EventKey>"
        "<ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult>1</ScanResult></ScanCodeInfo>"),
    msg("<MsgType>event</MsgType><Event>pic_sysphoto</Event><EventKey>6</EventKey><SendPicsInfo><Count>2</Count>"
        "<PicList><item><PicMd5Sum>a</PicMd5Sum></item><item><PicMd5Sum>b</PicMd5Sum></item></PicList></SendPicsInfo>"),
    msg("<MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event><MsgID>200163836</MsgID><Status>success</Status>"),
    msg("<MsgType>event</MsgType><Event>an_event_from_next_year</Event>"),
    msg("<MsgType>event</MsgType>"),
    msg("<MsgType>device_text</MsgType><DeviceType>t</DeviceType><DeviceID>d</DeviceID><Content>c</Content>"),
    msg("<MsgType>device_event</MsgType><Event>bind</Event><DeviceType>t</DeviceType>"),
    msg("<MsgType>text</MsgType><Content lang=\"zh\">带属性</Content><MsgId>14</MsgId>"),
    msg("<MsgType>text</MsgType><Content>混合<b>粗</b>内容<i/>尾</Content><MsgId>15</MsgId>"),
    msg("<MsgType>text</MsgType><Content>一</Content><Content>二</Content><Content>三</Content><MsgId>16</MsgId>"),
    '<?xml version="1.0" encoding="utf-8"?>\n<xml>\n  ' + HEAD + "\n  <MsgType>text</MsgType>\n  <Content>有声明头</Content>\n</xml>\n",
    msg("<MsgType>text</MsgType><!-- a comment --><Content>注释</Content><MsgId>17</MsgId>"),
]


def as_wechatpy_reads(xml: str) -> dict:
    """The message as xmltodict (wechatpy's parser) reads it, with the two
    renamings wechatpy makes of a subscribe through a code (WECHAT.md)."""
    data = xmltodict.parse(xml)["xml"]
    if str(data.get("MsgType")).lower() == "event" and str(data.get("Event")).lower() == "subscribe" \
            and data.get("EventKey"):
        key = data["EventKey"]
        if key.startswith(("scanbarcode|", "scanimage|")):
            data["Event"] = "subscribe_scan_product"
        elif key.startswith("qrscene_"):
            data["Event"], data["EventKey"] = "subscribe_scan", key[len("qrscene_"):]
    return data


@pytest.mark.parametrize("xml", CORPUS)
def test_parse_reads_a_message_as_wechatpy_does(xml):
    ours, theirs = parse(xml), parse_message(xml)
    assert ours.fields == as_wechatpy_reads(xml)
    assert (ours.source, ours.target) == (theirs.source, theirs.target)
    if ours.msg_type == "event":
        # an event wechatpy has no class for keeps the name WeChat sent
        read = as_wechatpy_reads(xml)
        assert ours.event == (getattr(theirs, "event", None) or str(read.get("Event") or "").lower())
        if ours.event == "subscribe_scan":
            assert ours.event_key == theirs.scene_id
    elif theirs.type != "unknown" and not ours.msg_type.startswith("device_"):
        # (device_* pushes belong to hardware accounts: a message type we don't know, here)
        assert ours.msg_type == theirs.type


@pytest.mark.parametrize("xml", [
    "", "not xml", "<xml><MsgType>text</MsgType>", "<root>" + HEAD + "<MsgType>text</MsgType></root>",
    "<xml><ToUserName>a</ToUserName><MsgType>text</MsgType></xml>",  # no FromUserName
    "<xml><FromUserName>a</FromUserName></xml>",  # no MsgType
    "<xml><FromUserName>a</FromUserName><MsgType><a>b</a></MsgType></xml>",
    msg("<MsgType>event</MsgType><Event><a>b</a></Event>"),
    '<!DOCTYPE xml [<!ENTITY e "x">]>' + msg("<MsgType>text</MsgType><Content>&e;</Content>"),
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + msg("<MsgType>text</MsgType><Content>&x;</Content>"),
    msg("<MsgType>text</MsgType><Content>&undefined;</Content>"),
])
def test_parse_refuses_what_is_not_a_message(xml):
    with pytest.raises(ProtocolError) as err:
        parse(xml)
    assert err.value.status == 400


def test_markup_inside_cdata_is_text():
    m = parse(msg("<MsgType>text</MsgType><Content><![CDATA[<!DOCTYPE 不是攻击> <!-- 请问 --> 人防车位]]></Content><MsgId>1</MsgId>"))
    assert m.content == "<!DOCTYPE 不是攻击> <!-- 请问 --> 人防车位"


DTD = '<!DOCTYPE xml [<!ENTITY a "INJECTED">]>'


@pytest.mark.parametrize("xml", [
    DTD + msg("<MsgType>text</MsgType><Content>&a;</Content><MsgId>1</MsgId>"),
    # a declaration hidden between look-alikes of CDATA inside a processing instruction or a comment
    "<?p <![CDATA[ ?>" + DTD + "<?p ]]> ?>" + msg("<MsgType>text</MsgType><Content>&a;</Content><MsgId>1</MsgId>"),
    "<!-- <![CDATA[ -->" + DTD + "<!-- ]]> -->" + msg("<MsgType>text</MsgType><Content>&a;</Content><MsgId>1</MsgId>"),
    "<![CDATA[" + DTD,
    msg("<MsgType>text</MsgType><Content><![CDATA[<!DOCTYPE a>]]></Content><MsgId>1</MsgId>") + '<!ENTITY e "x">',
])
def test_a_declaration_is_refused_wherever_it_hides(xml):
    refused = r"declarations are not accepted|<!\[CDATA\[ without"  # by the guard, not by the parser
    with pytest.raises(ProtocolError, match=refused):
        parse(xml)
    with pytest.raises(ProtocolError, match=refused):
        envelope_encrypt(xml.replace("<MsgType>", "<Encrypt>x</Encrypt><MsgType>"))


def test_comments_and_instructions_holding_cdata_look_alikes_are_text():
    m = parse("<?p <![CDATA[ ?><!-- ]]> <!x -->" + msg("<MsgType>text</MsgType><Content>正常</Content><MsgId>1</MsgId>"))
    assert m.content == "正常"


def test_a_deeply_nested_message_is_refused_not_a_crash():
    deep = "<a>" * 3000 + "x" + "</a>" * 3000
    with pytest.raises(ProtocolError) as err:
        parse(msg(f"<MsgType>text</MsgType><Content>{deep}</Content><MsgId>1</MsgId>"))
    assert err.value.status == 400


def test_reply_prefixes_are_random_and_never_reused():
    # the 16-character prefix of each encrypted reply, read back with AES directly
    import base64

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from handlers.common.wechat_protocol import WeChatCrypto
    from tests.conftest import WECHAT

    crypto = WeChatCrypto(WECHAT["token"], WECHAT["aes_key"], WECHAT["app_id"])
    key = base64.b64decode(WECHAT["aes_key"] + "=")
    prefixes = []
    for i in range(1500):  # past several refills of the random pool
        raw = base64.b64decode(crypto.encrypt(f"<xml>{i}</xml>"))
        plain = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor().update(raw)
        prefixes.append(plain[:16].decode("ascii"))
    assert all(len(p) == 16 and all(c in "0123456789abcdef" for c in p) for p in prefixes)
    assert len(set(prefixes)) == len(prefixes)
    assert len({c for p in prefixes for c in p}) == 16


def test_the_declaration_guard_is_linear_in_the_body():
    import time

    # 200,000 characters of unterminated openers: a scan that went back to
    # each one (a lazy regex) would take minutes; one pass takes milliseconds
    for opener in ("<!--", "<?", "<![CDATA["):
        body = opener + "<!-- <? " * 25000
        started = time.process_time()
        with pytest.raises(ProtocolError):
            parse(body)
        assert time.process_time() - started < 2.0
