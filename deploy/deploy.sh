#!/usr/bin/env bash
# Deploy Tap Trading: build a release from one git commit (or take one already built), point
# $ROOT/current at it atomically, restart the services, and check that the new build is the one answering
# and that it is healthy. If it is not, go back to the release that was live, by itself.
#
# Releases are directories $ROOT/releases/<UTC yyyymmddThhmmssZ>-<short sha>/, each self-contained: the
# commit's source tree, its own .venv (non-editable install, so the code cannot change under a running
# process), the built web app and BUILD_INFO.json, which the app serves at /api/version. The systemd units
# run $ROOT/current/.venv/bin/taptrade, so switching the symlink and restarting is the whole deploy.
#
# Run `deploy.sh --help` for the options and exit codes; docs/runbooks/deploy-and-rollback.md for the procedure.
set -euo pipefail

readonly KEEP_RELEASES=5
readonly EXIT_ROLLED_BACK=1   # the new release failed its checks; the previous one is live and healthy
readonly EXIT_DOWN=2          # the rollback failed its checks too: nothing healthy is answering
readonly EXIT_NOT_DEPLOYED=3  # stopped before switching anything: the live release is untouched
readonly EXIT_USAGE=64

usage() {
	cat <<'EOF'
Usage:
  deploy.sh [--source DIR] [--commit REF] [options]     build a release from git, then deploy it
  deploy.sh --build-only [--source DIR] [--commit REF]  build a release, print its directory, deploy nothing
  deploy.sh --release DIR [options]                     deploy a release already built under ROOT/releases
  deploy.sh --rollback [options]                        go back to the release that was live before

Options:
  --root DIR          installation root (env TAPTRADE_ROOT; default /opt/taptrade)
  --source DIR        git checkout to build from (default: the repository holding this script)
  --commit REF        commit to build (default HEAD); only committed files ship (git archive)
  --health-url URL    the gateway to check (env TAPTRADE_HEALTH_URL; default http://127.0.0.1:8000)
  --timeout S         seconds the new release has to pass its checks (default 60)
  -h, --help          this text

Environment:
  TAPTRADE_RESTART_CMD  how to restart the services, run with bash -c
                        (default: systemctl restart taptrade.target)
  TAPTRADE_PYTHON       interpreter for a new release's .venv (default python3, >= 3.11)

Checks after the restart, until --timeout: GET /api/version answers the release's git_commit (so the new
processes, not old ones, are answering) and GET /api/healthz answers HTTP 200.

Exit codes:
  0  the release is live and healthy (older releases pruned: the newest 5 are kept, and always the
     current and previous ones)
  1  the release failed its checks; the previous release was put back and is healthy
  2  the previous release failed its checks too: nothing healthy is answering
  3  stopped before switching (bad release, build failure, another deploy running): nothing changed
  64 bad arguments
EOF
}

log() {
	printf '%s deploy: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

die() {
	local code=$1
	shift
	log "error: $*"
	exit "$code"
}

# ---------------------------------------------------------------------------------------------------------
# Arguments

root=${TAPTRADE_ROOT:-/opt/taptrade}
source_dir=""
commit=""
release_arg=""
rollback=0
build_only=0
health_url=${TAPTRADE_HEALTH_URL:-http://127.0.0.1:8000}
timeout_s=60
restart_cmd=${TAPTRADE_RESTART_CMD:-systemctl restart taptrade.target}
python=${TAPTRADE_PYTHON:-python3}

need_value() {
	[[ $# -ge 2 && -n $2 ]] || die "$EXIT_USAGE" "$1 needs a value (see --help)"
}

while [[ $# -gt 0 ]]; do
	case $1 in
	--root) need_value "$@"; root=$2; shift 2 ;;
	--source) need_value "$@"; source_dir=$2; shift 2 ;;
	--commit) need_value "$@"; commit=$2; shift 2 ;;
	--release) need_value "$@"; release_arg=$2; shift 2 ;;
	--rollback) rollback=1; shift ;;
	--build-only) build_only=1; shift ;;
	--health-url) need_value "$@"; health_url=$2; shift 2 ;;
	--timeout) need_value "$@"; timeout_s=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) die "$EXIT_USAGE" "unknown argument: $1 (see --help)" ;;
	esac
done

