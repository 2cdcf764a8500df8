"""Simple bar charts as PNG for the report draft, drawn with Pillow (no
plotting stack to install). Chinese labels need a CJK font: the Debian
package fonts-noto-cjk (or fonts-wqy-microhei), or INTAKE_CJK_FONT naming
any .ttf/.otf/.ttc file. Without one the bars are labelled 1, 2, 3…, the
caller prints the legend as text, and a warning says what to install."""

from __future__ import annotations

import io
import logging
import os
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_CANDIDATES: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # face 2 = Noto Sans CJK SC
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
)
MISSING_FONT = ("图表没有中文字体：条形改标序号 1、2、3…，图例写在图下的文字里。"
                "请安装中文字体：apt-get install fonts-noto-cjk（或用 INTAKE_CJK_FONT 指定一个 .ttf/.otf/.ttc 字体文件）")
BAR = (46, 104, 168)
GRID = (220, 220, 220)
INK = (40, 40, 40)


log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def cjk_font_path() -> tuple[str, int] | None:
    """The first CJK font that opens (INTAKE_CJK_FONT first); looked up once
    a process, with a warning naming the package when there is none."""
    own = os.environ.get("INTAKE_CJK_FONT")
    if own and not Path(own).is_file():
        log.warning("INTAKE_CJK_FONT=%s 不是字体文件，改用系统中的中文字体", own)
    for path, index in ([(own, 0)] if own else []) + list(FONT_CANDIDATES):
        if not Path(path).is_file():
            continue
        try:
            ImageFont.truetype(path, 12, index=index)
        except OSError as exc:
            log.warning("字体文件 %s 打不开（%s），跳过", path, exc)
            continue
        return path, index
    log.warning(MISSING_FONT)
    return None


def _font(size: int):
    found = cjk_font_path()
    if found:
        return ImageFont.truetype(found[0], size, index=found[1]), True
    return ImageFont.load_default(size), False


def bar_chart(title: str, items: list[tuple[str, int]], *, width: int = 1200) -> tuple[bytes, bool]:
    """A horizontal bar chart; returns (PNG bytes, whether labels are in Chinese)."""
    font, cjk = _font(26)
    small, _ = _font(22)
    row_h, top, left, right = 56, 90, 330, 140
    height = top + row_h * max(len(items), 1) + 40
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.text((30, 24), title if cjk else "", font=font, fill=INK)
    peak = max((n for _, n in items), default=0) or 1
    span = width - left - right
    for i in range(5):
        x = left + span * i // 4
        draw.line([(x, top - 10), (x, height - 30)], fill=GRID, width=1)
    for i, (label, n) in enumerate(items):
        y = top + i * row_h
        shown = label if cjk else str(i + 1)
        tw = draw.textlength(shown, font=small)
        draw.text((left - 16 - tw, y + 12), shown, font=small, fill=INK)
        w = int(span * n / peak)
        if w:
            draw.rectangle([left, y + 8, left + w, y + row_h - 8], fill=BAR)
        draw.text((left + w + 10, y + 12), str(n), font=small, fill=INK)
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    return out.getvalue(), cjk
