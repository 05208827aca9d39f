#!/usr/bin/env bash
# Debian packages the tests need: PostgreSQL server, Redis server, Chromium, OpenLDAP (slapd and
# ldapadd, for the LDIF export) and shadow-utils (pwck/grpck, for the passwd and group exports). Installs only what is missing.
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs npm)
[ -x /usr/sbin/slapd ] || missing+=(slapd)
command -v ldapadd >/dev/null || missing+=(ldap-utils)
[ -x /usr/sbin/pwck ] || missing+=(passwd)
# The real Rucio server the Rucio provisioning tests run against (its own cached virtualenv).
"$(dirname "$0")/install-rucio.sh"
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "Installing ${missing[*]} with apt-get"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian package starts a cluster on 5432; the tests start their own and need none running.
if [[ " ${missing[*]} " == *" postgresql "* ]]; then
  $SUDO service postgresql stop >/dev/null 2>&1 || true
fi
