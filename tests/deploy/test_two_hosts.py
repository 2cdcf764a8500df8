"""Two app hosts behind the shipped nginx, on one PostgreSQL database set up
by the shipped SQL script (docs/deployment.md).

The shipped files are used as they are, with only the machine-specific
values (listen ports, the two hosts' addresses, the certificate's paths)
rendered for this machine; `nginx -t` must pass on them. Then two real
`intake serve` processes, each with its own working and var/ directory and
the same INTAKE_SECRET_KEY (as deployment requires), serve behind a real
nginx with a self-signed certificate: a staff login made through one host
works through the other, WeChat pushes and their retries spread over both
hosts are recorded once, a 12345 batch pushed to both is recorded once,
/metrics and /healthz answer only from inside, the restore drill of
docs/deployment.md works on a dump taken while they run, and with one host
stopped the other takes every request.

Needs nginx (Debian's package); skips without it, fails instead when
INTAKE_REQUIRE_NGINX=1 or INTAKE_REQUIRE_BROWSER=1 (as in CI).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import os
import re
import shutil
import ssl
import subprocess
import time
import uuid
from collections import defaultdict
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL, REPO, REQUIRE_PG, WECHAT, _pg_admin, _pg_available
from tests.hotline_platform import signed
from tests.intake_process import IntakeProcess, free_port, run_cli
from tests.wechat_peer import WeChatPeer, case_number_in, sha1_sorted

SHIPPED = REPO / "deploy" / "nginx.conf"
PG_SETUP = REPO / "deploy" / "postgresql.sql"
PG_DUMP = REPO / "deploy" / "intake-pg-dump"
SECRET = "hotline-shared-secret"
OUTSIDE = "127.0.0.2"  # a loopback address that is not 127.0.0.1: "from the internet" as far as the config goes


def _required() -> bool:
    return os.environ.get("INTAKE_REQUIRE_NGINX") == "1" or os.environ.get("INTAKE_REQUIRE_BROWSER") == "1"


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                          if os.access(p, os.X_OK)), None)
    if found is None:
        reason = "nginx is not installed (apt-get install -y nginx)"
        if _required():
            pytest.fail(f"INTAKE_REQUIRE_NGINX=1 (or INTAKE_REQUIRE_BROWSER=1) but {reason}")
        pytest.skip(reason)
    return found


# ---- the shipped config, rendered for this machine ------------------------------------------


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def render_site(*, https_port: int, http_port: int, hosts: tuple[int, int], cert: Path, key: Path,
                logs: Path) -> str:
    """deploy/nginx.conf with this machine's values in place of the
    deployment's; every value must be found as often as expected, so a change
    to the shipped file cannot silently escape the test. Beside the shipped
    access log, a second one (the ``upstreams`` format) notes each request's
    query, for the test to tell which push each attempt was."""
    text = SHIPPED.read_text(encoding="utf-8")
    values = [
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;", 1),
        ("listen 80;", f"listen 127.0.0.1:{http_port};", 1),
        ("server 10.0.0.11:8080 ", f"server 127.0.0.1:{hosts[0]} ", 1),
        ("server 10.0.0.12:8080 ", f"server 127.0.0.1:{hosts[1]} ", 1),
        ("/etc/ssl/intake/fullchain.pem", str(cert), 1),
        ("/etc/ssl/intake/privkey.pem", str(key), 1),
        ("access_log /var/log/nginx/intake.access.log intake_noquery;",
         f"access_log {logs}/access.log intake_noquery; access_log {logs}/upstreams.log upstreams;", 2),
    ]
    for shipped, here, times in values:
        assert text.count(shipped) == times, \
            f"deploy/nginx.conf no longer has {shipped!r} {times}x: update this test's render"
        text = text.replace(shipped, here)
    return text


def main_config(prefix: Path, site: str) -> Path:
    """What /etc/nginx/nginx.conf gives the site on a server (its http
    block), with everything nginx writes under ``prefix``, so it runs
    without root and without touching the machine's nginx."""
    (prefix / "intake.conf").write_text(site, encoding="utf-8")
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "temp" / d).mkdir(parents=True, exist_ok=True)
    user = "user root root;\n" if os.geteuid() == 0 else ""  # as root, workers would otherwise be nobody
    conf = prefix / "nginx.conf"
    conf.write_text(f"""{user}worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 512; }}
http {{
    client_body_temp_path {prefix}/temp/client_body;
    proxy_temp_path {prefix}/temp/proxy;
    fastcgi_temp_path {prefix}/temp/fastcgi;
    uwsgi_temp_path {prefix}/temp/uwsgi;
    scgi_temp_path {prefix}/temp/scgi;
    log_format upstreams '$remote_addr $upstream_addr $status "$request_uri"';
    include {prefix}/intake.conf;
}}
""", encoding="utf-8")
    return conf


