#!/usr/bin/env python3
"""Summarise `posd bench --json` results.

  summary.py FILE...          a table: median of each target's runs, and each run
  summary.py --line FILE      one line for one run
Files are named TAG-TARGET-ROUND.json (as scripts/ab.sh writes them).
"""
import json
import os
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


def main(argv):
    if argv[:1] == ["--line"]:
        with open(argv[1]) as fh:
            print(line(fields(json.load(fh))))
        return
    groups = {}
    for path in argv:
        name = os.path.basename(path)[:-5]
        target = "-".join(name.split("-")[1:-1])
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
