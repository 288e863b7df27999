#!/usr/bin/env bash
# Run a command and print the peak of its whole process tree's resident memory (the sum
# of VmRSS over the command and every descendant, sampled every 0.2 s), which
# /usr/bin/time -v cannot give for a command that forks workers.
#   bash bench/peak_rss.sh .venv/bin/tagsim index --data DOCS --home HOME
set -u
"$@" &
pid=$!
peak=0
while kill -0 "$pid" 2>/dev/null; do
  total=0
  for p in $(pstree -p "$pid" | grep -o '([0-9]*)' | tr -d '()'); do
    kb=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null)
    total=$((total + ${kb:-0}))
  done
  [ "$total" -gt "$peak" ] && peak=$total
  sleep 0.2
done
wait "$pid"
status=$?
echo "peak RSS of the process tree: $((peak / 1024)) MiB (exit status $status)" >&2
exit $status
