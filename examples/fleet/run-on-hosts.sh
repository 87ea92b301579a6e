#!/usr/bin/env bash
# Runs `hubwire fleet` on a list of hosts over ssh, one shard per host, and
# merges their reports here. Each host needs Node 20+ and network access to
# the hub; the service connection string is passed in the environment, not
# on the command line.
#
#   IOTHUB_CONNECTION_STRING='HostName=…' ./run-on-hosts.sh hosts.txt --count 40000 --duration 10m
#
# hosts.txt: one ssh destination a line (user@host). Extra arguments go to every shard.
set -euo pipefail
hosts_file=$1
shift
mapfile -t hosts < <(grep -v '^\s*\(#\|$\)' "$hosts_file")
n=${#hosts[@]}
[ "$n" -gt 0 ] || { echo "no hosts in $hosts_file" >&2; exit 2; }
: "${IOTHUB_CONNECTION_STRING:?set IOTHUB_CONNECTION_STRING to the service connection string}"
mkdir -p reports
pids=()
for i in "${!hosts[@]}"; do
    h=${hosts[$i]}
    echo "shard $i/$n on $h" >&2
    # The connection string goes over ssh's stdin, never into a process list.
    printf '%s\n' "$IOTHUB_CONNECTION_STRING" | ssh "$h" \
        "read -r IOTHUB_CONNECTION_STRING; export IOTHUB_CONNECTION_STRING; npx --yes hubwire fleet --shard $i/$n --report /tmp/hubwire-shard-$i.json --progress line $(printf '%q ' "$@")" \
        >"reports/shard-$i.log" 2>&1 &
    pids+=($!)
done
status=0
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { echo "shard $i on ${hosts[$i]} exited $?" >&2; status=1; }
    scp -q "${hosts[$i]}:/tmp/hubwire-shard-$i.json" "reports/shard-$i.json" || status=1
done
npx --yes hubwire fleet merge reports/shard-*.json --report reports/merged.json --csv reports/merged.csv || status=1
exit $status
