"""The dashboard at /ui over HTTP: who may see it, and that every figure it shows is the
one the /v1 API answers (hosts, utilization, headroom, stranded hosts, quota tree)."""

from __future__ import annotations

import re

import pytest
from browser.fleet import ADMIN, expected, expected_quotas, figures, seed, shown
from starlette.testclient import TestClient

from corral.api import ui
from corral.api.ui import COOKIE


def test_anonymous_callers_get_the_sign_in_form_and_no_figures(client: TestClient) -> None:
    seed(client)
    for path in ("/ui", "/ui/quotas"):
        r = client.get(path)
        assert r.status_code == 401
        assert 'action="/ui/login"' in r.text
        assert "data-figure" not in r.text and "cn1" not in r.text and "team-a" not in r.text
    for path in ("/ui/fragments/overview", "/ui/fragments/quotas"):
        r = client.get(path)
        assert (r.status_code, r.text) == (401, "")


def test_only_the_admin_role_sees_the_dashboard(client: TestClient) -> None:
    seed(client)
    assert client.get("/ui", headers={"x-auth-token": "alice:team-a"}).status_code == 403
    assert client.get("/ui", headers={"x-auth-token": "alice:team-a",
                                      "x-roles": "member"}).status_code == 403
    assert client.get("/ui/fragments/quotas",
                      headers={"x-auth-token": "alice:team-a"}).status_code == 403
    client.cookies.set(COOKIE, "alice:team-a", path="/ui")  # not a session: signed in by nobody
    r = client.get("/ui")
    assert r.status_code == 401 and "data-figure" not in r.text
    assert client.get("/ui", headers=ADMIN).status_code == 200  # the header wins


def test_signing_in_sets_an_http_only_cookie_for_ui_only(client: TestClient) -> None:
    r = client.post("/ui/login", data={"token": "nobody:x", "next": "/ui"},
                    follow_redirects=False)
    assert r.status_code == 403 and COOKIE not in r.headers.get("set-cookie", "")
    r = client.post("/ui/login", data={"token": "", "next": "/ui"}, follow_redirects=False)
    assert r.status_code == 401
    r = client.post("/ui/login", data={"token": "admin", "next": "//elsewhere.example/ui"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and not cookie.startswith(f"{COOKIE}=admin;")
    assert "HttpOnly" in cookie and "Path=/ui" in cookie and "SameSite=strict" in cookie
    assert client.get("/ui").status_code == 200
    assert client.get("/ui/quotas").status_code == 200
    r = client.post("/ui/logout", follow_redirects=False)
    assert r.status_code == 303 and f'{COOKIE}=""' in r.headers["set-cookie"]
    assert client.get("/ui").status_code == 401


def test_after_sign_in_the_page_asked_for_is_shown(client: TestClient) -> None:
    r = client.post("/ui/login", data={"token": "admin", "next": "/ui/quotas"},
                    follow_redirects=False)
    assert r.headers["location"] == "/ui/quotas"


def test_the_overview_shows_the_api_figures(client: TestClient) -> None:
    seed(client)
    page = client.get("/ui", headers=ADMIN)
    assert page.status_code == 200
    found = figures(page.text)
    want = expected(client)
    got = shown(found.figures)
    assert {k: got.get(k) for k in want} == want
    # and nothing besides: no figure of the overview that the API does not answer
    assert set(got) == set(want)
    assert want["hosts/down"] == "1" and want["hosts/disabled"] == "1"
    assert found.rows["troubled/data-host"] == ["cn3", "cn4"]
    assert found.rows["stranded/data-host"][0] == "lowmem"
    assert want["headroom/large/total"] == "0"
    # headroom smallest first: the flavors in shortfall lead
    totals = [int(want[f"headroom/{f}/total"]) for f in found.rows["headroom/data-flavor"]]
    assert totals == sorted(totals)


def test_the_quota_page_shows_the_api_figures(client: TestClient) -> None:
    seed(client)
    page = client.get("/ui/quotas", headers=ADMIN)
    assert page.status_code == 200
    found = figures(page.text)
    want = expected_quotas(client)
    assert shown(found.figures) == want
    assert found.rows["quota-tree/data-project"] == ["org", "team-a", "sub-a1", "team-b"]
    assert want["quota/team-a/cores/used"] == "5" and want["quota/team-a/cores/limit"] == "8"
    assert want["quota/org/cores/used"] == "11"


def test_the_fragments_are_the_live_regions(client: TestClient) -> None:
    seed(client)
    for name, want in (("overview", expected(client)), ("quotas", expected_quotas(client))):
        r = client.get(f"/ui/fragments/{name}", headers=ADMIN)
        assert r.status_code == 200 and "<html" not in r.text
        assert shown(figures(r.text).figures) == want
        page = client.get(f"/ui/{'' if name == 'overview' else name}".rstrip("/"), headers=ADMIN)
        assert f'data-refresh-url="/ui/fragments/{name}"' in page.text


def test_everything_a_page_loads_is_served_by_corral(client: TestClient) -> None:
    page = client.get("/ui", headers=ADMIN)
    refs = re.findall(r'(?:src|href|action)="([^"]*)"', page.text)
    assert refs and all(ref.startswith(("/ui", "#")) for ref in refs), refs
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    for ref in ("/ui/static/dashboard.css", "/ui/static/dashboard.js"):
        assert client.get(ref).status_code == 200
    assert 'http-equiv="refresh"' in page.text  # inside <noscript>: no JavaScript needed
    assert client.get("/ui/", headers=ADMIN, follow_redirects=False).headers["location"] == "/ui"
    assert client.get("/ui?refresh=3", headers=ADMIN).text.count('data-refresh-seconds="3"') == 1


def test_a_long_list_of_troubled_hosts_is_cut_but_counted(client: TestClient,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ui, "TROUBLED_SHOWN", 1)
    seed(client)
    page = client.get("/ui", headers=ADMIN).text
    found = figures(page)
    assert found.rows["troubled/data-host"] == ["cn3"]
    assert shown(found.figures)["hosts/down"] == "1" and "And 1 more" in page
