"""deploy/nginx/taptrade.conf with a real nginx: the configuration test, then the product behind it over
HTTPS — the UI, the API, the WebSocket, the redirect, and what nginx must refuse."""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest

from taptrade.gateway.app import BODY_MAX_BYTES
from tests.deploy.nginx_site import SITE, Certificate, Nginx, SiteParams, ipv6_loopback, unexpected_warnings
from tests.integration.test_launcher import interrupt, start
from tests.support import free_port


def site_params(certificate: Certificate, web_root: Path, gateway_port: int) -> SiteParams:
    return SiteParams(
        http_port=free_port(),
        https_port=free_port(),
        certificate=certificate,
        web_root=web_root,
        gateway_port=gateway_port,
        ipv6=ipv6_loopback(),
    )


def test_the_site_passes_nginx_t(
    tmp_path: Path, nginx: str, certificate: Certificate, web_root: Path
) -> None:
    server = Nginx(nginx, tmp_path, site_params(certificate, web_root, free_port()))
    result = server.check()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "test is successful" in output, output
    assert unexpected_warnings(output) == [], output


def test_placeholders_are_marked() -> None:
    """An operator finds every value to change by searching for PLACEHOLDER."""
    for number, line in enumerate(SITE.read_text().splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        if "example.com" in line or "/etc/letsencrypt/" in line:
            assert "PLACEHOLDER" in line, f"{SITE.name}:{number}: {line.strip()}"


def test_the_body_limit_is_the_gateways() -> None:
    match = re.search(r"^\s*client_max_body_size\s+(\d+)k;", SITE.read_text(), re.MULTILINE)
    assert match is not None
    assert int(match.group(1)) * 1024 == BODY_MAX_BYTES


# The refusals the end-to-end test provokes; any other complaint in nginx's log (an upstream error, a
# warning) fails it.
PROVOKED = (
    'access forbidden by rule, client: 127.0.0.1, server: trade.example.com, request: "GET /metrics ',
    "client intended to send too large body: 8193 bytes",
    "limiting requests, excess: ",
)


def unexpected_log_lines(log: str) -> list[str]:
    return [line for line in unexpected_warnings(log) if not any(p in line for p in PROVOKED)]


async def first_message(url: str, context: ssl.SSLContext) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    async with connect(url, ssl=context, max_size=2**22) as ws:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        return message


@pytest.mark.slow
def test_the_product_through_nginx(
    tmp_path: Path, nginx: str, certificate: Certificate, web_root: Path
) -> None:
    gateway_port = free_port()
    log = tmp_path / "launcher.log"
    launcher = start(tmp_path / "data", log, gateway_port)
    try:
        params = site_params(certificate, web_root, gateway_port)
        server = Nginx(nginx, tmp_path / "nginx", params)
        server.start()
        try:
            # The self-signed certificate is verified for real, not waved through.
            context = ssl.create_default_context(cafile=str(certificate.certificate))
            base = f"https://127.0.0.1:{params.https_port}"
            with httpx.Client(base_url=base, verify=context, timeout=10) as client:
                check_static_ui(client, web_root)
                check_api(client)
                check_metrics_stay_private(client, gateway_port)
                check_body_limit(client)
                check_sign_in_rate_limit(client)
            hello = asyncio.run(first_message(f"wss://127.0.0.1:{params.https_port}/ws", context))
            assert hello["type"] == "hello", hello
            assert hello["grid"]["feed"] == "simulated"
            check_redirect(params.http_port)
        finally:
            assert server.stop() == 0, server.log()
        assert unexpected_log_lines(server.log()) == [], server.log()
    finally:
        assert interrupt(launcher) == 0, log.read_text()


def check_static_ui(client: httpx.Client, web_root: Path) -> None:
    index = client.get("/")
    assert index.status_code == 200
    assert index.content == (web_root / "index.html").read_bytes()
    assert index.headers["cache-control"] == "no-cache", "index.html must be revalidated after a release"
    assert index.headers["strict-transport-security"].startswith("max-age=")
    assert index.headers["x-frame-options"] == "DENY"

    deep_link = client.get("/history/2026-W47")
    assert deep_link.status_code == 200
    assert deep_link.content == index.content, "unknown paths fall back to the single page"

    asset = next(p for p in sorted((web_root / "assets").iterdir()) if p.is_file())
    served = client.get(f"/assets/{asset.name}")
    assert served.status_code == 200
    assert served.content == asset.read_bytes()
    assert served.headers["cache-control"] == "max-age=31536000"
    assert client.get("/assets/index-00000000.js").status_code == 404, "a missing asset is not index.html"


def check_api(client: httpx.Client) -> None:
    health = client.get("/api/healthz")
    # 503 is a valid answer while the new feed has not ticked for 30 s yet; it must still be the gateway's.
    assert health.status_code in (200, 503), health.text
    body = health.json()
    assert body["status"] in ("healthy", "degraded", "unhealthy")
    assert {"database", "redis", "price_feed", "circuit_breaker"} <= set(body["checks"])
    assert client.get("/api/grid").json()["mode"] == "demo"


def check_metrics_stay_private(client: httpx.Client, gateway_port: int) -> None:
    direct = httpx.get(f"http://127.0.0.1:{gateway_port}/metrics", timeout=10)
    assert direct.status_code == 200
    assert "http_requests_total" in direct.text, "the gateway does serve them"
    refused = client.get("/metrics")
    assert refused.status_code == 403
    assert "http_requests_total" not in refused.text


def check_body_limit(client: httpx.Client) -> None:
    headers = {"content-type": "application/json"}
    at_limit = client.post("/api/bets", content=b"x" * BODY_MAX_BYTES, headers=headers)
    # Reaches the gateway, which finds no JSON in it: nginx's limit is not stricter than the gateway's.
    assert at_limit.status_code == 400, at_limit.text
    over = client.post("/api/bets", content=b"x" * (BODY_MAX_BYTES + 1), headers=headers)
    assert over.status_code == 413
    assert over.json()["error"]["code"] == "too_large"


def check_sign_in_rate_limit(client: httpx.Client) -> None:
    """Sign-in is the tightest zone (2/s, burst 30): a burst passes, a flood gets the API's 429."""
    answers = []
    for _ in range(80):
        answer = client.get("/api/auth/nonce")
        answers.append(answer.status_code)
        if answer.status_code == 429:
            assert answer.json()["error"]["code"] == "rate_limited"
            assert answer.headers["retry-after"] == "1"
            break
    assert answers[:30] == [200] * 30, answers
    assert answers[-1] == 429, f"no 429 after {len(answers)} nonce requests"


def check_redirect(http_port: int) -> None:
    plain = httpx.get(f"http://127.0.0.1:{http_port}/api/healthz?probe=1", timeout=10)
    assert plain.status_code == 301
    assert plain.headers["location"] == "https://127.0.0.1/api/healthz?probe=1"
