"""Fixtures of the deployment tests: the nginx binary (a loud failure when it is missing), a self-signed
certificate, and the static root the site serves."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.nginx_site import NGINX_MISSING, Certificate, make_certificate, nginx_binary
from tests.support import REPO


@pytest.fixture(scope="session")
def nginx() -> str:
    binary = nginx_binary()
    if binary is None:
        pytest.fail(NGINX_MISSING, pytrace=False)
    return binary


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def web_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built web app when `make web` has run, else a stand-in with the same shape (index.html and
    a hashed file under assets/), so the site's static rules are exercised either way."""
    built = REPO / "web" / "dist"
    if (built / "index.html").is_file() and any((built / "assets").glob("*")):
        return built
    root = tmp_path_factory.mktemp("web")
    (root / "assets").mkdir()
    (root / "index.html").write_text('<!doctype html><script src="/assets/index-0a1b2c3d.js"></script>\n')
    (root / "assets" / "index-0a1b2c3d.js").write_text("console.log('tap');\n")
    return root
