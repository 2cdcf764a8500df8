"""Text normalisation shared by the rules, the learned model and training.

Every text (and every cue phrase in the rules file) goes through
``normalize`` so that full-width/half-width forms, traditional characters
and letter case do not split the vocabulary.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

# Longest text we look at. Anything beyond is almost never what decides the
# intent, and it bounds the work done on a 100,000-character message.
MAX_CHARS = 2000

# Common traditional → simplified characters (the ones that occur in
# messages about our topics and in everyday complaint/consultation language).
_TRAD = (
    "車车費费報报鳴鸣問问請请幾几點点開开這这沒没嗎吗亂乱業业發发時时間间們们個个區区號号"
    "說说話话電电網网頁页關关於于與与為为給给讓让還还們们過过來来見见聽听覺觉會会對对從从"
    "樣样麼么甚什麽么後后裡里裏里東东寫写錢钱買买賣卖貴贵價价單单據据處处辦办態态應应該该"
    "實实現现無无爲为畫画檔档權权證证記记録录錄录鐘钟內内兩两萬万無无氣气聲声響响試试驗验"
    "審审批批備备築筑設设計计劃划資资訊讯產产務务員员專专門门戶户線线庫库層层廠厂場场災灾"
    "難难護护險险衛卫廳厅機机構构圖图書书紙纸檢检舉举報报違违規规環环境境讀读學学習习練练"
    "傳传導导規规則则覽览訴诉諮咨詢询幫帮謝谢讚赞誇夸獎奖滿满意意擾扰嚇吓醒醒睡睡鬧闹吵吵"
    "壞坏修修漏漏積积濕湿黴霉牆墙頂顶燈灯閘闸鎖锁鑰钥匙匙區区縣县鄉乡鎮镇樓楼屬属購购標标"
    "採采競竞約约簽签續续租租轉转讓让費费繳缴納纳減减免免補补償偿徵征稅税額额帳账戶户銀银"
    "錯错誤误測测試试複复雜杂親亲戚戚紅红包包賄贿賂赂貪贪汙污腐腐敗败濫滥職职權权監监督督"
    "舊旧區区歲岁婦妇兒儿孫孙媽妈爺爷醫医療疗藥药邊边遠远近近週周歡欢迎迎嗎吗啥啥呢呢哪哪"
    "麼么經经濟济營营運运連连絡络係系統统碼码級级組组織织總总結结驗验收收尋寻找找給给帶带"
    "壓压強强勢势權权盡尽擔担憂忧愛爱嗚呜啟启動动態态緊紧急急協协調调處处負负責责廣广場场"
    "樂乐園园陽阳陰阴雲云電电腦脑視视頻频訊讯號号碼码貼贴將将準准飛飞機机幣币類类範范圍围"
)
_TRAD_MAP = {ord(_TRAD[i]): _TRAD[i + 1] for i in range(0, len(_TRAD) - 1, 2) if _TRAD[i] != _TRAD[i + 1]}

_TRAD_ANY = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_TRAD_MAP)) + "]")  # one of the mapped characters
_SPACES = re.compile(r"\s+")
_HAN = re.compile("[\u4e00-\u9fff]")


def normalize(text: str) -> str:
    """NFKC (full-width → half-width), traditional → simplified for common
    characters, lower case, whitespace collapsed to one space, truncated
    (before and after: NFKC can make one character eighteen)."""
    if not text:
        return ""
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        if _TRAD_ANY.search(text):  # translate() looks up every character: only when needed
            text = text.translate(_TRAD_MAP)
    return _cut(_SPACES.sub(" ", text.lower()).strip())


def _cut(norm: str) -> str:
    return norm if len(norm) <= MAX_CHARS else norm[:MAX_CHARS].rstrip()


def join_texts(texts: list[str]) -> str | None:
    """The texts joined by NUL, the batch paths' one string for many texts;
    None when a text holds a NUL itself (they then go one by one)."""
    joined = "\x00".join(texts)
    return joined if joined.count("\x00") == len(texts) - 1 else None


def code_points(np, text: str):
    """The code points of ``text`` as a uint32 array; None when it cannot be
    encoded (a lone surrogate)."""
    try:
        return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    except UnicodeEncodeError:
        return None


def normalize_many(texts: list[str]) -> list[str]:
    """``[normalize(t) for t in texts]``, with each step done once over the
    texts joined by NUL (NFKC, case and whitespace never act across a NUL:
    it is a starter that composes with nothing, not cased, not space).

    Only the characters that NFKC or the traditional → simplified table
    may change are touched (see ``_changing_spans``): most of a Chinese
    text is left as it is."""
    if not texts:
        return []
    joined = join_texts([t if len(t) <= MAX_CHARS else t[:MAX_CHARS] for t in texts])
    if joined is None:
        return [normalize(t) for t in texts]
    if not joined.isascii():
        spans = _changing_spans(joined)
        if spans is None:
            return [normalize(t) for t in texts]
        if spans:
            pieces, pos, simplified = [], 0, _SIMPLIFIED
            for a, b in spans:
                pieces.append(joined[pos:a])
                pieces.append(simplified[joined[a:b]])
                pos = b
            pieces.append(joined[pos:])
            joined = "".join(pieces)
    joined = _SPACES.sub(" ", joined.lower())
    return [_cut(t.strip()) for t in joined.split("\x00")]


# ---------------------------------------------------------------- NFKC spans
# A character is NFKC-unstable when NFKC may change it or join it to its
# neighbour: its NFKC form differs, it is a combining mark (ccc != 0), or
# it is the second character of a canonical composition (Hangul V and T
# jamo included). Every other character is left alone by NFKC and nothing
# before it reaches across it, so a string's NFKC is the NFKC of each run
# of unstable characters, with the character before the run, in place.
# The traditional characters join the runs (translating them there is the
# same as translating the whole text afterwards).
UNSTABLE_FILE = Path(__file__).with_name("nfkc_unstable.txt")


def unstable_ranges() -> list[tuple[int, int]]:
    """The unstable code points of this Python's Unicode database, as
    inclusive ranges (how ``nfkc_unstable.txt`` is made; about a second)."""
    second = {0x1161 + i for i in range(21)} | {0x11A8 + i for i in range(27)}  # Hangul V, T
    for c in range(0x110000):
        d = unicodedata.decomposition(chr(c))
        if d and not d.startswith("<"):
            parts = d.split()
            if len(parts) == 2:
                second.add(int(parts[1], 16))
    ranges: list[list[int]] = []
    for c in range(0x110000):
        if 0xD800 <= c <= 0xDFFF:
            continue
        ch = chr(c)
        if c in second or unicodedata.combining(ch) or unicodedata.normalize("NFKC", ch) != ch:
            if ranges and ranges[-1][1] == c - 1:
                ranges[-1][1] = c
            else:
                ranges.append([c, c])
    return [(a, b) for a, b in ranges]


def write_unstable_file(path: Path = UNSTABLE_FILE) -> None:
    lines = [f"# NFKC-unstable code points (nlp/textnorm.py), unicodedata {unicodedata.unidata_version}",
             f"unidata {unicodedata.unidata_version}"]
    lines += [f"{a:X}-{b:X}" for a, b in unstable_ranges()]
    path.write_text("\n".join(lines) + "\n", encoding="ascii")


def read_unstable_file(path: Path = UNSTABLE_FILE) -> tuple[str, list[tuple[int, int]]]:
    version, ranges = "", []
    for line in path.read_text(encoding="ascii").splitlines():
        if line.startswith("unidata "):
            version = line.split()[1]
        elif line and not line.startswith("#"):
            a, b = line.split("-")
            ranges.append((int(a, 16), int(b, 16)))
    return version, ranges


_MARKS: list = []


def _changing_spans(joined: str) -> list[tuple[int, int]] | None:
    """The (start, end) of each run of characters that NFKC or the
    traditional table may change, with the character before the run (not a
    NUL); None without numpy or a valid encoding (a lone surrogate). The
    unstable code points come from ``nfkc_unstable.txt`` when it was made
    from this Python's Unicode version, else they are worked out here."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy comes with scikit-learn
        return None
    if not _MARKS:
        try:
            version, ranges = read_unstable_file()
        except (OSError, ValueError):
            version, ranges = "", []
        if version != unicodedata.unidata_version or not ranges:
            ranges = unstable_ranges()  # another Python's Unicode: about a second, once
        marks = None
        if ranges:
            marks = np.zeros(0x110000, dtype=bool)
            for a, b in ranges:
                marks[a : b + 1] = True
            marks[list(_TRAD_MAP)] = True
        _MARKS.append(marks)
    marks = _MARKS[0]
    if marks is None:
        return None
    codes = code_points(np, joined)
    if codes is None:
        return None
    at = np.flatnonzero(marks[codes])
    if not len(at):
        return []
    cut = np.flatnonzero(at[1:] != at[:-1] + 1)
    starts = at[np.concatenate(([0], cut + 1))]
    ends = at[np.concatenate((cut, [len(at) - 1]))] + 1
    starts -= (starts > 0) & (codes[starts - 1] != 0)  # the character before the run
    return list(zip(starts.tolist(), ends.tolist()))


