"""`kill -9` of `intake serve` under WeChat and 12345 load, as those
platforms behave, and the count of what was acknowledged but lost and what
was stored twice. Used by tests/chaos (short, in CI) and bench/chaos.py
(long).

- WeChat (tests/wechat_peer.py, safe mode): each client sends one push at a
  time and sends it again, with the same MsgId, on a timeout (WeChat waits
  5 s), a refused or broken connection or a 5xx, until it gets a 200. A 200
  is WeChat's acknowledgement: the push must then be stored exactly once,
  and a case number in the reply must be the number of the case that holds
  it (no false receipt).
- 12345 (docs/hotline.md): each client pushes a signed batch of new orders
  and re-pushes the same batch until it gets a 200; every order of the
  batch must then be accepted or a duplicate, and stored exactly once.
- The killer waits until the server has been answering for a while, kills
  it with SIGKILL while requests are in flight, starts it again at once,
  and so on; at the end the clients finish the pushes they hold (each is
  acknowledged), and the server stops gracefully.

Counting reads the database directly: the texts sent are all distinct, so
a text stored twice is a double whatever the product's dedupe keys say.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import aiohttp

from tests.hotline_platform import signed
from tests.intake_process import IntakeProcess
from tests.wechat_peer import WeChatPeer, case_number_in

OFFICE = timezone(timedelta(hours=8))
COMPLAINTS = ["小区地下人防工程漏水，物业一直不修", "人防车位被人长期占用，请处理", "防空警报声音太小听不见",
              "人防工程出入口堆满杂物", "建议在小区增设防空疏散指示牌", "人防工程里有人住，存在安全隐患"]


@dataclass
class Tally:
    wechat_sent: dict[int, str] = field(default_factory=dict)  # MsgId → text, once first sent
    wechat_acked: dict[int, str | None] = field(default_factory=dict)  # MsgId → the case number in the reply
    hotline_sent: dict[str, str] = field(default_factory=dict)  # order id → content
    hotline_acked: set[str] = field(default_factory=set)
    hotline_batches: int = 0  # pushes acknowledged
    attempts: Counter = field(default_factory=Counter)  # channel → requests sent
    retried: Counter = field(default_factory=Counter)  # why a request was sent again
    refused: list[str] = field(default_factory=list)  # 4xx answers and rejected orders: should be none
    in_flight_at_kill: list[int] = field(default_factory=list)
    downtimes: list[float] = field(default_factory=list)  # seconds from each kill to /healthz answering again
    in_flight: int = 0

    def acked(self) -> int:
        """Acknowledged requests: WeChat pushes and 12345 batches."""
        return len(self.wechat_acked) + self.hotline_batches


@dataclass
class Verdict:
    wechat_acked: int
    hotline_acked: int
    lost: list[str]  # acknowledged, not stored
    doubled: list[str]  # stored more than once
    false_receipts: list[str]  # a reply's case number that is not the case holding the message
    stored_unacked: int  # sent, never acknowledged (the run ended), stored once: allowed

    def as_dict(self) -> dict:
        return {"wechat_acked": self.wechat_acked, "hotline_acked": self.hotline_acked, "lost": len(self.lost),
                "doubled": len(self.doubled), "false_receipts": len(self.false_receipts),
                "stored_unacked": self.stored_unacked}


class ChaosLoad:
    def __init__(self, server: IntakeProcess, peer: WeChatPeer, hotline_secret: str, *, wechat_clients: int = 8,
                 hotline_clients: int = 2, batch: int = 10, timeout: float = 5.0, users_per_client: int = 3,
                 seed: int | None = None):
        self.server, self.peer, self.secret = server, peer, hotline_secret
        self.wechat_clients, self.hotline_clients, self.batch = wechat_clients, hotline_clients, batch
        self.timeout, self.users_per_client = timeout, users_per_client
        self.tally = Tally()
        self.random = random.Random(seed)
        self._stopping = asyncio.Event()
        self._msg_ids = itertools.count(int(time.time()) * 1000)
        self._orders = itertools.count(1)
        self._run = f"{int(time.time()) % 100000:05d}{random.randrange(1000):03d}"

    # ---- the platforms ------------------------------------------------------------------

    async def _send(self, http: aiohttp.ClientSession, channel: str, method_args: dict) -> tuple[int, str] | None:
        """One request; (status, body), or None when it must be sent again
        (no answer in time, connection refused or broken)."""
        self.tally.attempts[channel] += 1
        self.tally.in_flight += 1
        try:
            async with http.post(**method_args) as resp:
                return resp.status, await resp.text()
        except asyncio.TimeoutError:
            self.tally.retried[f"{channel}: timeout"] += 1
        except aiohttp.ClientConnectorError:
            self.tally.retried[f"{channel}: refused"] += 1
        except aiohttp.ClientError as exc:  # reset, disconnected mid-answer
            self.tally.retried[f"{channel}: {type(exc).__name__}"] += 1
        finally:
            self.tally.in_flight -= 1
        return None

    async def _pause(self, tries: int) -> None:
        """Back off as the platforms do: quickly at first, at most ~1 s apart
        while the server is down."""
        await asyncio.sleep(min(1.0, 0.05 * 2 ** tries) * (0.5 + self.random.random()))

    async def wechat_client(self, n: int) -> None:
        users = [f"oChaos{self._run}c{n:02d}u{u}" for u in range(self.users_per_client)]
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            for k in itertools.count():
                if self._stopping.is_set():
                    return
                msg_id = next(self._msg_ids)
                text = f"{COMPLAINTS[k % len(COMPLAINTS)]}（第{msg_id}条）"
                xml = self.peer.text(users[k % len(users)], text, msg_id=msg_id)
                self.tally.wechat_sent[msg_id] = text
                for tries in itertools.count():  # until WeChat has its 200, whatever happens to the server
                    query, body = self.peer.push(xml, "safe")
                    answer = await self._send(http, "wechat", {"url": f"{self.server.url}/wechat", "params": query,
                                                               "data": body.encode()})
                    if answer is not None and answer[0] == 200:
                        reply = self.peer.open_reply(answer[1], query)
                        self.tally.wechat_acked[msg_id] = case_number_in(reply["Content"]) if reply else None
                        break
                    if answer is not None:
                        if answer[0] < 500:
                            self.tally.refused.append(f"wechat {msg_id}: {answer[0]} {answer[1][:200]}")
                            return
                        self.tally.retried[f"wechat: {answer[0]}"] += 1
                    await self._pause(tries)

    async def hotline_client(self, n: int) -> None:
        timeout = aiohttp.ClientTimeout(total=self.timeout * 2)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while not self._stopping.is_set():
                received = (datetime.now(OFFICE) - timedelta(minutes=1)).replace(microsecond=0).isoformat()
                orders = []
                for _ in range(self.batch):
                    order_id = f"12345-CHAOS{self._run}-{next(self._orders):07d}"
                    content = f"{self.random.choice(COMPLAINTS)}，工单{order_id}"
                    self.tally.hotline_sent[order_id] = content
                    orders.append({"order_id": order_id, "received_at": received, "request_type": "投诉",
                                   "content": content, "caller": {"name": "赵先生", "phone": "13700001234"}})
                body = json.dumps({"orders": orders}, ensure_ascii=False).encode()
                for tries in itertools.count():  # the platform re-pushes the same batch until it has a 200
                    _, headers = signed(self.secret, None, raw=body)  # signed anew: the timestamp must be fresh
                    answer = await self._send(http, "hotline", {"url": f"{self.server.url}/hotline/orders",
                                                                "data": body, "headers": headers})
                    if answer is not None and answer[0] == 200:
                        outcome = json.loads(answer[1])
                        for r in outcome["rejected"]:
                            self.tally.refused.append(f"hotline {r}")
                        self.tally.hotline_acked.update(outcome["accepted"] + outcome["duplicates"])
                        self.tally.hotline_batches += 1
                        break
                    if answer is not None:
                        if answer[0] < 500:
                            self.tally.refused.append(f"hotline: {answer[0]} {answer[1][:200]}")
                            return
                        self.tally.retried[f"hotline: {answer[0]}"] += 1
                    await self._pause(tries)

    # ---- the killer ---------------------------------------------------------------------

    async def _acked_more(self, count: int, timeout: float = 120) -> None:
        target = self.tally.acked() + count
        deadline = asyncio.get_running_loop().time() + timeout
        while self.tally.acked() < target:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no progress: {self.tally.acked()} acknowledged, waiting for {target}\n"
                                     f"{self.server.tail()}")
            await asyncio.sleep(0.05)

    async def run(self, kills: int, *, acked_between: int = 40, up_seconds: tuple[float, float] = (0.5, 2.0),
                  tail_acked: int = 40) -> Tally:
        """Load, and ``kills`` times: ``acked_between`` acknowledged requests, a
        random while more, SIGKILL under load, a restart; then
        ``tail_acked`` more after the last restart, and the clients finish."""
        clients = [asyncio.create_task(self.wechat_client(n)) for n in range(self.wechat_clients)]
        clients += [asyncio.create_task(self.hotline_client(n)) for n in range(self.hotline_clients)]
        try:
            for _ in range(kills):
                await self._acked_more(acked_between)
                await asyncio.sleep(self.random.uniform(*up_seconds))
                for _ in range(100):  # under load: a request in the server's hands
                    if self.tally.in_flight:
                        break
                    await asyncio.sleep(0.01)
                self.tally.in_flight_at_kill.append(self.tally.in_flight)
                killed = time.monotonic()
                self.server.kill()
                await self.server.start()
                self.tally.downtimes.append(time.monotonic() - killed)
            await self._acked_more(tail_acked)
        finally:
            self._stopping.set()
            await asyncio.wait_for(asyncio.gather(*clients), timeout=180)
        return self.tally


async def verdict(db_url: str, tally: Tally) -> Verdict:
    """What the database holds against what the platforms were told."""
    from sqlalchemy import select

    from storage.db import create_engine
    from storage.models import Case, Message

    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(
                select(Message.text, Message.channel, Case.number, Case.external_id)
                .join(Case, Case.id == Message.case_id, isouter=True)
                .where(Message.direction == "in"))).all()
    finally:
        await engine.dispose()
    stored: dict[str, list] = {}
    for text, channel, number, external_id in rows:
        stored.setdefault(text, []).append((channel, number, external_id))
    lost, doubled, false_receipts = [], [], []
    for msg_id, number in tally.wechat_acked.items():
        text = tally.wechat_sent[msg_id]
        copies = stored.get(text, [])
        if not copies:
            lost.append(f"wechat {msg_id}")
        elif number is not None and copies[0][1] != number:
            false_receipts.append(f"wechat {msg_id}: reply said {number}, stored in {copies[0][1]}")
    for order_id in tally.hotline_acked:
        copies = stored.get(tally.hotline_sent[order_id], [])
        if not copies:
            lost.append(f"hotline {order_id}")
        elif copies[0][2] != order_id:
            false_receipts.append(f"hotline {order_id}: stored as {copies[0][2]}")
    sent = set(tally.wechat_sent.values()) | set(tally.hotline_sent.values())
    for text, copies in stored.items():
        if text in sent and len(copies) > 1:
            doubled.append(f"{copies[0][0]} {text!r} ×{len(copies)}")
    acked_texts = ({tally.wechat_sent[m] for m in tally.wechat_acked}
                   | {tally.hotline_sent[o] for o in tally.hotline_acked})
    stored_unacked = sum(1 for text in sent - acked_texts if text in stored)
    return Verdict(len(tally.wechat_acked), len(tally.hotline_acked), lost, doubled, false_receipts, stored_unacked)
