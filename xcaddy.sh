#!/usr/bin/env bash
# agentgate's build / run / test / bench entry point.
#
#   ./xcaddy.sh build   build ./agentgate: Caddy with its standard modules and agentgate
#   ./xcaddy.sh run     build, then serve ./Caddyfile (extra args go to `caddy run`)
#   ./xcaddy.sh test    gofmt, go vet, staticcheck (pinned in go.mod), go test -race
#   ./xcaddy.sh bench   compare direct upstream, plain Caddy reverse_proxy and agentgate
#
# `go build ./cmd/agentgate` is exactly what `xcaddy build --with
# github.com/agentgate/agentgate=.` generates and builds; the module proxy
# here only serves an xcaddy too old to build an unpublished local module.
set -euo pipefail
cd "$(dirname "$0")"

BIN=./agentgate

build() {
	echo "building $BIN (first build downloads and compiles Caddy: a few minutes)…" >&2
	go build -o "$BIN" ./cmd/agentgate
}

run() {
	build
	export AGENTGATE_DATA="${AGENTGATE_DATA:-./data}"
	# A host in AGENTGATE_LISTEN (127.0.0.1:8000) is where to listen too,
	# unless AGENTGATE_BIND says otherwise.
	if [ -z "${AGENTGATE_BIND+set}" ]; then
		case "${AGENTGATE_LISTEN:-}" in
		"" | :*) ;;
		*) AGENTGATE_BIND="${AGENTGATE_LISTEN%:*}" && AGENTGATE_BIND="${AGENTGATE_BIND#[}" && export AGENTGATE_BIND="${AGENTGATE_BIND%]}" ;;
		esac
	fi
	if [ -z "${AGENTGATE_API_KEY:-}" ]; then
		keyfile="$AGENTGATE_DATA/bootstrap.key"
		mkdir -p "$AGENTGATE_DATA"
		if [ ! -s "$keyfile" ]; then
			(umask 077 && printf 'agk_%s\n' "$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')" > "$keyfile")
			echo "AGENTGATE_API_KEY is not set: generated a bootstrap key in $keyfile" >&2
		fi
		AGENTGATE_API_KEY="$(cat "$keyfile")"
		export AGENTGATE_API_KEY
		# Where the example Caddyfile serves: AGENTGATE_LISTEN, default :8000.
		listen="${AGENTGATE_LISTEN:-:8000}"
		case "$listen" in :*) listen="localhost$listen" ;; esac
		cat >&2 <<MSG

  Your API key (tenant "default", tier "pro"): $AGENTGATE_API_KEY
  It is kept in $keyfile; set AGENTGATE_API_KEY to use your own instead.
  More keys:  $BIN agentgate key create --tenant <name>
  Try it:     curl -s $listen/v1/models -H "Authorization: Bearer \$(cat $keyfile)"

MSG
	fi
	exec "$BIN" run --config Caddyfile --adapter caddyfile "$@"
}

test_all() {
	echo "== gofmt" >&2
	unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
	if [ -n "$unformatted" ]; then
		echo "gofmt would change: $unformatted" >&2
		exit 1
	fi
	echo "== go vet" >&2
	go vet ./...
	echo "== staticcheck" >&2
	go tool staticcheck ./...
	echo "== go test -race" >&2
	go test -race -count=1 -timeout 12m ./...
}

bench() {
	build
	go run ./cmd/agentgate-bench -binary "$BIN" "$@"
}

case "${1:-}" in
build) build ;;
run) shift; run "$@" ;;
test) test_all ;;
bench) shift; bench "$@" ;;
*)
	echo "usage: $0 build|run|test|bench" >&2
	exit 2
	;;
esac
