#!/usr/bin/env bash
# Makes sure Debian's PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are installed, for the tests,
# which start their own throwaway server from them. Quiet and quick when they are already there.
set -euo pipefail

have_binaries() {
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

if have_binaries; then
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "ensure-postgres: PostgreSQL server binaries are missing (/usr/lib/postgresql/*/bin/initdb)." >&2
    echo "ensure-postgres: install them as root: apt-get install postgresql" >&2
    exit 1
fi

echo "ensure-postgres: installing Debian's postgresql package..." >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes apt-get install -y -qq --no-install-recommends postgresql >/dev/null

# The package creates and may start a "main" cluster; the tests run their own server, so don't leave one
# running (it would hold port 5432 and memory). Harmless when none was started.
if command -v pg_lsclusters >/dev/null; then
    pg_lsclusters --no-header 2>/dev/null | while read -r version name _; do
        pg_ctlcluster --force "$version" "$name" stop >/dev/null 2>&1 || true
    done
fi
service postgresql stop >/dev/null 2>&1 || true

if ! have_binaries; then
    echo "ensure-postgres: installed postgresql but found no /usr/lib/postgresql/*/bin/initdb" >&2
    exit 1
fi
echo "ensure-postgres: installed $(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1)" >&2