[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || die "$EXIT_USAGE" "--timeout must be a whole number of seconds, got '$timeout_s'"
if [[ -n $release_arg && (-n $source_dir || -n $commit) ]]; then
	die "$EXIT_USAGE" "--release takes a built release; it does not go with --source or --commit"
fi
if [[ $rollback == 1 && (-n $release_arg || -n $source_dir || -n $commit || $build_only == 1) ]]; then
	die "$EXIT_USAGE" "--rollback goes back to the previous release; it takes no --release, --source, --commit or --build-only"
fi
if [[ $build_only == 1 && -n $release_arg ]]; then
	die "$EXIT_USAGE" "--build-only builds a release; it does not go with --release"
fi
health_url=${health_url%/}
command -v curl >/dev/null || die "$EXIT_NOT_DEPLOYED" "curl is required"

releases_dir=$root/releases
current_link=$root/current
# The release that was live before the current one: what --rollback and an automatic rollback go back to.
previous_link=$root/previous

# ---------------------------------------------------------------------------------------------------------
# Helpers

# Prints the string field $1 of the JSON object on stdin (empty when absent). jq when installed, else
# python3, which a host able to build releases has anyway.
json_field() {
	if command -v jq >/dev/null; then
		jq -r --arg key "$1" '.[$key] // empty | tostring'
	else
		python3 -c 'import json, sys
value = json.load(sys.stdin).get(sys.argv[1])
print("" if value is None else value)' "$1"
	fi
}

# The release name a link points at, or nothing when the link is missing or dangling.
link_release() {
	local target
	target=$(readlink "$1" 2>/dev/null) || return 0
	target=$(basename "$target")
	if [[ -d $releases_dir/$target ]]; then
		printf '%s\n' "$target"
	fi
}

# Points link $1 at release $2, or removes it when $2 is empty. ln -sfn alone unlinks and re-creates, so a
# process starting in between would find no link; rename(2) over the old link is atomic.
set_link() {
	local link=$1 release=$2 tmp
	if [[ -z $release ]]; then
		rm -f -- "$link"
		return
	fi
	tmp=$link.tmp.$$
	# Explicit checks: callers run inside `if`, where set -e does not apply.
	ln -sfn "releases/$release" "$tmp" || die "$EXIT_DOWN" "cannot create $tmp"
	mv -T -- "$tmp" "$link" || die "$EXIT_DOWN" "cannot rename $tmp to $link"
}

release_commit() {
	json_field git_commit <"$releases_dir/$1/BUILD_INFO.json"
}

# Fails with a reason unless $1 names a complete release under $releases_dir.
check_release() {
	local dir=$releases_dir/$1 commit_of
	[[ -f $dir/BUILD_INFO.json ]] || die "$EXIT_NOT_DEPLOYED" "$dir has no BUILD_INFO.json: not a complete release"
	commit_of=$(release_commit "$1") || die "$EXIT_NOT_DEPLOYED" "$dir/BUILD_INFO.json is not valid JSON"
	[[ -n $commit_of ]] || die "$EXIT_NOT_DEPLOYED" "$dir/BUILD_INFO.json has no git_commit"
	[[ -x $dir/.venv/bin/taptrade ]] || die "$EXIT_NOT_DEPLOYED" "$dir/.venv/bin/taptrade is missing"
	# A release whose interpreter cannot even import the package would only fail after the restart, with
	# the site down until the rollback; catch that while the old release is still serving.
	"$dir/.venv/bin/python" -c 'import taptrade.cli' ||
		die "$EXIT_NOT_DEPLOYED" "$dir/.venv cannot import taptrade: the release is broken"
}

restart() {
	local rc=0
	log "restarting the services: $restart_cmd"
	# fd 9 (the deploy lock) closed: a process the command leaves running must not hold the lock.
	bash -c "$restart_cmd" >&2 9>&- || rc=$?
	if [[ $rc != 0 ]]; then
		log "the restart command failed (exit $rc)"
		return 1
	fi
}

# Polls until the gateway serves release $1's commit at /api/version and /api/healthz answers 200.
healthy() {
	local release=$1 expected served code deadline
	expected=$(release_commit "$release")
	deadline=$((SECONDS + timeout_s))
	log "checking $health_url: /api/version must answer git_commit $expected and /api/healthz HTTP 200 (within ${timeout_s} s)"
	while true; do
		served=$(curl -fsS --max-time 2 "$health_url/api/version" 2>/dev/null | json_field git_commit 2>/dev/null) || served=""
		code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 2 "$health_url/api/healthz" 2>/dev/null) || true
		code=${code:-000}
		if [[ $served == "$expected" && $code == 200 ]]; then
			log "healthy: $release answers (git_commit $served, /api/healthz 200)"
			return 0
		fi
		if ((SECONDS >= deadline)); then
			log "not healthy after ${timeout_s} s: /api/version git_commit '${served:-no answer}' (want $expected), /api/healthz HTTP $code"
			return 1
		fi
		sleep 0.5
	done
}

