#!/bin/sh
# A pkiroll deploy hook: copy a community's renewed keystore into a
# gateway's import folder, atomically (a temporary file in the folder,
# then mv), mode 0600.
#
#   deploy_hook = /usr/local/libexec/pkiroll/copy-keystore.sh
#
# Environment (set by pkiroll):
#   PKIROLL_EVENT      enrolled, renewed, revoked or retired
#   PKIROLL_COMMUNITY  the community's name
#   PKIROLL_KEYSTORE   its keystore.p12
# Environment (yours, e.g. in the systemd unit or the crontab line):
#   GATEWAY_IMPORT_DIR the gateway's import folder (required)
#
# The keystore lands as COMMUNITY.p12; a revoked or retired community's
# file is removed instead, so the gateway stops using it. Exits non-zero
# on any failure: pkiroll then keeps the community "deploy pending" and
# runs the hook again (pkiroll deploy, or the next run).
set -eu

: "${GATEWAY_IMPORT_DIR:?set GATEWAY_IMPORT_DIR to the gateway import folder}"
: "${PKIROLL_COMMUNITY:?not run by pkiroll}"
: "${PKIROLL_EVENT:?not run by pkiroll}"

# the name becomes a file name: keep it to one safe path component
name=$(printf '%s' "$PKIROLL_COMMUNITY" | tr -c 'A-Za-z0-9._-' '_')
target="$GATEWAY_IMPORT_DIR/$name.p12"

case $PKIROLL_EVENT in
revoked | retired)
	rm -f -- "$target"
	echo "removed $target ($PKIROLL_EVENT)"
	exit 0
	;;
esac

[ -f "${PKIROLL_KEYSTORE:-}" ] || {
	echo "no keystore for $PKIROLL_COMMUNITY: ${PKIROLL_KEYSTORE:-unset}" >&2
	exit 1
}
umask 077
tmp=$(mktemp "$GATEWAY_IMPORT_DIR/.$name.p12.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
cp -- "$PKIROLL_KEYSTORE" "$tmp"
chmod 0600 "$tmp"
mv -f -- "$tmp" "$target"
trap - EXIT
echo "copied $PKIROLL_KEYSTORE to $target ($PKIROLL_EVENT)"
