#!/bin/sh
# Fetch one Gatehouse export onto a storage node, only when it changed, and put it in place
# atomically (temporary file in the same directory, fsync, rename).
#
#   fetch-export.sh FORMAT DESTINATION
#
# FORMAT is multimap-ids, multimap-campaigns, group, passwd or ldif. Settings from the
# environment:
#   GATEHOUSE_URL         https://gatehouse.example.org
#   GATEHOUSE_TOKEN_FILE  a file (mode 0600) holding one line: Authorization: Bearer <token>
#   GATEHOUSE_STATE_DIR   where the ETag of each format is kept (default /var/lib/gatehouse)
# Exit status: 0 when the file is current (replaced or unchanged), non-zero on any failure, in
# which case DESTINATION is left as it was.
set -eu
format=$1
dest=$2
url=${GATEHOUSE_URL:-https://gatehouse.example.org}
token_file=${GATEHOUSE_TOKEN_FILE:-/etc/gatehouse/node-token.header}
state=${GATEHOUSE_STATE_DIR:-/var/lib/gatehouse}
etag="$state/$format.etag"

mkdir -p "$state"
tmp=$(mktemp "$dest.XXXXXX")
trap 'rm -f "$tmp" "$etag.new"' EXIT

# --fail: an HTTP error is a failure; a cut-off transfer is one too (curl exits non-zero).
# --etag-compare sends If-None-Match from the saved ETag; a 304 leaves the file alone.
code=$(curl --silent --show-error --fail --max-time 300 \
    --header @"$token_file" \
    --etag-compare "$etag" --etag-save "$etag.new" \
    --output "$tmp" --write-out '%{http_code}' \
    "$url/exports/$format")

if [ "$code" = 200 ]; then
    if [ -e "$dest" ]; then chmod --reference="$dest" "$tmp"; else chmod 0644 "$tmp"; fi
    sync "$tmp"
    mv -f "$tmp" "$dest"
    sync "$(dirname "$dest")"
    mv -f "$etag.new" "$etag"
fi
