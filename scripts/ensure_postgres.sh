#!/usr/bin/env bash
# Make sure PostgreSQL answers on HOST:PORT; start the local cluster if it is installed
# but stopped. Exits non-zero with a sentence when it cannot.
set -euo pipefail
host=${1:-127.0.0.1}
port=${2:-5432}
user=${3:-postgres}

ready() { pg_isready -q -h "$host" -p "$port" -U "$user"; }

ready && exit 0
if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "PostgreSQL is not answering on $host:$port; starting cluster $version/main"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 30); do ready && exit 0; sleep 1; done
fi
echo "PostgreSQL is not reachable on $host:$port and no local cluster could be started" >&2
exit 1
