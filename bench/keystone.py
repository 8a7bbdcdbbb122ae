"""What Keystone validation costs a request (``auth_strategy = keystone``).

A real Keystone (tests/integration/keystone.py: keystone 30 from PyPI on SQLite under
gunicorn, its virtualenv built by tests/integration/venvs.py) and one ``corral serve``
process with ``auth_strategy = keystone`` and a static token as well, on SQLite, both
on 127.0.0.1. One client, one keep-alive connection, sequential requests of
``GET /v1/flavors`` (authenticated, no work worth the name):

- **static**: the static token (a dictionary lookup; the baseline);
- **keystone, warm**: a Keystone token already in corral's cache;
- **keystone, cold**: each of ``--cold`` fresh tokens on its first request (corral asks
  Keystone, in a worker thread), and **Keystone alone**: the same validation, with
  corral's service user, asked of Keystone directly by the client (what corral cannot
  make cheaper), alternating with the cold requests.

Static and warm requests alternate, so that a change in the machine's load hits both.
With ``--https`` corral serves TLS (a throwaway CA and a certificate for 127.0.0.1 made
with ``openssl``; the client verifies with that CA): the same figures over HTTPS, the
handshake paid once per keep-alive connection.

    .venv/bin/python bench/keystone.py                  # ~1 minute
    .venv/bin/python bench/keystone.py --https
    .venv/bin/python bench/keystone.py --requests 5000 --cold 100
"""

from __future__ import annotations

import argparse
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
import httpx
from common import say, table

sys.path.insert(0, str(common.ROOT / "tests"))
from integration.keystone import Keystone, User  # noqa: E402
from integration.venvs import KEYSTONE  # noqa: E402

STATIC = "bench-static-token"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed_get(client: httpx.Client, url: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    r = client.get(url, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    if r.status_code != 200:
        raise SystemExit(f"GET {url}: {r.status_code} {r.text[:300]}")
    return elapsed


def start_keystone(workdir: Path) -> Keystone:
    venv, problem = KEYSTONE.build()
    if problem is not None:
        raise SystemExit(f"no Keystone: {problem}")
    ks = Keystone(venv, workdir / "keystone", common.free_port())
    ks.directory.mkdir(parents=True)
    ks.initialise()
    ks.start()
    return ks


def openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


def throwaway_pki(workdir: Path) -> tuple[Path, Path, Path]:
    """(CA, server certificate for 127.0.0.1, its key), made with openssl."""
    ca, ca_key, cert, key, csr, ext = (workdir / name for name in (
        "ca.pem", "ca.key", "server.pem", "server.key", "server.csr", "server.ext"))
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "1",
            "-subj", "/CN=corral-bench-ca")
    openssl("req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    ext.write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
            "-out", cert, "-days", "1", "-extfile", ext)
    return ca, cert, key


def start_corral(ks: Keystone, workdir: Path, project: str, corral_user: User,
                 tls: tuple[Path, Path] | None = None) -> common.Service:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env.update({
        "CORRAL_DATA_DIR": str(workdir / "data"), "CORRAL_AUTH_STRATEGY": "keystone",
        "CORRAL_API_TOKENS": f"{STATIC}=bench:{project}:member",
        "CORRAL_KEYSTONE_AUTH_URL": ks.url, "CORRAL_KEYSTONE_USERNAME": corral_user.name,
        "CORRAL_KEYSTONE_PASSWORD": corral_user.password,
        "CORRAL_KEYSTONE_SYSTEM_SCOPE": "all", "CORRAL_LOG_LEVEL": "warning"})
    cli = [sys.executable, "-m", "corral.cli.main", "--database-url",
           f"sqlite:///{workdir}/corral.sqlite"]
    common._run([*cli, "db", "upgrade"], env=env)
    port = common.free_port()
    serve = [*cli, "serve", "--host", "127.0.0.1", "--port", str(port)]
    if tls is not None:  # the readiness probe trusts the CA through SSL_CERT_FILE
        serve += ["--tls-cert-file", str(tls[0]), "--tls-key-file", str(tls[1])]
    scheme = "https" if tls is not None else "http"
    return common._spawn("corral", serve, env, workdir, f"{scheme}://127.0.0.1:{port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="warm requests of each kind")
    parser.add_argument("--cold", type=int, default=50, help="fresh tokens validated cold")
    parser.add_argument("--https", action="store_true", help="corral serves TLS")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="corral-bench-keystone-") as tmp:
        workdir = Path(tmp)
        ks = start_keystone(workdir)
        try:
            run(ks, workdir, args.requests, args.cold, args.https)
        finally:
            ks.stop()


def run(ks: Keystone, workdir: Path, requests: int, cold: int, https: bool) -> None:
    domain = ks.domain()
    project = ks.project(domain)
    user = ks.user()
    ks.grant(user, "member", project=project)
    corral_user = ks.user()
    ks.grant(corral_user, "reader", system=True)
    verify: bool | ssl.SSLContext = True
    tls = None
    if https:
        ca, cert, key = throwaway_pki(workdir)
        os.environ["SSL_CERT_FILE"] = str(ca)  # for common._spawn's probe
        verify, tls = ssl.create_default_context(cafile=str(ca)), (cert, key)
    corral = start_corral(ks, workdir, project, corral_user, tls)
    url = corral.url + "/v1/flavors"
    warm_token = ks.token(user.name, user.password, project=project)
    fresh = [ks.token(user.name, user.password, project=project) for _ in range(cold)]
    again = [ks.token(user.name, user.password, project=project) for _ in range(cold)]
    static_ms: list[float] = []
    warm_ms: list[float] = []
    cold_ms: list[float] = []
    direct_ms: list[float] = []
    with httpx.Client(timeout=30, verify=verify) as client:
        for _ in range(50):  # warm-up: connections, caches, the project placed
            timed_get(client, url, {"x-auth-token": STATIC})
            timed_get(client, url, {"x-auth-token": warm_token})
        for _ in range(requests):
            static_ms.append(timed_get(client, url, {"x-auth-token": STATIC}))
            warm_ms.append(timed_get(client, url, {"x-auth-token": warm_token}))
        # corral's own request to Keystone, asked directly, alternating with corral's
        # cold requests so that both see the same load.
        service = {"x-auth-token": ks.token(corral_user.name, corral_user.password,
                                            system=True)}
        for token, other in zip(fresh, again, strict=True):
            cold_ms.append(timed_get(client, url, {"x-auth-token": token}))
            direct_ms.append(timed_get(client, ks.url + "/auth/tokens?nocatalog",
                                       {**service, "x-subject-token": other}))
    corral.stop()
    base = statistics.median(static_ms)
    rows = [("static token", len(static_ms), statistics.median(static_ms),
             pct(static_ms, 0.95), 0.0),
            ("keystone, warm cache", len(warm_ms), statistics.median(warm_ms),
             pct(warm_ms, 0.95), statistics.median(warm_ms) - base),
            ("keystone, cold (first use)", len(cold_ms), statistics.median(cold_ms),
             pct(cold_ms, 0.95), statistics.median(cold_ms) - base),
            ("Keystone alone: GET /v3/auth/tokens?nocatalog", len(direct_ms),
             statistics.median(direct_ms), pct(direct_ms, 0.95), float("nan"))]
    say(f"GET /v1/flavors over {'HTTPS' if https else 'HTTP'}, one client, sequential; "
        f"load average {common.load_average()}")
    table(["request", "n", "p50 ms", "p95 ms", "p50 over static, ms"],
          [(n, c, round(p50, 2), round(p95, 2), round(over, 2)) for n, c, p50, p95, over
           in rows])


if __name__ == "__main__":
    main()
