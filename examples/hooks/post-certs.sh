#!/bin/sh
# A pkiroll deploy hook: POST a community's new certificates (PEM) to an
# HTTP API with curl, as one JSON object:
#
#   {"community": "...", "as2_id": "...", "event": "renewed",
#    "serials": "...", "signing": "-----BEGIN...", "encryption": "...",
#    "chain": "..."}
#
#   deploy_hook = /usr/local/libexec/pkiroll/post-certs.sh
#
# The receiving end is yours: this script assumes no product's API. Adapt
# the JSON to what your endpoint accepts.
#
# Environment (set by pkiroll): PKIROLL_EVENT, PKIROLL_COMMUNITY,
#   PKIROLL_AS2_ID, PKIROLL_SERIALS, PKIROLL_SIGNING_CERT,
#   PKIROLL_ENCRYPTION_CERT, PKIROLL_CHAIN (PEM file paths).
# Environment (yours):
#   CERTS_API_URL         where to POST (required)
#   CERTS_API_TOKEN_FILE  a file holding a bearer token (optional); the
#                         token is passed to curl in a header file, never
#                         on its command line
#
# Only certificates leave: no key, no keystore, no passphrase. Exits
# non-zero when the API does not answer 2xx (pkiroll then keeps the
# community "deploy pending").
set -eu

: "${CERTS_API_URL:?set CERTS_API_URL}"
: "${PKIROLL_COMMUNITY:?not run by pkiroll}"

# a JSON string of a file's or a value's text
json_file() {
	if [ -n "${1:-}" ] && [ -f "$1" ]; then
		awk 'BEGIN { printf "\"" }
		     { gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); printf "%s\\n", $0 }
		     END { printf "\"" }' "$1"
	else
		printf 'null'
	fi
}
json_text() {
	printf '%s' "$1" | awk 'BEGIN { printf "\"" }
		{ gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); printf "%s%s", (NR > 1 ? "\\n" : ""), $0 }
		END { printf "\"" }'
}

umask 077
body=$(mktemp)
headers=$(mktemp)
trap 'rm -f -- "$body" "$headers"' EXIT
{
	printf '{"community": %s, "as2_id": %s, "event": %s, "serials": %s,' \
		"$(json_text "$PKIROLL_COMMUNITY")" "$(json_text "${PKIROLL_AS2_ID:-}")" \
		"$(json_text "${PKIROLL_EVENT:-}")" "$(json_text "${PKIROLL_SERIALS:-}")"
	printf ' "signing": %s, "encryption": %s, "chain": %s}\n' \
		"$(json_file "${PKIROLL_SIGNING_CERT:-}")" \
		"$(json_file "${PKIROLL_ENCRYPTION_CERT:-}")" "$(json_file "${PKIROLL_CHAIN:-}")"
} >"$body"
: >"$headers"
if [ -n "${CERTS_API_TOKEN_FILE:-}" ]; then
	printf 'Authorization: Bearer %s\n' "$(head -n 1 "$CERTS_API_TOKEN_FILE")" >"$headers"
fi
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 60 \
	-H 'Content-Type: application/json' -H "@$headers" \
	--data-binary "@$body" -- "$CERTS_API_URL")
case $code in
2??) echo "posted $PKIROLL_COMMUNITY's certificates: HTTP $code" ;;
*)
	echo "$CERTS_API_URL answered HTTP $code" >&2
	exit 1
	;;
esac