def nginx_test(nginx: str, prefix: Path, conf: Path) -> subprocess.CompletedProcess:
    return subprocess.run([nginx, "-t", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
                          capture_output=True, text=True, timeout=60)


def test_shipped_nginx_config_passes_nginx_t(tmp_path):
    nginx = nginx_binary()
    cert, key = self_signed(tmp_path)
    site = render_site(https_port=free_port(), http_port=free_port(), hosts=(free_port(), free_port()),
                       cert=cert, key=key, logs=tmp_path)
    done = nginx_test(nginx, tmp_path, main_config(tmp_path, site))
    assert done.returncode == 0 and "test is successful" in done.stderr, done.stderr


# ---- the database, as deploy/postgresql.sql sets it up --------------------------------------


async def pg_database_by_the_script(tmp_path: Path) -> tuple[str, str, str]:
    """(role, database, the app's URL) made by deploy/postgresql.sql, run by
    psql as the superuser the tests use."""
    reason = await _pg_available()
    if reason is None and shutil.which("psql") is None:
        reason = "psql is not installed (Debian: postgresql-client)"
    if reason:
        if REQUIRE_PG:
            pytest.fail(f"INTAKE_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    admin = make_url(PG_URL)
    name = f"intake_t_{uuid.uuid4().hex[:12]}"
    password = f"pw-{uuid.uuid4().hex}'s"  # a quote in it: psql must quote it
    env = {**os.environ, "PGPASSWORD": admin.password or ""}
    done = subprocess.run(
        ["psql", "-X", "-q", "-h", admin.host or "127.0.0.1", "-p", str(admin.port or 5432),
         "-U", admin.username or "postgres", "-d", "postgres", "-v", f"role={name}", "-v", f"database={name}",
         "-v", f"password={password}", "-f", str(PG_SETUP)],
        env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"deploy/postgresql.sql failed:\n{done.stdout}\n{done.stderr}"
    url = admin.set(drivername="postgresql+asyncpg", username=name, password=password, database=name)
    return name, name, url.render_as_string(hide_password=False)


async def drop_pg(role: str, database: str) -> None:
    admin = await _pg_admin(PG_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
    finally:
        await admin.close()


# ---- two hosts behind nginx -----------------------------------------------------------------


class Nginx:
    def __init__(self, binary: str, prefix: Path, conf: Path, https_port: int, cert: Path):
        self.binary, self.prefix, self.conf, self.https_port = binary, prefix, conf, https_port
        self.tls = ssl.create_default_context(cafile=str(cert))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    async def start(self) -> None:
        with (self.prefix / "stderr.log").open("ab") as out:
            self.proc = subprocess.Popen([self.binary, "-p", str(self.prefix), "-c", str(self.conf),
                                          "-e", str(self.prefix / "error.log")], stdout=out, stderr=out)
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                assert self.proc.poll() is None, (self.prefix / "error.log").read_text(errors="replace")
                try:
                    async with http.get(f"{self.url}/healthz", ssl=self.tls) as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("nginx did not serve:\n" + (self.prefix / "error.log").read_text(errors="replace"))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def served(self) -> list[tuple[str, str, int, str]]:
        """(client address, upstream address, status, request URI) of each request."""
        out = []
        for line in (self.prefix / "upstreams.log").read_text(errors="replace").splitlines():
            m = re.fullmatch(r'(\S+) (\S+) (\d+) "(.*)"', line)
            if m:
                out.append((m.group(1), m.group(2), int(m.group(3)), m.group(4)))
        return out


def session_cookie(resp: aiohttp.ClientResponse) -> tuple[str, bool]:
    morsel = resp.cookies.get("intake_session")
    assert morsel is not None and morsel.value, f"no session cookie set ({resp.status})"
    return morsel.value, bool(morsel["secure"])


async def test_two_hosts_behind_nginx_share_logins_and_record_retries_once(tmp_path):
    nginx = nginx_binary()
    role, database, url = await pg_database_by_the_script(tmp_path)
    hosts: list[IntakeProcess] = []
    proxy: Nginx | None = None
    try:
        shared = {"INTAKE_DATABASE_URL": url, "INTAKE_SECRET_KEY": "the-same-secret-on-every-host-" + uuid.uuid4().hex,
                  "INTAKE_TRUST_PROXY": "1", "INTAKE_WECHAT_TOKEN": WECHAT["token"],
                  "INTAKE_WECHAT_AES_KEY": WECHAT["aes_key"], "INTAKE_WECHAT_APP_ID": WECHAT["app_id"],
                  "INTAKE_HOTLINE_SECRET": SECRET, "INTAKE_HOTLINE_SYNC_MINUTES": "0"}
        for name in ("host-a", "host-b"):
            home = tmp_path / name
            hosts.append(IntakeProcess({**shared, "INTAKE_VAR_DIR": str(home / "var")}, free_port(),
                                       tmp_path / f"{name}.log", cwd=home))
        for h in hosts:  # both at once, as after a deployment (the first start migrates the empty database)
            h.spawn()
        await asyncio.gather(*(h.ready() for h in hosts))
        run_cli(hosts[0].environ(), "user", "add", "liming", "--display-name", "李明", "--password-stdin",
                stdin="a-long-password\n", cwd=hosts[0].cwd)

        cert, key = self_signed(tmp_path)
        https_port, http_port = free_port(), free_port()
        prefix = tmp_path / "nginx"
        prefix.mkdir()
        site = render_site(https_port=https_port, http_port=http_port, hosts=(hosts[0].port, hosts[1].port),
                           cert=cert, key=key, logs=prefix)
        conf = main_config(prefix, site)
        checked = nginx_test(nginx, prefix, conf)
        assert checked.returncode == 0, checked.stderr
        proxy = Nginx(nginx, prefix, conf, https_port, cert)
        await proxy.start()

        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            await staff_login_through_one_works_through_the_other(http, proxy, hosts)
            await wechat_retries_over_both_hosts_recorded_once(http, proxy, url)
            await hotline_batch_on_both_hosts_recorded_once(http, proxy, url)
        await only_inside_reaches_metrics_and_healthz(proxy)
        await the_restore_drill(role, database, url, tmp_path)
        async with aiohttp.ClientSession() as http:  # plain HTTP is sent to HTTPS
            async with http.post(f"http://127.0.0.1:{http_port}/wechat?x=1", allow_redirects=False) as resp:
                assert resp.status == 301 and resp.headers["Location"] == "https://127.0.0.1/wechat?x=1"
        await one_host_down_the_other_serves(proxy, hosts)

        for h in hosts:
            assert h.stop() == 0, h.tail()
    finally:
        if proxy is not None:
            proxy.stop()
        for h in hosts:
            h.stop()
        await drop_pg(role, database)


async def staff_login_through_one_works_through_the_other(http, proxy: Nginx, hosts: list[IntakeProcess]) -> None:
    # The login form from one host, the password posted to the other (its
    # CSRF token is signed with the shared key), over nginx's TLS.
    a, b = hosts
    async with http.get(f"{a.url}/login") as resp:
        assert resp.status == 200
        form = await resp.text()
        prelogin = resp.cookies["intake_prelogin"].value
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    async with http.post(f"{proxy.url}/login", ssl=proxy.tls, allow_redirects=False,
                         data={"username": "liming", "password": "a-long-password", "csrf_token": token, "next": ""},
                         headers={"Cookie": f"intake_prelogin={prelogin}"}) as resp:
        assert resp.status == 303, await resp.text()
        cookie, secure = session_cookie(resp)
    assert secure, "a session cookie set over HTTPS behind the proxy must be Secure (INTAKE_TRUST_PROXY=1)"
    headers = {"Cookie": f"intake_session={cookie}"}
    for h in hosts:  # each host directly: the session is in the shared database, signed with the shared key
        async with http.get(f"{h.url}/inbox", headers=headers, allow_redirects=False) as resp:
            assert resp.status == 200, (h.url, resp.status)
            assert "李明（工作人员）" in await resp.text()
    for _ in range(4):  # and through nginx, which alternates between them
        async with http.get(f"{proxy.url}/inbox", ssl=proxy.tls, headers=headers, allow_redirects=False) as resp:
            assert resp.status == 200
    upstreams = {up for _, up, status, uri in proxy.served() if uri == "/inbox" and status == 200}
    assert upstreams == {f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"}
    # Signing out on one host ends the session on the other.
    async with http.get(f"{b.url}/inbox", headers=headers) as resp:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', await resp.text()).group(1)
    async with http.post(f"{b.url}/logout", data={"csrf_token": csrf}, headers=headers,
                         allow_redirects=False) as resp:
        assert resp.status == 303
    async with http.get(f"{a.url}/inbox", headers=headers, allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"].startswith("/login")


async def wechat_retries_over_both_hosts_recorded_once(http, proxy: Nginx, url: str) -> None:
    """Each push sent three times through nginx, as WeChat retries one that
    took too long: two at once, then one more; nginx alternates the hosts."""
    from storage.db import create_engine
    from storage.models import Case, Message

    peer = WeChatPeer(WECHAT["token"], WECHAT["aes_key"], WECHAT["app_id"], WECHAT["account"])
    pushes = 24
    msg_of_nonce: dict[str, int] = {}
    numbers: dict[int, set[str]] = defaultdict(set)

    async def attempt(i: int, xml: str) -> None:
        query, body = peer.push(xml, "safe")
        msg_of_nonce[query["nonce"]] = i
        async with http.post(f"{proxy.url}/wechat", params=query, data=body.encode(), ssl=proxy.tls) as resp:
            assert resp.status == 200, await resp.text()
            reply = peer.open_reply(await resp.text(), query)
        assert reply is not None, "every attempt gets the reply with the case number"
        numbers[i].add(case_number_in(reply["Content"]))

    async def deliver(i: int) -> None:
        xml = peer.text(f"oTwoHosts{i:04d}", f"小区地下人防工程漏水，物业一直不修，第{i}次反映", msg_id=7_000_000_000 + i,
                        create_time=int(time.time()) - 30)
        await asyncio.gather(attempt(i, xml), attempt(i, xml))
        await attempt(i, xml)

    await asyncio.gather(*(deliver(i) for i in range(pushes)))
    assert all(len(n) == 1 and None not in n for n in numbers.values()), numbers  # one case number per push
    assert len({next(iter(n)) for n in numbers.values()}) == pushes

    # nginx sent the attempts to both hosts, and most pushes reached both.
    hosts_of: dict[int, set[str]] = defaultdict(set)
    for _, upstream, status, uri in proxy.served():
        m = re.search(r"[?&]nonce=(\d+)", uri)
        if uri.startswith("/wechat?") and m and m.group(1) in msg_of_nonce:
            assert status == 200
            hosts_of[msg_of_nonce[m.group(1)]].add(upstream)
    assert len(hosts_of) == pushes and len(set().union(*hosts_of.values())) == 2
    assert sum(len(h) == 2 for h in hosts_of.values()) >= pushes // 2, hosts_of

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            stored = (await conn.execute(
                select(Message.text, func.count()).where(Message.direction == "in", Message.channel == "wechat")
                .group_by(Message.text))).all()
            cases = (await conn.execute(select(Case.number).where(Case.channel == "wechat"))).scalars().all()
    finally:
        await engine.dispose()
    assert sorted(n for _, n in stored) == [1] * pushes  # each push once, none lost
    assert sorted(cases) == sorted(next(iter(n)) for n in numbers.values())


async def hotline_batch_on_both_hosts_recorded_once(http, proxy: Nginx, url: str) -> None:
    """12345 re-pushes a batch whose answer it did not get: at once to both hosts."""
    from storage.db import create_engine
    from storage.models import Case

    received = (dt.datetime.now(dt.timezone(dt.timedelta(hours=8))) - dt.timedelta(minutes=1)).replace(microsecond=0)
    orders = [{"order_id": f"12345-TWOHOSTS-{i:04d}", "received_at": received.isoformat(), "request_type": "投诉",
               "content": f"人防工程出入口被占用，第{i}号", "caller": {"name": "王女士", "phone": "13900001234"}}
              for i in range(20)]
    body = json.dumps({"orders": orders}, ensure_ascii=False).encode()

    async def push() -> dict:
        _, headers = signed(SECRET, None, raw=body)
        async with http.post(f"{proxy.url}/hotline/orders", data=body, headers=headers, ssl=proxy.tls) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    answers = await asyncio.gather(push(), push(), push(), push())
    ids = sorted(o["order_id"] for o in orders)
    for answer in answers:
        assert sorted(answer["accepted"] + answer["duplicates"]) == ids and answer["rejected"] == []
    assert sorted(sum((a["accepted"] for a in answers), [])) == ids  # each accepted by exactly one push
    pushed = [up for _, up, _, uri in proxy.served() if uri == "/hotline/orders"]
    assert len(set(pushed)) == 2, pushed
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            stored = (await conn.execute(select(Case.external_id).where(Case.channel == "hotline"))).scalars().all()
    finally:
        await engine.dispose()
    assert sorted(stored) == ids


async def only_inside_reaches_metrics_and_healthz(proxy: Nginx) -> None:
    inside = aiohttp.TCPConnector(ssl=proxy.tls)
    outside = aiohttp.TCPConnector(ssl=proxy.tls, local_addr=(OUTSIDE, 0))
    async with aiohttp.ClientSession(connector=inside) as http_in, aiohttp.ClientSession(connector=outside) as http_out:
        async with http_in.get(f"{proxy.url}/metrics") as resp:
            assert resp.status == 200 and "# HELP" in await resp.text()
        async with http_in.get(f"{proxy.url}/healthz") as resp:
            assert resp.status == 200
        for path in ("/metrics", "/healthz", "//metrics", "/%6detrics", "/metrics?format=text", "/./healthz",
                     "/wechat/../metrics", "/healthz/"):
            async with http_out.get(yarl_raw(proxy.url + path)) as resp:
                text = await resp.text()
                assert resp.status == 403 and "# HELP" not in text, (path, resp.status)
        # WeChat's URL check and the 12345 push are open from outside (the app answers them).
        ts, nonce = str(int(time.time())), "12345"
        async with http_out.get(f"{proxy.url}/wechat", params={
                "signature": sha1_sorted(WECHAT["token"], ts, nonce), "timestamp": ts, "nonce": nonce,
                "echostr": "outside-ok"}) as resp:
            assert resp.status == 200 and await resp.text() == "outside-ok"
        async with http_out.post(f"{proxy.url}/hotline/orders", data=b"{}",
                                 headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"
        async with http_out.get(f"{proxy.url}/track", params={"number": "WX20261201-0001",
                                                              "code": "TRACKCODE7Q2"}) as resp:
            assert resp.status == 404  # the citizens' page answers (no such case), from outside too
            await resp.read()
    seen = {(client, uri): status for client, _, status, uri in proxy.served()}
    assert seen[(OUTSIDE, "/metrics")] == 403 and seen[("127.0.0.1", "/metrics")] == 200
    # The shipped access log says who asked for what and which host answered,
    # never a query string: no 查询码, no WeChat openid, no signature.
    for _ in range(50):  # nginx writes the line once the answer is sent
        log = (proxy.prefix / "access.log").read_text(errors="replace")
        if "GET /track " in log:
            break
        await asyncio.sleep(0.1)
    assert '"GET /track HTTP/1.1" 404' in log and '"POST /wechat HTTP/1.1" 200' in log
    assert "TRACKCODE7Q2" not in log and "openid" not in log and "signature" not in log


def yarl_raw(url: str):
    """A URL sent exactly as written (no normalising of // or %6d)."""
    import yarl

    return yarl.URL(url, encoded=True)


async def the_restore_drill(role: str, database: str, url: str, tmp_path: Path) -> None:
    """docs/deployment.md's drill, command for command (as the superuser the
    tests use instead of `sudo -u postgres`): the nightly dump script while
    the hosts run, restored beside the live database, holds the same."""
    admin = make_url(PG_URL)
    env = {**os.environ, "PGHOST": admin.host or "127.0.0.1", "PGPORT": str(admin.port or 5432),
           "PGUSER": admin.username or "postgres", "PGPASSWORD": admin.password or "",
           "INTAKE_PG_DATABASE": database, "BACKUP_DIR": str(tmp_path / "backups"), "KEEP_DAYS": "14"}
    (tmp_path / "backups").mkdir(mode=0o700)
    stale = tmp_path / "backups" / "intake-20000101T000000Z.dump"
    stale.write_bytes(b"an old dump")
    old = time.time() - 20 * 86400
    os.utime(stale, (old, old))

    def run(*cmd: str) -> str:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{cmd}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    dump = Path(run("sh", str(PG_DUMP)).strip())
    assert dump.parent == tmp_path / "backups" and dump.name.startswith("intake-") and dump.stat().st_size > 0
    assert sorted(p.name for p in dump.parent.iterdir()) == [dump.name]  # the 20-day-old one is gone, no .part left
    assert dump.stat().st_mode & 0o077 == 0

    drill = f"{database}_drill"
    try:
        run("createdb", f"--owner={role}", "--template=template0", "--encoding=UTF8", drill)
        run("pg_restore", "--exit-on-error", "--no-owner", f"--role={role}", f"--dbname={drill}", str(dump))
        check = [arg for q in ("SELECT count(*), max(number), max(received_at) FROM cases",
                               "SELECT count(*) FROM messages", "SELECT count(*) FROM audit_log",
                               "SELECT version_num FROM alembic_version") for arg in ("-c", q)]
        live = run("psql", "-X", "-tA", "-d", database, *check)
        restored = run("psql", "-X", "-tA", "-d", drill, *check)
        assert restored == live and "|" in live, (live, restored)
        drill_url = make_url(url).set(database=drill).render_as_string(hide_password=False)
        run_cli({**env, "INTAKE_DATABASE_URL": drill_url, "INTAKE_SECRET_KEY": "drill",
                 "INTAKE_VAR_DIR": str(tmp_path / "drill-var")}, "db", "upgrade")
    finally:
        subprocess.run(["dropdb", "--if-exists", "--force", drill], env=env, capture_output=True, timeout=60)


async def one_host_down_the_other_serves(proxy: Nginx, hosts: list[IntakeProcess]) -> None:
    """A host stopped (a restart, an upgrade): nginx sends everything to the
    other, and WeChat gets its answers without a retry."""
    assert hosts[0].stop() == 0, hosts[0].tail()
    peer = WeChatPeer(WECHAT["token"], WECHAT["aes_key"], WECHAT["app_id"], WECHAT["account"])
    async with aiohttp.ClientSession() as http:
        for i in range(6):
            query, body = peer.push(peer.text(f"oOneHostDown{i}", f"人防工程出入口被堵，第{i}次"), "safe")
            async with http.post(f"{proxy.url}/wechat", params=query, data=body.encode(), ssl=proxy.tls) as resp:
                assert resp.status == 200
                assert case_number_in(peer.open_reply(await resp.text(), query)["Content"])
