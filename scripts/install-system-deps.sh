#!/usr/bin/env bash
# Installs the operating-system packages the tests need when they are missing (Debian/Ubuntu).
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -x /usr/bin/chromium ] || need+=(chromium)  # the web app's browser tests drive Debian's chromium
# tests/deploy/ runs `nginx -t` on deploy/nginx/taptrade.conf and serves the app through it. Debian's
# `nginx` package has everything the site uses (ssl, http2, limit_req, limit_conn) built in.
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx)
# `systemd-analyze verify` checks deploy/systemd/; slim container images lack it.
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# promtool checks and unit-tests deploy/prometheus/alerts.yml.
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing: ${need[*]}; install them with your package manager and run again" >&2
    exit 1
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing ${need[*]} with apt-get" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
# The tests run their own unprivileged nginx; the package's service would only serve Debian's default
# page on port 80 of this machine.
# Likewise Prometheus's own service would scrape nothing of ours.
if [ -d /run/systemd/system ]; then
    for service in nginx prometheus; do
        if [[ " ${need[*]} " == *" $service "* ]]; then
            $sudo systemctl disable --now "$service.service" >/dev/null 2>&1 || true
        fi
    done
fi