# Makes release $1 live, with $2 as the release to go back to; restarts and checks it.
go_live() {
	local release=$1 previous=$2
	log "switching $current_link -> releases/$release (previous: ${previous:-none})"
	# previous first: a crash between the two renames leaves both links on the old release, which is safe.
	set_link "$previous_link" "$previous"
	set_link "$current_link" "$release"
	restart && healthy "$release"
}

# After $1 failed its checks: put back $2 (with $3 as its previous), restart, check, and exit.
roll_back() {
	local failed=$1 back_to=$2 back_previous=$3
	if [[ -z $back_to ]]; then
		log "FAILED: $failed is not healthy and there is no earlier release to go back to; current stays on $failed"
		exit "$EXIT_DOWN"
	fi
	log "FAILED: $failed did not pass its checks; rolling back to $back_to"
	if go_live "$back_to" "$back_previous"; then
		log "ROLLED BACK: $failed failed its checks; $back_to is live again and healthy. Look at why: journalctl -u taptrade-gateway -u taptrade-ledger -u taptrade-feed --since '-15 min'"
		exit "$EXIT_ROLLED_BACK"
	fi
	log "ROLLBACK FAILED: $back_to is not healthy either; nothing healthy is answering. current -> $back_to. See docs/runbooks/deploy-and-rollback.md"
	exit "$EXIT_DOWN"
}

