"""``intake import``: 12345 exports and our own exports, CSV and XLSX, on
SQLite and PostgreSQL; idempotent on the external id (across push and
import); a file with missing columns changes nothing; rejected rows are
listed with their line numbers."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tracemalloc
from datetime import datetime
from pathlib import Path

import pytest
import pytest_asyncio
from openpyxl import Workbook
from sqlalchemy import func, select

from bot.services.imports import ImportRefused, import_file
from bot.app import build_runtime
from storage.models import AuditEntry, Case, Contact
from tests.conftest import REPO, make_settings
from tests.hotline_platform import serve_app, signed

HEADER = ["工单编号", "来电时间", "诉求类型", "标题", "诉求内容", "来电人", "联系电话", "办理时限"]
ROWS = [
    ["RX-1", "2020-03-15 09:21", "咨询", "车位产权", "咨询人防车位能否出售", "张先生", "13800001234", "2020-03-20 18:00"],
    ["RX-2", "2020/3/16 9:05", "", "", "举报某工地施工时拆除了人防设施", "李女士", "13900002222", ""],
    ["RX-3", "2020-03-16 10:00", "催办", "", "请尽快处理", "王先生", "", ""],
    ["RX-4", "", "咨询", "", "防空警报什么时候试鸣", "赵先生", "", ""],
    ["", "2020-03-17 10:00", "咨询", "", "没有编号的工单", "", "", ""],
    ["RX-1", "2020-03-15 09:21", "咨询", "车位产权", "同一工单再次出现", "张先生", "13800001234", ""],
    ["RX-5", "2020-12-31T23:30:00+08:00", "建议", "", "建议在社区开展人防宣传教育", "", "", ""],
]


def write_csv(path: Path, header, rows, encoding="utf-8-sig") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest_asyncio.fixture
async def services(db_url, tmp_path, classifier):
    s = build_runtime(make_settings(db_url, tmp_path), classifier=classifier)
    try:
        yield s
    finally:
        await s.db.engine.dispose()


async def cases(services) -> dict[str, Case]:
    async with services.db.session() as session:
        return {c.external_id: c for c in (await session.execute(select(Case))).scalars()}


async def test_a_12345_export_is_imported_with_rejects_listed(services, tmp_path):
    path = write_csv(tmp_path / "orders.csv", HEADER, ROWS)
    summary = await import_file(services, path, "hotline")
    assert (summary.rows, summary.imported, summary.duplicates, summary.rejected) == (7, 3, 1, 3)
    assert summary.text() == f"导入完成：共 7 行，新增 3，重复 1，拒绝 3（被拒绝的行及原因见 {path}.errors.csv）"
    with open(f"{path}.errors.csv", encoding="utf-8-sig") as fh:
        errors = list(csv.reader(fh))
    assert errors[0] == ["行号", "编号", "原因"]
    assert [e[:2] for e in errors[1:]] == [["4", "RX-3"], ["5", "RX-4"], ["6", ""]]
    assert "催办" in errors[1][2] and "来电时间" in errors[2][2] and "工单编号" in errors[3][2]

    got = await cases(services)
    assert set(got) == {"RX-1", "RX-2", "RX-5"}
    tz = services.settings.tz
    one = got["RX-1"]
    assert one.channel == "hotline" and one.kind == "consultation" and one.title == "车位产权"
    assert one.received_at.astimezone(tz).isoformat() == "2020-03-15T09:21:00+08:00"  # office time
    assert one.deadline_at.astimezone(tz).isoformat() == "2020-03-20T18:00:00+08:00"
    assert one.text == "咨询人防车位能否出售"  # the first row wins; the repeat is a duplicate
    assert got["RX-2"].kind == "report"  # no 诉求类型: the classifier decides
    assert got["RX-2"].received_at.astimezone(tz).isoformat() == "2020-03-16T09:05:00+08:00"
    assert got["RX-2"].deadline_days == 15  # computed from the per-kind limit
    # Counted in the year of receipt, in the office's time zone.
    assert got["RX-5"].received_year == 2020 and got["RX-5"].kind == "suggestion"
    # History arrives closed, so it doesn't flood the open-case inbox.
    assert {c.status for c in got.values()} == {"closed"}
    async with services.db.session() as session:
        contact = await session.get(Contact, one.contact_id)
        imported = (await session.execute(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "case.imported"))).scalar_one()
    assert contact.phone == "13800001234" and contact.name == "张先生"
    assert imported == len(got)


async def test_importing_twice_changes_nothing(services, tmp_path):
    path = write_csv(tmp_path / "orders.csv", HEADER, ROWS[:2])
    first = await import_file(services, path, "hotline", keep_open=True)
    again = await import_file(services, path, "hotline", keep_open=True)
    assert (first.imported, first.duplicates) == (2, 0)
    assert (again.imported, again.duplicates, again.rejected) == (0, 2, 0)
    got = await cases(services)
    assert len(got) == 2 and {c.status for c in got.values()} == {"new"}  # --open


async def test_missing_columns_refuse_the_file_naming_them(services, tmp_path):
    header = ["工单编号", "诉求类型", "标题", "来电人"]
    path = write_csv(tmp_path / "short.csv", header, [["RX-9", "咨询", "t", "张"]])
    with pytest.raises(ImportRefused) as info:
        await import_file(services, path, "hotline")
    assert "来电时间" in str(info.value) and "诉求内容" in str(info.value) and "工单编号" not in str(info.value).split("（")[0]
    assert await cases(services) == {}
    assert not Path(f"{path}.errors.csv").exists()
    unknown = write_csv(tmp_path / "other.csv", ["a", "b"], [["1", "2"]])
    with pytest.raises(ImportRefused, match="收到时间"):
        await import_file(services, unknown, "portal")
    with pytest.raises(ImportRefused, match="渠道"):
        await import_file(services, path, "fax")


async def test_xlsx_with_date_cells_and_number_cells(services, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    ws.append([202003150001, datetime(2020, 3, 15, 9, 21), "投诉", None, "投诉物业把人防工程出租做仓库", "钱女士",
               13700001111, datetime(2020, 4, 3, 17, 30)])
    ws.append(["RX-X2", "2020/3/15 9:21", "表扬", None, "感谢人防办的耐心解答", None, None, None])
    ws.append(["RX-X3", "2020-13-45 09:00", "咨询", None, "日期不对", None, None, None])
    path = tmp_path / "orders.xlsx"
    wb.save(path)
    summary = await import_file(services, path, "hotline")
    assert (summary.imported, summary.rejected) == (2, 1)
    got = await cases(services)
    tz = services.settings.tz
    order = got["202003150001"]  # a number cell keeps its digits
    assert order.kind == "complaint" and order.received_at.astimezone(tz).isoformat() == "2020-03-15T09:21:00+08:00"
    assert order.deadline_at.astimezone(tz).isoformat() == "2020-04-03T17:30:00+08:00"
    async with services.db.session() as session:
        assert (await session.get(Contact, order.contact_id)).phone == "13700001111"
    assert got["RX-X2"].kind == "praise"
    errors = Path(f"{path}.errors.csv").read_text(encoding="utf-8-sig").splitlines()
    assert errors[1].startswith("4,RX-X3,")


async def test_our_own_export_and_a_gbk_file(services, tmp_path):
    header = ["受理编号", "渠道", "类型", "主题", "状态", "收到时间", "办理期限", "外部编号", "标题", "内容", "姓名", "电话"]
    rows = [
        ["WZ20200315-0001", "portal", "咨询", "parking", "已答复", "2020-03-15T09:21:00+08:00", "", "", "",
         "请问人防车位能否出售", "李四", "138****1234"],
        ["WZ20200316-0002", "portal", "consultation", "", "新收", "2020-03-16 10:00", "", "", "", "防空警报", "", ""],
        ["WZ20200316-0003", "portal", "未知类", "", "", "2020-03-16 10:00", "", "", "", "x", "", ""],
    ]
    path = write_csv(tmp_path / "ours.csv", header, rows, encoding="gb18030")  # as Excel in China saves it
    summary = await import_file(services, path, "portal")
    assert (summary.layout, summary.imported, summary.rejected) == ("own", 2, 1)
    got = await cases(services)
    first = got["WZ20200315-0001"]  # the number is the external id: re-imports are duplicates
    assert first.channel == "portal" and first.kind == "consultation" and first.topic == "parking"
    assert first.status == "answered" and got["WZ20200316-0002"].status == "new"
    async with services.db.session() as session:
        assert (await session.get(Contact, first.contact_id)).phone is None  # a masked number is no number
    assert (await import_file(services, path, "portal")).duplicates == 2


async def test_a_pushed_order_and_the_same_order_in_a_file_are_one_case(db_url, tmp_path, classifier):
    settings = make_settings(db_url, tmp_path, hotline_secret="s3cret")
    client = await serve_app(settings, classifier)
    try:
        order = {"order_id": "RX-1", "received_at": "2020-03-15T09:21:00+08:00", "content": "咨询人防车位能否出售"}
        body, headers = signed("s3cret", order)
        assert (await (await client.post("/hotline/orders", data=body, headers=headers)).json())["accepted"] == ["RX-1"]
        path = write_csv(tmp_path / "orders.csv", HEADER, ROWS[:2])
        summary = await import_file(client.runtime, path, "hotline")
        assert (summary.imported, summary.duplicates) == (1, 1)
        # And a file first, then the push: a duplicate.
        body, headers = signed("s3cret", {**order, "order_id": "RX-2"})
        assert (await (await client.post("/hotline/orders", data=body, headers=headers)).json())["duplicates"] == ["RX-2"]
        assert set(await cases(client.runtime)) == {"RX-1", "RX-2"}
    finally:
        await client.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_memory_stays_bounded_as_the_file_grows(services, tmp_path):
    def make(n: int) -> Path:
        rows = ([f"M{n}-{i}", f"2020-{1 + i % 12:02d}-{1 + i % 28:02d} 09:00", "咨询", "", f"咨询人防车位能否出售 {i}",
                 "张", f"138{i:08d}", ""] for i in range(n))
        return write_csv(tmp_path / f"m{n}.csv", HEADER, rows)

    peaks = {}
    for n in (300, 1500):
        path = make(n)
        tracemalloc.start()
        summary = await import_file(services, path, "hotline", chunk_size=100)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert summary.imported == n
    # Five times the rows, about the same peak: rows stream, chunk by chunk.
    assert peaks[1500] < peaks[300] * 1.5, peaks


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_command_line(db_url, tmp_path):
    env = {**os.environ, "INTAKE_DATABASE_URL": db_url, "INTAKE_VAR_DIR": str(tmp_path / "var"),
           "INTAKE_SECRET_KEY": "x" * 32}
    intake = [sys.executable, "-m", "bot.cli"]
    path = write_csv(tmp_path / "orders.csv", HEADER, ROWS)
    run = subprocess.run([*intake, "import", str(path), "--channel", "hotline"], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "新增 3，重复 1，拒绝 3" in run.stdout
    assert "导入:" not in run.stderr and "行/s" not in run.stderr  # no progress bar without a terminal
    short = write_csv(tmp_path / "short.csv", ["工单编号", "标题"], [["RX-9", "t"]])
    refused = subprocess.run([*intake, "import", str(short), "--channel", "hotline"], env=env, cwd=REPO,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "来电时间" in refused.stderr and "诉求内容" in refused.stderr
    assert "未导入任何数据" in refused.stderr


async def test_a_title_above_the_header_and_a_badly_encoded_row(services, tmp_path):
    # Exports often start with a title line; one row here carries bytes that
    # are not UTF-8 (pasted from a GBK file): that row is rejected, not the file.
    path = tmp_path / "orders.csv"
    good = "RX-7,2020-03-15 09:21,咨询,,咨询人防车位能否出售,张先生,13800001234,\n"
    bad = "RX-8,2020-03-15 10:00,咨询,,".encode() + "人防车位".encode("gbk") + ",李,,\n".encode()
    path.write_bytes("12345工单导出（2020年3月）\n".encode() + (",".join(HEADER) + "\n").encode()
                     + good.encode() + bad)
    summary = await import_file(services, path, "hotline")
    assert (summary.imported, summary.rejected) == (1, 1)
    errors = Path(f"{path}.errors.csv").read_text(encoding="utf-8-sig").splitlines()
    assert errors[1].startswith("4,RX-8,") and "编码" in errors[1]
    assert set(await cases(services)) == {"RX-7"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_progress_bar_on_a_terminal(db_url, tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    path = write_csv(tmp_path / "orders.csv", HEADER, ROWS[:2])
    env = {**os.environ, "INTAKE_DATABASE_URL": db_url, "INTAKE_VAR_DIR": str(tmp_path / "var"),
           "INTAKE_SECRET_KEY": "x" * 32}
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal 100 columns wide, as a person would have
        fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
        os.chdir(REPO)
        os.execve(sys.executable, [sys.executable, "-m", "bot.cli", "import", str(path), "--channel", "hotline"], env)
    out = bytearray()
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out.extend(data)
    os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert "导入: 100%" in text and "2/2" in text and "行/s" in text
    assert "新增 2，重复 0，拒绝 0" in text
