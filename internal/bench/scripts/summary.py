#!/usr/bin/env python3
"""Summarise `posd bench --json` results.

  summary.py FILE...          a table: median of each target's runs, and each run
  summary.py --line FILE      one line for one run
  summary.py --ratio A B FILE...
                              A's CPU per delivery over B's, round by round,
                              pooled, and a 95 % bootstrap interval over rounds
Files are named TAG-TARGET-ROUND.json (as scripts/ab.sh writes them).
"""
import json
import os
import random
import statistics
import sys


def fields(d):
    s = d.get("server_process") or {}
    lat = d["latency_ms"]
    dl = d["deliveries"]
    return {
        "cpu_us": s.get("cpu_us_per_delivery", 0.0),
        "cpu_pct": s.get("cpu_percent", 0.0),
        "rss_kib": s.get("rss_per_conn_kib", 0.0),
        "p50": lat["p50"],
        "p99": lat["p99"],
        "p999": lat["p99_9"],
        "max": lat["max"],
        "dps": dl["per_second"],
        "expected": dl["expected"],
        "received": dl["received"],
        "lost": dl["missing"] + dl["duplicated"] + dl["misrouted"],
        "bench_us": d["bench_process"]["cpu_us_per_delivery"],
        "orders_ps": d["orders"]["achieved_per_s"],
        "http_p99": d["orders"]["http_ms"]["p99"],
    }


def line(f):
    return ("cpu/delivery %(cpu_us).2f µs (%(cpu_pct).0f%% core), p50 %(p50).1f p99 %(p99).1f max %(max).1f ms, "
            "rss/conn %(rss_kib).1f KiB, %(received)d/%(expected)d received, %(lost)d lost/dup/misrouted, "
            "bench %(bench_us).2f µs/delivery" % f)


def split(path):
    """TAG-TARGET-ROUND.json -> (TARGET, ROUND)."""
    name = os.path.basename(path)[:-5].split("-")
    return "-".join(name[1:-1]), name[-1]


def ratio(a, b, paths):
    """Pooled CPU-per-delivery ratio of target a to target b over the rounds
    both ran, with a bootstrap interval: the rounds are resampled, not the
    runs, because an interleaved round shares the host's state of the hour.
    """
    cpu = {}
    for path in paths:
        target, rnd = split(path)
        with open(path) as fh:
            cpu[(target, rnd)] = fields(json.load(fh))["cpu_us"]
    rounds = sorted({r for t, r in cpu if (a, r) in cpu and (b, r) in cpu}, key=int)
    if not rounds:
        sys.exit("no round has both %s and %s" % (a, b))
    pairs = [(cpu[(a, r)], cpu[(b, r)]) for r in rounds]
    for r, (x, y) in zip(rounds, pairs):
        print("round %s: %s %.2f µs, %s %.2f µs, ratio %.3f" % (r, a, x, b, y, x / y))
    pooled = sum(x for x, _ in pairs) / sum(y for _, y in pairs)
    rng = random.Random(1)  # the same interval for the same files
    boot = []
    for _ in range(10000):
        sample = [rng.choice(pairs) for _ in pairs]
        boot.append(sum(x for x, _ in sample) / sum(y for _, y in sample))
    boot.sort()
    print("pooled ratio %.3f over %d rounds, 95 %% interval %.3f-%.3f" % (pooled, len(pairs), boot[250], boot[9749]))


def main(argv):
    if argv[:1] == ["--ratio"]:
        ratio(argv[1], argv[2], argv[3:])
        return
    if argv[:1] == ["--line"]:
        with open(argv[1]) as fh:
            print(line(fields(json.load(fh))))
        return
    groups = {}
    for path in argv:
        target, _ = split(path)
        with open(path) as fh:
            groups.setdefault(target, []).append(fields(json.load(fh)))
    cols = ["cpu_us", "p50", "p99", "max", "rss_kib", "dps", "bench_us", "orders_ps"]
    print("| target | runs | " + " | ".join(cols) + " | lost |")
    print("|---" * (len(cols) + 3) + "|")
    for target, runs in sorted(groups.items()):
        med = {c: statistics.median(r[c] for r in runs) for c in cols}
        lost = sum(r["lost"] for r in runs)
        print("| %s | %d | " % (target, len(runs)) + " | ".join("%.2f" % med[c] for c in cols) + " | %d |" % lost)
        for r in runs:
            print("|  | | " + " | ".join("%.2f" % r[c] for c in cols) + " | %d |" % r["lost"])


if __name__ == "__main__":
    main(sys.argv[1:])
