#!/bin/sh
# Runs on the deployment host, fed over ssh by .github/workflows/log-analysis.yml:
#   ssh HOST sh -s -- LOG_DIR HOURS MAX_BYTES < deploy/logs/collect.sh > logs.tar.gz
# Writes to stdout a gzipped tar with one <role>.log per role, covering the last HOURS hours:
#   - LOG_DIR set: the files `fff up` writes in its working directory (.fff/logs/<role>.log:
#     gateway, scanner, executor, risk, rebalancer, sim; up.log if the operator sends the output
#     of `fff up` itself there), each only if written to within the window;
#   - LOG_DIR empty: the journal of the systemd units fff@<role> (deploy/systemd/fff@.service).
# The output of a unit fff-up.service (`fff up` under systemd) becomes up.log when there is no
# up.log file. Each file is cut to its newest MAX_BYTES; deploy/logs/trim_logs.py, on the runner,
# drops the lines older than the window and fits every role into the request.
# POSIX sh and coreutils only: nothing is installed on the host.
set -eu
log_dir=${1:-}
hours=${2:-4}
max_bytes=${3:-50000000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

if [ -n "$log_dir" ]; then
  [ -d "$log_dir" ] || { echo "collect.sh: no directory $log_dir" >&2; exit 1; }
  for file in "$log_dir"/*.log; do
    [ -f "$file" ] || continue
    if [ -n "$(find "$file" -mmin "-$((hours * 60))")" ]; then
      tail -c "$max_bytes" "$file" > "$out/$(basename "$file")"
    fi
  done
else
  for role in gateway scanner executor risk rebalancer sim; do
    journalctl --quiet --no-pager --output cat --unit "fff@$role.service" --since "$hours hours ago" \
      | tail -c "$max_bytes" > "$out/$role.log" || true
  done
fi
if [ ! -s "$out/up.log" ] && command -v journalctl > /dev/null 2>&1; then
  journalctl --quiet --no-pager --output cat --unit fff-up.service --since "$hours hours ago" \
    2> /dev/null | tail -c "$max_bytes" > "$out/up.log" || true
fi
# Empty files carry no lines; leave them out.
find "$out" -type f -size 0 -delete
tar -czf - -C "$out" .