# Removes all but the newest $KEEP_RELEASES complete releases, never the current or the previous one.
# Version names start with the build's UTC time, so their sort order is their age.
prune() {
	local current previous name i
	local -a releases=()
	current=$(link_release "$current_link")
	previous=$(link_release "$previous_link")
	while IFS= read -r name; do
		if [[ -f $releases_dir/$name/BUILD_INFO.json ]]; then
			releases+=("$name")
		else
			log "warning: $releases_dir/$name has no BUILD_INFO.json (an interrupted build?); left alone"
		fi
	done < <(find "$releases_dir" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | LC_ALL=C sort)
	for ((i = 0; i < ${#releases[@]} - KEEP_RELEASES; i++)); do
		name=${releases[i]}
		if [[ $name == "$current" || $name == "$previous" ]]; then
			continue
		fi
		log "pruning old release $name"
		rm -rf -- "${releases_dir:?}/$name"
	done
}

# ---------------------------------------------------------------------------------------------------------
# Building a release

building=""
# shellcheck disable=SC2317  # only reached through the EXIT trap
cleanup() {
	rm -f -- "$current_link.tmp.$$" "$previous_link.tmp.$$"
	if [[ -n $building ]]; then
		log "removing the incomplete release $building"
		rm -rf -- "$building"
	fi
}
trap cleanup EXIT

# Builds a release from $source_dir at $commit; sets $release to its name.
build_release() {
	local sha short version dir build_time tool
	if [[ -z $source_dir ]]; then
		source_dir=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel) ||
			die "$EXIT_NOT_DEPLOYED" "this script is not inside a git checkout; give --source or --release"
	fi
	for tool in git tar npm "$python"; do
		command -v "$tool" >/dev/null || die "$EXIT_NOT_DEPLOYED" "$tool is required to build a release"
	done
	"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
		die "$EXIT_NOT_DEPLOYED" "Python >= 3.11 is required; $python is $("$python" --version 2>&1)"
	sha=$(git -C "$source_dir" rev-parse --verify --quiet "${commit:-HEAD}^{commit}") ||
		die "$EXIT_NOT_DEPLOYED" "no commit '${commit:-HEAD}' in $source_dir"
	short=$(git -C "$source_dir" rev-parse --short "$sha")
	version="$(date -u +%Y%m%dT%H%M%SZ)-$short"
	dir=$releases_dir/$version
	[[ ! -e $dir ]] || die "$EXIT_NOT_DEPLOYED" "$dir already exists"

	building=$dir
	mkdir -p -- "$dir" || die "$EXIT_NOT_DEPLOYED" "cannot create $dir"
	log "building $version: exporting commit $sha from $source_dir"
	# git archive, not a copy of the checkout: uncommitted and ignored files never ship.
	git -C "$source_dir" archive --format=tar "$sha" | tar -x -C "$dir" ||
		die "$EXIT_NOT_DEPLOYED" "git archive of $sha failed"
	log "building $version: creating .venv and installing (pip install -c constraints.txt .)"
	"$python" -m venv "$dir/.venv" || die "$EXIT_NOT_DEPLOYED" "$python -m venv failed (Debian: apt-get install python3-venv)"
	# Non-editable: the release's code is its own copy in site-packages, pinned by constraints.txt.
	(cd "$dir" && .venv/bin/pip install --quiet --disable-pip-version-check -c constraints.txt .) ||
		die "$EXIT_NOT_DEPLOYED" "pip install failed"
	if [[ ! -f $dir/web/dist/index.html ]]; then
		log "building $version: the web app (npm ci && npm run build)"
		(cd "$dir/web" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund && npm run build) >&2 ||
			die "$EXIT_NOT_DEPLOYED" "the web app's build failed"
		# Only web/dist is served; node_modules would cost hundreds of MB in each kept release.
		rm -rf -- "$dir/web/node_modules"
	fi
	build_time=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	# Written last, and atomically: a directory without it is an unfinished build, never deployed or counted.
	printf '{"git_commit": "%s", "build_time": "%s", "version": "%s"}\n' "$sha" "$build_time" "$version" \
		>"$dir/BUILD_INFO.json.tmp"
	mv -- "$dir/BUILD_INFO.json.tmp" "$dir/BUILD_INFO.json"
	building=""
	log "built $version"
	release=$version
}

# ---------------------------------------------------------------------------------------------------------
# Main

mkdir -p -- "$releases_dir"
# One deploy at a time: two would race on the links and on pruning.
if command -v flock >/dev/null; then
	exec 9>"$root/.deploy.lock"
	flock -n 9 || die "$EXIT_NOT_DEPLOYED" "another deploy holds $root/.deploy.lock"
fi

live=$(link_release "$current_link")
live_previous=$(link_release "$previous_link")

if [[ $rollback == 1 ]]; then
	[[ -n $live ]] || die "$EXIT_NOT_DEPLOYED" "$current_link does not point at a release: nothing to roll back from"
	target=$live_previous
	if [[ -z $target ]]; then
		# No record of what was live before: take the newest release older than the live one.
		target=$(find "$releases_dir" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | LC_ALL=C sort |
			awk -v live="$live" '$0 < live' | tail -n 1)
	fi
	[[ -n $target && $target != "$live" ]] || die "$EXIT_NOT_DEPLOYED" "no earlier release to roll back to"
	check_release "$target"
	log "rolling back on request: $live -> $target"
	# The release we leave becomes the previous one: a second --rollback undoes the first.
	if go_live "$target" "$live"; then
		log "ROLLED BACK: $target is live and healthy (previous: $live)"
		exit 0
	fi
	roll_back "$target" "$live" "$live_previous"
fi

if [[ -n $release_arg ]]; then
	[[ -d $release_arg ]] || die "$EXIT_NOT_DEPLOYED" "no directory $release_arg"
	release_parent=$(cd -- "$release_arg/.." && pwd -P)
	if [[ $release_parent != "$(cd -- "$releases_dir" && pwd -P)" ]]; then
		# A virtualenv is not relocatable: a release works only where it was built.
		die "$EXIT_NOT_DEPLOYED" "$release_arg is not a directory of $releases_dir"
	fi
	release=$(basename -- "$(cd -- "$release_arg" && pwd -P)")
else
	build_release
	if [[ $build_only == 1 ]]; then
		check_release "$release"
		log "BUILT: $releases_dir/$release (not deployed)"
		printf '%s\n' "$releases_dir/$release"
		exit 0
	fi
fi

check_release "$release"
if [[ $release == "$live" ]]; then
	die "$EXIT_NOT_DEPLOYED" "$release is already live; to restart it: $restart_cmd"
fi
log "deploying $release (git_commit $(release_commit "$release")); live now: ${live:-none}"
if go_live "$release" "$live"; then
	prune
	log "DEPLOYED: $release is live and healthy (previous: ${live:-none})"
	exit 0
fi
roll_back "$release" "$live" "$live_previous"
