"""Runs the repository's nginx site (deploy/nginx/taptrade.conf) as an unprivileged nginx in a scratch
directory: a throwaway nginx.conf shaped like Debian's, with the site included inside http {} as
sites-enabled/ is in production.

Only what a test cannot use as written is substituted, each replacement named in `SiteParams.replacements`
and each expected exactly once, so a change to the site file that a test no longer matches fails loudly
instead of being tested half-way."""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import REPO

SITE = REPO / "deploy" / "nginx" / "taptrade.conf"
NGINX_MISSING = (
    "nginx is not installed, and the deploy tests check deploy/nginx/taptrade.conf with a real nginx. "
    "Run scripts/install-system-deps.sh (it installs Debian's nginx package), or install nginx with your "
    "package manager."
)
# nginx 1.25.1 deprecated `listen ... http2` in favour of `http2 on;`, which Debian 12's 1.22 lacks. The site
# targets Debian 12, so on a newer nginx this one warning is expected; every other warning fails a test.
ALLOWED_WARNINGS = (re.compile(r'the "listen \.\.\. http2" directive is deprecated'),)


def nginx_binary() -> str | None:
    """nginx lives in /usr/sbin, which is not on an ordinary user's PATH on Debian."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Certificate:
    certificate: Path
    key: Path


def make_certificate(directory: Path) -> Certificate:
    """A self-signed certificate for localhost, 127.0.0.1 and ::1, which clients can then verify for real."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    certificate = directory / "cert.pem"
    private_key = directory / "key.pem"
    certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    private_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(certificate, private_key)


@dataclass(frozen=True)
class SiteParams:
    http_port: int
    https_port: int
    certificate: Certificate
    web_root: Path
    gateway_port: int
    ipv6: bool

    def replacements(self) -> list[tuple[str, str]]:
        # Listen on loopback only: a test must not open ports on every interface. Without IPv6 on the
        # host, the [::] listeners go (nginx would fail to bind them).
        v6_http = f"listen [::1]:{self.http_port};" if self.ipv6 else ""
        v6_https = f"listen [::1]:{self.https_port} ssl http2;" if self.ipv6 else ""
        return [
            ("listen 80;", f"listen 127.0.0.1:{self.http_port};"),
            ("listen [::]:80;", v6_http),
            ("listen 443 ssl http2;", f"listen 127.0.0.1:{self.https_port} ssl http2;"),
            ("listen [::]:443 ssl http2;", v6_https),
            (
                "ssl_certificate /etc/letsencrypt/live/trade.example.com/fullchain.pem;",
                f"ssl_certificate {self.certificate.certificate};",
            ),
            (
                "ssl_certificate_key /etc/letsencrypt/live/trade.example.com/privkey.pem;",
                f"ssl_certificate_key {self.certificate.key};",
            ),
            ("root /opt/taptrade/current/web/dist;", f"root {self.web_root};"),
            ("server 127.0.0.1:8000;", f"server 127.0.0.1:{self.gateway_port};"),
        ]


def site_for_test(params: SiteParams, text: str | None = None) -> str:
    text = SITE.read_text() if text is None else text
    for old, new in params.replacements():
        found = text.count(old)
        assert found == 1, (
            f"{SITE.name}: expected {old!r} exactly once, found it {found} times; "
            "update SiteParams.replacements together with the site file"
        )
        text = text.replace(old, new)
    return text


def mime_types_file(binary: str) -> Path | None:
    """The mime.types next to the nginx.conf this nginx was built for (/etc/nginx on Debian)."""
    built = subprocess.run([binary, "-V"], capture_output=True, text=True, check=False).stderr
    match = re.search(r"--conf-path=(\S+)", built)
    candidate = Path(match.group(1)).parent / "mime.types" if match else Path("/etc/nginx/mime.types")
    return candidate if candidate.is_file() else None


def main_conf(directory: Path, binary: str) -> str:
    """Debian 12's nginx.conf, minus what needs root: the http {} settings are Debian's, so a directive the
    site repeated at http level would clash here as it would in production."""
    mime = mime_types_file(binary)
    types = (
        f"include {mime};" if mime else "types { text/html html; application/javascript js; text/css css; }"
    )
    # As root, the workers would switch to `nobody`, which cannot read pytest's private temporary dirs.
    user = "user root root;" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""\
daemon off;
worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} warn;
{user}

events {{
    worker_connections 256;
}}

http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    {types}
    default_type application/octet-stream;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    access_log {directory / "access.log"};
    gzip on;
{temp}

    include {directory / "sites-enabled" / "taptrade.conf"};
}}
"""


def unexpected_warnings(output: str) -> list[str]:
    return [
        line
        for line in output.splitlines()
        if re.search(r"\[(warn|emerg|alert|crit|error)\]", line)
        and not any(allowed.search(line) for allowed in ALLOWED_WARNINGS)
    ]


class Nginx:
    """An nginx master in the foreground, owned by the test; configuration, logs and pid in `directory`."""

    def __init__(self, binary: str, directory: Path, params: SiteParams) -> None:
        self.binary = binary
        self.directory = directory
        self.params = params
        self.proc: subprocess.Popen[bytes] | None = None
        (directory / "sites-enabled").mkdir(parents=True, exist_ok=True)
        (directory / "sites-enabled" / "taptrade.conf").write_text(site_for_test(params))
        self.conf = directory / "nginx.conf"
        self.conf.write_text(main_conf(directory, binary))

    @property
    def argv(self) -> list[str]:
        # -e: the error log before the configuration is read, which by default is under /var/log.
        return [self.binary, "-p", str(self.directory), "-c", str(self.conf), "-e", str(self.error_log)]

    @property
    def error_log(self) -> Path:
        return self.directory / "error.log"

    def check(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.argv, "-t"], capture_output=True, text=True, timeout=30, check=False)

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"nginx exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.params.https_port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"nginx did not listen on {self.params.https_port} within 10 s:\n{self.log()}")

    def stop(self) -> int:
        """Graceful shutdown (SIGQUIT), as `systemctl stop nginx` does."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGQUIT)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def log(self) -> str:
        return self.error_log.read_text() if self.error_log.is_file() else "(no error log)"
