"""Importing historical interactions from a spreadsheet (CSV or XLSX), in
bounded memory (``intake import FILE --channel CHANNEL``).

Two layouts are recognised by their headers: a 12345 platform export
(工单编号, 来电时间, 诉求类型, 标题, 诉求内容, 来电人, 联系电话, 办理时限) and
our own case export (受理编号/number, 收到时间/received_at, 内容/text, …).
Rows stream from the file in chunks through the one recording path every
channel uses (bot/services/intake.py), so an order pushed to /hotline/orders and the
same 工单编号 in a file are one case, and importing twice changes nothing.
Rejected rows go to an error file with their line numbers and reasons.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bot.domain import hotline
from bot.domain.actors import CLI, Actor
from bot.domain.cases import InboundMessage
from bot.domain.vocabulary import CHANNELS, KIND_BY_LABEL, KINDS, STATUS_LABELS, STATUSES, TOPICS, Channel, Status

from . import intake
from .hotline import inbound_of
from .runtime import Runtime

CHUNK = 500

# Our field → the header names that carry it, per layout.
HOTLINE_LAYOUT: dict[str, tuple[str, ...]] = {
    "order_id": ("工单编号",), "received_at": ("来电时间",), "request_type": ("诉求类型",), "title": ("标题",),
    "content": ("诉求内容",), "caller_name": ("来电人",), "caller_phone": ("联系电话",), "deadline": ("办理时限",),
    "closed_at": ("办结时间",),
}
HOTLINE_REQUIRED = ("order_id", "received_at", "content")
OWN_LAYOUT: dict[str, tuple[str, ...]] = {
    "external_id": ("外部编号", "external_id"), "number": ("受理编号", "number"),
    "received_at": ("收到时间", "received_at"), "kind": ("类型", "kind"), "topic": ("主题", "topic"),
    "status": ("状态", "status"), "title": ("标题", "title"), "content": ("内容", "text"),
    "caller_name": ("姓名", "contact_name", "name"), "caller_phone": ("电话", "contact_phone", "phone"),
    "deadline": ("办理期限", "deadline"), "closed_at": ("办结时间", "closed_at"),
}
OWN_REQUIRED = ("received_at", "content")
_STATUS_BY_LABEL = {label: key for key, label in STATUS_LABELS.items()}


class ImportRefused(Exception):
    """The file cannot be imported (any further). ``partial`` is None when
    nothing was written, else what was imported before the file broke off."""

    def __init__(self, message: str, partial: "ImportSummary | None" = None):
        super().__init__(message)
        self.partial = partial


@dataclass
class ImportSummary:
    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    error_file: Path | None = None
    seconds: float = 0.0
    layout: str = ""

    def text(self) -> str:
        line = (f"导入完成：共 {self.rows} 行，新增 {self.imported}，重复 {self.duplicates}，"
                f"拒绝 {self.rejected}")
        if self.rejected and self.error_file:
            line += f"（被拒绝的行及原因见 {self.error_file}）"
        return line


# ---- reading rows -------------------------------------------------------------

def _csv_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) or, as Excel in China writes it, GB18030."""
    with path.open("rb") as fh:
        head = fh.read(1 << 16)
    text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(head, final=False)
    # A GBK file read as UTF-8 is mostly U+FFFD; a UTF-8 file with a stray
    # pasted GBK row has a few (that row is rejected later, not the file).
    if text.count("\ufffd") > max(16, len(text) // 50):
        return "gb18030"
    return "utf-8-sig"


HEADER_SCAN = 10  # exports often put a title or notes above the header row
_KNOWN_HEADERS = frozenset(h for layout in (HOTLINE_LAYOUT, OWN_LAYOUT) for heads in layout.values() for h in heads)


def read_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, list]], int | None]:
    """(header, iterator of (line number, values) after it, data rows if known).
    The header is the first of the top rows that names a known column."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        lines, total = _xlsx_lines(path)
    elif suffix in (".csv", ".txt", ".tsv"):
        lines, total = _csv_lines(path), _count_lines(path)
    else:
        raise ImportRefused(f"不支持的文件类型 {path.suffix or '(无扩展名)'}：请使用 CSV 或 XLSX")
    top: list[tuple[int, list]] = []
    header_at = None
    for line, values in lines:
        top.append((line, values))
        if any(str(v).strip().lstrip("\ufeff") in _KNOWN_HEADERS for v in values if v is not None):
            header_at = len(top) - 1
            break
        if len(top) >= HEADER_SCAN:
            break
    if not top:
        lines.close()
        raise ImportRefused("文件是空的：没有表头行")
    header_at = header_at or 0
    header_line, header = top[header_at]

    def rows():
        try:
            yield from top[header_at + 1:]
            yield from lines
        finally:
            lines.close()

    if total is not None:
        total -= header_line
    return ["" if h is None else str(h) for h in header], rows(), total


def _count_lines(path: Path) -> int:
    """Physical lines, for the progress bar's total (a quoted field spanning
    lines makes it a slight overestimate). Reads bytes: ~1 GB/s."""
    count, last = 0, b"\n"
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def _csv_lines(path: Path):
    # Undecodable bytes become U+FFFD and that row is rejected, rather than
    # one bad byte stopping the whole import half-way.
    with path.open("r", encoding=_csv_encoding(path), errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        start = 1
        try:
            for values in reader:
                yield start, values
                start = reader.line_num + 1
        except csv.Error as exc:
            raise ImportRefused(f"CSV 第 {start} 行格式错误：{exc}") from None


def _xlsx_lines(path: Path):
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise ImportRefused(f"无法读取 XLSX：{type(exc).__name__}: {exc}") from None
    ws = wb.worksheets[0]
    total = ws.max_row if ws.max_row else None

    def lines():
        try:
            for line, values in enumerate(ws.iter_rows(values_only=True), start=1):
                yield line, list(values)
        finally:
            wb.close()

    return lines(), total


# ---- layouts ------------------------------------------------------------------

def map_columns(header: list[str]) -> tuple[str, dict[str, int]]:
    """Which layout the header is, and where each field is; ImportRefused
    naming the missing columns when a required one is absent."""
    names = [h.strip().lstrip("\ufeff") for h in header]
    position = {name: i for i, name in reversed(list(enumerate(names))) if name}
    is_hotline = any(h in position for h in ("工单编号", "来电时间", "诉求类型", "诉求内容", "来电人", "联系电话", "办理时限"))
    layout, required = (HOTLINE_LAYOUT, HOTLINE_REQUIRED) if is_hotline else (OWN_LAYOUT, OWN_REQUIRED)
    found = {f: next((position[h] for h in heads if h in position), None) for f, heads in layout.items()}
    missing = [layout[f][0] for f in required if found[f] is None]
    if layout is OWN_LAYOUT and found["external_id"] is None and found["number"] is None:
        missing.insert(0, "外部编号 或 受理编号")
    if missing:
        what = "12345 导出文件" if is_hotline else "本系统导出文件"
        raise ImportRefused(f"缺少必需的列：{'、'.join(missing)}（按{what}的格式识别；现有列：{'、'.join(n for n in names if n) or '无'}）")
    return ("hotline" if is_hotline else "own"), {f: i for f, i in found.items() if i is not None}


class RowError(ValueError):
    pass


def _cell(values: list, cols: dict[str, int], name: str):
    i = cols.get(name)
    if i is None or i >= len(values):
        return None
    v = values[i]
    return v.strip() or None if isinstance(v, str) else v


def row_to_inbound(values: list, cols: dict[str, int], layout: str, channel: str, rt: Runtime, now: datetime, *,
                   default_status: str | None, actor: Actor) -> InboundMessage:
    """One row → the InboundMessage of a piece of history; RowError."""
    tz = rt.settings.tz
    if all(v in (None, "") for v in values):
        raise RowError("空行")
    if any(isinstance(v, str) and "\ufffd" in v for v in values):
        raise RowError("含有无法识别的字符（文件编码不一致），请另存为 UTF-8 后重新导入此行")
    kind = topic = status = None
    if layout == "hotline":
        order_id = _cell(values, cols, "order_id")
        names = {"order_id": "工单编号", "received_at": "来电时间", "content": "诉求内容", "request_type": "诉求类型",
                 "title": "标题", "caller_name": "来电人", "caller_phone": "联系电话", "deadline": "办理时限"}
    else:
        order_id = _cell(values, cols, "external_id") or _cell(values, cols, "number")
        names = {"order_id": "外部编号", "received_at": "收到时间", "content": "内容", "title": "标题",
                 "caller_name": "姓名", "caller_phone": "电话", "deadline": "办理期限"}
        kind = _cell(values, cols, "kind")
        if kind is not None:
            kind = KIND_BY_LABEL.get(str(kind), str(kind))
            if kind not in KINDS:
                raise RowError(f"未知的类型 {_cell(values, cols, 'kind')!r}")
        topic = _cell(values, cols, "topic")
        if topic is not None and topic not in TOPICS:
            topic = None  # a label or an old topic: the classifier decides
        status = _cell(values, cols, "status")
        if status is not None:
            status = _STATUS_BY_LABEL.get(str(status), str(status))
            if status not in STATUSES:
                raise RowError(f"未知的状态 {_cell(values, cols, 'status')!r}")
    phone = _cell(values, cols, "caller_phone")
    if isinstance(phone, str) and "*" in phone:
        phone = None  # a masked number from an export is no number
    try:
        order = hotline.make_order(
            order_id=order_id, received_at=_cell(values, cols, "received_at"), content=_cell(values, cols, "content"),
            request_type=_cell(values, cols, "request_type"), title=_cell(values, cols, "title"),
            caller_name=_cell(values, cols, "caller_name"), caller_phone=phone,
            deadline=_cell(values, cols, "deadline"), tz=tz, now=now, names=names,
        )
        closed_raw = _cell(values, cols, "closed_at")
        closed_at = hotline.parse_time(closed_raw, tz) if closed_raw is not None else None
    except hotline.OrderError as exc:
        raise RowError(str(exc)) from None
    except hotline.InvalidTime as exc:
        raise RowError(f"办结时间 {exc}") from None
    raw = {h: v for h, v in zip(cols, (values[i] if i < len(values) else None for i in cols.values()))}
    # An imported 12345 order was signed for when it was handled, before us.
    item = inbound_of(rt, order, channel=channel, raw=raw, kind=kind, topic=topic,
                      accepted_at=order.received_at if channel == Channel.HOTLINE else None)
    item.imported_by = actor.label
    # History keeps its own state: closed, unless the file or --open says otherwise.
    item.initial_status = status or default_status
    item.settled_at = closed_at
    return item


# ---- the import -------------------------------------------------------------------

async def import_file(
    rt: Runtime, path: Path, channel: str, *, errors_path: Path | None = None, keep_open: bool = False,
    chunk_size: int = CHUNK, progress: bool | None = None, actor: Actor = CLI,
) -> ImportSummary:
    """Import ``path``; history is closed on import unless ``keep_open`` or
    the file says otherwise (a status column)."""
    if channel not in CHANNELS:
        raise ImportRefused(f"未知的渠道 {channel!r}，应为 {'、'.join(CHANNELS)} 之一")
    path = Path(path)
    if not path.is_file():
        raise ImportRefused(f"找不到文件 {path}")
    started = asyncio.get_running_loop().time()
    header, rows, total = read_rows(path)
    try:
        layout, cols = map_columns(header)
    except ImportRefused:
        rows.close()
        raise
    await rt.calendar.refresh(force=True)
    summary = ImportSummary(layout=layout)
    errors = _ErrorFile(errors_path or _default_errors_path(path))
    bar = _progress(total, progress)
    now = datetime.now(timezone.utc)
    default_status = None if keep_open else Status.CLOSED
    batch: list[InboundMessage] = []
    try:
        for line, values in rows:
            summary.rows += 1
            try:
                batch.append(row_to_inbound(values, cols, layout, channel, rt, now, default_status=default_status,
                                            actor=actor))
            except RowError as exc:
                if str(exc) == "空行":
                    summary.rows -= 1
                    continue
                oid = _cell(values, cols, "order_id" if layout == "hotline" else "external_id") or (
                    _cell(values, cols, "number") if layout == "own" else None)
                errors.write(line, oid, str(exc))
                summary.rejected += 1
            if len(batch) >= chunk_size:
                await _flush(rt, batch, summary)
                bar.update(len(batch))
                batch = []
        if batch:
            await _flush(rt, batch, summary)
            bar.update(len(batch))
    except ImportRefused as exc:  # the file broke off part-way (a CSV syntax error)
        if batch:
            await _flush(rt, batch, summary)
        raise ImportRefused(str(exc), partial=summary) from None
    finally:
        bar.close()
        errors.close()
    summary.error_file = errors.path if errors.used else None
    summary.seconds = asyncio.get_running_loop().time() - started
    return summary


async def _flush(rt: Runtime, batch: list[InboundMessage], summary: ImportSummary) -> None:
    for result in await intake.record(rt, batch):
        if result.duplicate:
            summary.duplicates += 1
        else:
            summary.imported += 1


def _default_errors_path(path: Path) -> Path:
    """FILE.errors.csv beside the file, or in the working directory when
    the file's folder is read-only (e.g. a mounted export)."""
    beside = path.with_name(path.name + ".errors.csv")
    return beside if os.access(path.parent, os.W_OK) else Path.cwd() / beside.name


class _ErrorFile:
    """Rejected rows, opened on the first one (UTF-8 with BOM: Excel opens it)."""

    def __init__(self, path: Path):
        self.path = path
        self.used = False
        self._fh = None
        self._writer = None

    def write(self, line: int, order_id, reason: str) -> None:
        if self._writer is None:
            self._fh = self.path.open("w", encoding="utf-8-sig", newline="")
            self._writer = csv.writer(self._fh)
            self._writer.writerow(["行号", "编号", "原因"])
            self.used = True
        self._writer.writerow([line, "" if order_id is None else order_id, reason])

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int | None, enabled: bool | None):
    """A progress bar on a terminal only (never in logs or pipes)."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="行", desc="导入", file=sys.stderr, dynamic_ncols=True)
