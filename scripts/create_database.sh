#!/usr/bin/env bash
# Create database NAME on HOST:PORT unless it exists already.
set -euo pipefail
host=$1 port=$2 user=$3 name=$4
exists=$(psql -h "$host" -p "$port" -U "$user" -d postgres -At -v name="$name" \
  <<< "SELECT 1 FROM pg_database WHERE datname = :'name'")
if [ "$exists" != "1" ]; then
  createdb -h "$host" -p "$port" -U "$user" "$name"
  echo "created database $name"
fi
