#!/usr/bin/env bash
# Debian packages the tests need: PostgreSQL server, Redis server, Chromium, Node, OpenLDAP
# (slapd and ldapadd, for the LDIF export), shadow-utils (pwck/grpck, for the passwd and group
# exports) and XRootD with the SciTokens plugin (a real storage element for the storage-token
# tests); then the real Rucio server in its own cached virtualenv. Installs only what is missing.
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs npm)
[ -x /usr/sbin/slapd ] || missing+=(slapd)
command -v ldapadd >/dev/null || missing+=(ldap-utils)
[ -x /usr/sbin/pwck ] || missing+=(passwd)
command -v curl >/dev/null || missing+=(curl)
command -v openssl >/dev/null || missing+=(openssl)
for pkg in xrootd-server xrootd-server-plugins xrootd-scitokens-plugins xrootd-client scitokens-cpp; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing ${missing[*]} with apt-get"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts the packaged servers (PostgreSQL on 5432, slapd on every address); the tests
  # start their own on loopback and need none running.
  for service in postgresql slapd; do
    $SUDO service "$service" stop >/dev/null 2>&1 || true
  done
fi
# The real Rucio server the Rucio provisioning tests run against (its own cached virtualenv).
"$(dirname "$0")/install-rucio.sh"
