"""A small seeded fleet for the dashboard tests, written through /v1 (a TestClient or
an httpx client against a real server), and the figures a dashboard page shows.

    az1 (rack-a): cn1 cn2 cn3 (disabled) cn4 (forced down)     pool (no zone): cn1 cn2
    az2 (rack-b): cn5 cn6 lowmem (RAM below every flavor: stranded)

    org (instances 20, cores 40)
     +-- team-a (cores 8, ram 16384)
     |    +-- sub-a1
     +-- team-b (cores 16)
"""

from __future__ import annotations

from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any, Protocol

ADMIN = {"x-auth-token": "admin"}
HOSTS = {"cn1": "rack-a", "cn2": "rack-a", "cn3": "rack-a", "cn4": "rack-a",
         "cn5": "rack-b", "cn6": "rack-b", "lowmem": "rack-b"}
FLAVORS = {"small": (1, 2048, 10), "medium": (2, 4096, 20), "large": (8, 16384, 80)}
PROJECTS: list[tuple[str, str | None, dict[str, int]]] = [
    ("org", None, {"instances": 20, "cores": 40}),
    ("team-a", "org", {"cores": 8, "ram": 16384}),
    ("sub-a1", "team-a", {}),
    ("team-b", "org", {"cores": 16}),
]
BOOTS = [("team-a", "small"), ("team-a", "small"), ("team-a", "medium"),
         ("sub-a1", "small"), ("team-b", "medium"), ("team-b", "medium"), ("team-b", "medium")]


class Client(Protocol):
    """What seeding needs of a TestClient or an httpx.Client."""

    def request(self, method: str, url: str, *, json: Any = ...,
                headers: Mapping[str, str] | None = ...) -> Any: ...


def _ok(client: Client, method: str, path: str, body: Any = None) -> Any:
    r = client.request(method, "/v1" + path, json=body, headers=ADMIN)
    assert r.status_code in (200, 201, 204), (method, path, r.status_code, r.text)
    return r.json() if r.content else None


def seed(client: Client) -> None:
    """Build the fleet above: zones, hosts, flavors, a project tree with limits, boots."""
    _ok(client, "POST", "/aggregates", {"name": "rack-a", "metadata": {"availability_zone": "az1"}})
    _ok(client, "POST", "/aggregates", {"name": "rack-b", "metadata": {"availability_zone": "az2"}})
    _ok(client, "POST", "/aggregates", {"name": "pool", "metadata": {}})
    for host, rack in HOSTS.items():
        size = (16, 2048) if host == "lowmem" else (8, 16384)
        _ok(client, "PUT", f"/hosts/{host}",
            {"vcpus": size[0], "memory_mb": size[1], "disk_gb": 200})
        _ok(client, "POST", f"/aggregates/{rack}/hosts", {"host": host})
    for host in ("cn1", "cn2"):
        _ok(client, "POST", "/aggregates/pool/hosts", {"host": host})
    _ok(client, "PATCH", "/hosts/cn3", {"enabled": False, "disabled_reason": "disk replacement"})
    _ok(client, "PATCH", "/hosts/cn4", {"forced_down": True})
    for name, (vcpus, ram, disk) in FLAVORS.items():
        _ok(client, "POST", "/flavors",
            {"name": name, "vcpus": vcpus, "ram_mb": ram, "disk_gb": disk})
    for project, parent, limits in PROJECTS:
        _ok(client, "POST", "/projects", {"id": project, "parent_id": parent, "limits": limits})
    _ok(client, "PUT", "/limits/defaults", {"limits": {"disk": 500}})
    for i, (project, flavor) in enumerate(BOOTS):
        _ok(client, "POST", "/instances",
            {"name": f"vm{i}", "flavor": flavor, "project_id": project})


def api(client: Client, path: str) -> Any:
    return _ok(client, "GET", path)


def as_int(text: str) -> int:
    return int(text.replace(",", "").strip())


class Figures(HTMLParser):
    """``{data-figure: text}`` of every element carrying one, and the rows' data-* keys."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, str] = {}
        self.rows: dict[str, list[str]] = {}
        self._open: list[tuple[str, str | None, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for key in ("data-host", "data-flavor", "data-project"):
            if found.get(key) is not None:
                table = self._table or "?"
                self.rows.setdefault(f"{table}/{key}", []).append(str(found[key]))
        if tag == "table":
            self._table = found.get("id")
        if tag in ("meter", "input", "meta", "link", "br"):
            return
        self._open.append((tag, found.get("data-figure"), []))

    _table: str | None = None

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            name, key, text = self._open.pop()
            joined = "".join(text)
            if key is not None:
                self.figures[key] = joined.strip()
            if self._open:
                self._open[-1][2].append(joined)
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1][2].append(data)


def figures(html: str) -> Figures:
    parser = Figures()
    parser.feed(html)
    parser.close()
    return parser


def expected(client: Client) -> dict[str, str]:
    """The figures the dashboard must show, as /v1 answers them (text, no separators)."""
    want: dict[str, str] = {}
    hosts = api(client, "/hosts")["hosts"]
    down = api(client, "/hosts?state=down")["hosts"]
    disabled = api(client, "/hosts?enabled=false")["hosts"]
    usage = api(client, "/capacity/utilization")
    want.update({"hosts/total": str(len(hosts)), "hosts/down": str(len(down)),
                 "hosts/up": str(len(hosts) - len(down)), "hosts/disabled": str(len(disabled)),
                 "hosts/usable": str(usage["hosts_usable"])})
    groups = [("fleet", usage["fleet"])]
    groups += [(f"az/{z}", per) for z, per in usage["availability_zones"].items()]
    groups += [(f"aggregate/{a}", per) for a, per in usage["aggregates"].items()]
    for where, per_class in groups:
        for rc, u in per_class.items():
            want[f"util/{where}/{rc}/used"] = str(u["used"])
            want[f"util/{where}/{rc}/usable"] = str(u["usable"])
    for rc, units in usage["stranded"].items():
        want[f"util/stranded/{rc}"] = str(units)
    for h in api(client, "/capacity?group_by=az")["capacity"]:
        name = h["flavor"]["name"]
        want[f"headroom/{name}/total"] = str(h["total"])
        for zone, n in h["groups"].items():
            want[f"headroom/{name}/az/{zone}"] = str(n)
    for s in api(client, "/capacity/stranded")["hosts"]:
        for rc, n in s["stranded"].items():
            want[f"stranded/{s['host']}/{rc}"] = str(n)
    return want


def expected_quotas(client: Client) -> dict[str, str]:
    want: dict[str, str] = {}
    for p in api(client, "/projects")["projects"]:
        for res, q in api(client, f"/projects/{p['id']}/quota")["resources"].items():
            key = f"quota/{p['id']}/{res}"
            want[f"{key}/used"] = str(q["subtree"])
            want[f"{key}/own"] = str(q["own"])
            want[f"{key}/limit"] = "unlimited" if q["limit"] < 0 else str(q["limit"])
            if q["headroom"]["room"] is not None:
                want[f"{key}/room"] = str(q["headroom"]["room"])
    return want


def shown(figures: dict[str, str]) -> dict[str, str]:
    """Page figures as plain text: thousands separators removed."""
    return {k: v.replace(",", "") for k, v in figures.items()}
