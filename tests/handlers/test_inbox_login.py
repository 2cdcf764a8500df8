"""Staff sign-in over real HTTP: sessions, CSRF, throttling, roles, escaping."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select, update

from storage.models import AuditEntry, StaffSession, User

from tests.inbox_staff import PASSWORD, add_user, csrf_of, login, page, submit


async def test_login_form_sets_a_safe_session_cookie(server):
    await add_user(server.runtime, "liming")
    resp = await login(server, "liming")
    assert resp.status in (302, 303) and resp.headers["Location"] == "/inbox"
    cookie = resp.headers.getall("Set-Cookie")
    session_cookie = next(c for c in cookie if c.startswith("intake_session="))
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    assert "Secure" not in session_cookie  # plain http://127.0.0.1 must work
    html = await page(server, "/inbox")
    assert "全部待办" in html and "liming" in html


async def test_secure_cookie_behind_a_trusted_https_proxy(db_url, tmp_path, classifier):
    from tests.conftest import make_settings
    from tests.inbox_staff import serve

    async with serve(make_settings(db_url, tmp_path, trust_proxy=True), classifier) as client:
        await add_user(client.runtime, "liming")
        page_resp = await client.get("/login", headers={"X-Forwarded-Proto": "https"})
        token = csrf_of(await page_resp.text())
        pre = page_resp.cookies["intake_prelogin"]
        assert pre["secure"]  # the pre-login cookie too
        # The test talks plain HTTP to the app (the proxy's side), so the
        # Secure cookie is handed back by hand, as the browser would over HTTPS.
        resp = await client.post("/login", data={"username": "liming", "password": PASSWORD, "csrf_token": token},
                                 headers={"X-Forwarded-Proto": "https", "Cookie": f"intake_prelogin={pre.value}"},
                                 allow_redirects=False)
        assert resp.status == 303
        session_cookie = next(c for c in resp.headers.getall("Set-Cookie") if c.startswith("intake_session="))
        assert "Secure" in session_cookie


async def test_wrong_password_same_message_whether_or_not_the_user_exists(server):
    await add_user(server.runtime, "liming")
    wrong = await login(server, "liming", "not the password")
    nobody = await login(server, "nobody", "not the password")
    assert wrong.status == nobody.status == 401
    w, n = await wrong.text(), await nobody.text()
    assert "用户名或密码错误" in w and "用户名或密码错误" in n
    # Apart from the echoed user name and the per-page token, the pages are identical.
    strip = lambda html, name: html.replace(f'value="{name}"', "").replace(csrf_of(html), "")  # noqa: E731
    assert strip(w, "liming") == strip(n, "nobody")
    assert (await server.get("/inbox", allow_redirects=False)).status in (302, 303)


async def test_five_failures_lock_the_name_even_with_the_right_password(server):
    await add_user(server.runtime, "liming")
    for _ in range(5):
        assert (await login(server, "liming", "guess")).status == 401
    locked = await login(server, "liming")
    assert locked.status == 401 and "次数过多" in await locked.text()
    # A name that does not exist is throttled the same way.
    for _ in range(5):
        await login(server, "ghost", "guess")
    assert "次数过多" in await (await login(server, "ghost", "guess")).text()
    # The lock ends: once it is over, the right password works.
    async with server.runtime.db.session() as s:
        from storage.models import LoginThrottle

        await s.execute(update(LoginThrottle).values(locked_until=datetime.now(timezone.utc) - timedelta(seconds=1)))
        await s.commit()
    assert (await login(server, "liming")).status == 303


async def test_form_without_csrf_token_is_refused_and_changes_nothing(server):
    await add_user(server.runtime, "liming")
    page_resp = await server.get("/login")
    assert page_resp.status == 200
    no_token = await server.post("/login", data={"username": "liming", "password": PASSWORD}, allow_redirects=False)
    assert no_token.status == 403
    bad_token = await server.post("/login", data={"username": "liming", "password": PASSWORD, "csrf_token": "x"},
                                  allow_redirects=False)
    assert bad_token.status == 403
    async with server.runtime.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(StaffSession))).scalar_one() == 0


async def test_expired_session_goes_to_login_and_back_to_the_page(server):
    await add_user(server.runtime, "liming")
    await login(server, "liming")
    await page(server, "/inbox?view=new")
    async with server.runtime.db.session() as s:
        await s.execute(update(StaffSession).values(expires_at=datetime.now(timezone.utc) - timedelta(minutes=1)))
        await s.commit()
    resp = await server.get("/inbox/cases/7?x=1", allow_redirects=False)
    assert resp.status in (302, 303)
    location = urlsplit(resp.headers["Location"])
    assert location.path == "/login" and parse_qs(location.query)["next"] == ["/inbox/cases/7?x=1"]
    assert "登录已过期" in await page(server, resp.headers["Location"])
    again = await login(server, "liming", next_path="/inbox/cases/7")
    assert again.headers["Location"] == "/inbox/cases/7"


async def test_next_only_goes_to_local_pages(server):
    await add_user(server.runtime, "liming")
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        resp = await login(server, "liming", next_path=evil)
        assert resp.headers["Location"] == "/inbox", evil
        await server.post("/logout", data={"csrf_token": csrf_of(await page(server, "/inbox"))})


async def test_logout_ends_the_session_for_good(server):
    await add_user(server.runtime, "liming")
    await login(server, "liming")
    cookie = server.session.cookie_jar.filter_cookies(server.make_url("/"))["intake_session"].value
    resp = await submit(server, "/inbox", "/logout", {})
    assert resp.status == 303
    # Replaying the old cookie does not get back in.
    server.session.cookie_jar.update_cookies({"intake_session": cookie})
    assert (await server.get("/inbox", allow_redirects=False)).status in (302, 303)
    async with server.runtime.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(StaffSession))).scalar_one() == 0
        actions = (await s.execute(select(AuditEntry.action))).scalars().all()
        assert "staff.login" in actions and "staff.logout" in actions


async def test_forged_cookie_is_not_a_session(server):
    server.session.cookie_jar.update_cookies({"intake_session": "abc.def"})
    assert (await server.get("/inbox", allow_redirects=False)).status in (302, 303)


async def test_staff_cannot_open_admin_pages(server):
    await add_user(server.runtime, "liming")
    await login(server, "liming")
    resp = await server.get("/inbox/admin/users")
    assert resp.status == 403
    assert "/inbox/admin/users" not in await page(server, "/inbox")  # not in the navigation either


async def test_admin_adds_and_deactivates_a_user(server):
    await add_user(server.runtime, "boss", role="admin")
    await login(server, "boss")
    resp = await submit(server, "/inbox/admin/users", "/inbox/admin/users",
                        {"op": "add", "username": "xiaowang", "role": "staff", "password": "short"})
    assert resp.status == 400 and "至少 8 位" in await resp.text()
    resp = await submit(server, "/inbox/admin/users", "/inbox/admin/users",
                        {"op": "add", "username": "xiaowang", "role": "staff", "password": "long enough pw"})
    assert resp.status == 303
    html = await page(server, "/inbox/admin/users")
    assert "xiaowang" in html
    async with server.runtime.db.session() as s:
        uid = (await s.execute(select(User.id).where(User.username == "xiaowang"))).scalar_one()
    resp = await submit(server, "/inbox/admin/users", "/inbox/admin/users", {"op": "deactivate", "user_id": uid})
    assert resp.status == 303
    await submit(server, "/inbox", "/logout", {})
    assert (await login(server, "xiaowang", "long enough pw")).status == 401


async def test_login_page_says_how_to_create_the_first_account(server):
    html = await page(server, "/login")
    assert "intake user add" in html
    await add_user(server.runtime, "liming")
    assert "intake user add" not in await page(server, "/login")


async def test_staff_pages_forbid_framing_and_foreign_scripts(server):
    resp = await server.get("/login")
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert resp.headers["X-Frame-Options"] == "DENY" and resp.headers["X-Content-Type-Options"] == "nosniff"
