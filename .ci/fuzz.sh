#!/usr/bin/env bash
# Runs every Go fuzz target for a few seconds (FUZZTIME, default 3s). The
# committed seed corpora under testdata/fuzz/ also run as plain tests in
# `go test`; this explores beyond them. A failure leaves the crasher under
# the package's testdata/fuzz/ for `go test -run=FuzzX/<id>` to replay.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
fuzztime=${FUZZTIME:-3s}

# Every package with a Fuzz target, and its targets.
status=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u || true)
  for target in $targets; do
    echo "-- $pkg $target ($fuzztime)"
    for attempt in 1 2; do
      if out=$(go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg" 2>&1); then
        echo "$out" | tail -1
        break
      fi
      echo "$out"
      # Go's fuzzer can stop with "context deadline exceeded" when -fuzztime
      # ends while it minimizes a new input; that is no finding (no failing
      # input is written), so such a run is tried once more. Anything else
      # is a failure.
      if [ "$attempt" = 1 ] && grep -q "context deadline exceeded" <<<"$out" && ! grep -q "Failing input written" <<<"$out"; then
        echo "   (fuzzer stopped mid-minimization without a finding; running $target again)"
        continue
      fi
      status=1
      break
    done
  done
done
exit $status