# Texts up to this length are remembered by what computes from them (the
# classification, the knowledge-base features, the search tokens): short
# ones recur; a long letter is rarely sent twice.
CACHE_TEXT_MAX = 512


class Memo(dict):
    """``fn`` of a string, remembered: ``memo[s]``. At most 65,536 strings
    are kept, and none longer than ``longest`` when it is given."""

    def __init__(self, fn, longest: int | None = None):
        super().__init__()
        self.fn = fn
        self.longest = longest

    def __missing__(self, s):
        v = self.fn(s)
        if len(self) < 65536 and (self.longest is None or len(s) <= self.longest):
            self[s] = v
        return v


# the same few spans recur (吗？); a long one (a whole full-width text) is not kept
_SIMPLIFIED = Memo(lambda s: unicodedata.normalize("NFKC", s).translate(_TRAD_MAP), longest=16)


def is_contentless(norm: str) -> bool:
    """True when the text has no letter, digit or CJK character at all
    (empty, only emoji, only punctuation)."""
    for ch in norm:
        if ch.isalnum():
            return False
    return True


_LATIN_WORD = re.compile(r"[a-z]{2,}")


def substance(norm: str) -> int:
    """How much a normalised text says: its Han characters plus its Latin
    words of two letters or more, so that a sentence in pinyin or English
    ("qing wen renfang chewei", "please send me the list") counts as much as
    one in characters, and "hello!!!" or "ok" as little as "在吗"."""
    return len(_HAN.findall(norm)) + len(_LATIN_WORD.findall(norm))
