#!/usr/bin/env python3
"""Turns JMH's JSON result file (-rf json) into the Markdown table of benchmarks/RESULTS-jmh.md."""
import json
import sys


def main(path):
    runs = json.load(open(path))
    print("## JMH\n")
    print("JDK %s, %s. Command: `java -jar benchmarks/target/benchmarks.jar -prof gc -rf json -rff FILE`.\n"
          % (runs[0]["jdkVersion"], runs[0]["vmName"]) if runs else "")
    print("| benchmark | params | score | error | unit | alloc B/op | failed offers |")
    print("|---|---|---|---|---|---|---|")
    for r in runs:
        name = r["benchmark"].split(".")[-2] + "." + r["benchmark"].split(".")[-1]
        params = ", ".join("%s=%s" % kv for kv in (r.get("params") or {}).items())
        p = r["primaryMetric"]
        sec = r.get("secondaryMetrics", {})
        alloc = sec.get("gc.alloc.rate.norm", {}).get("score")
        failed = sec.get("failedOffers", {}).get("score")
        print("| %s | %s | %.3f | %.3f | %s | %s | %s |" % (
            name, params, p["score"], p["scoreError"] if p["scoreError"] == p["scoreError"] else 0.0,
            p["scoreUnit"], "-" if alloc is None else "%.1f" % alloc, "-" if failed is None else "%.0f" % failed))


if __name__ == "__main__":
    main(sys.argv[1])
