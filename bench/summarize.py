#!/usr/bin/env python3
"""summarize.py — the table at the end of bench/peers.sh.

Reads the results file peers.sh writes, one line per engine per round:
  round=R RESULT engine=E batch=B iters=N min_ms=.. median_ms=.. p90_ms=.. mean_ms=.. images_per_s=..
and prints, per engine: the min of the per-round minimum latencies, the median
of the per-round medians and p90s, ms per image, images/s (median and best
round), the most CPU other processes took during one of its runs
(peers.sh's foreign=PCT, -1 when absent), and the ratios against kiln measured in the same round (engine median
latency / kiln median latency, and the same for minimum latencies): the median
of the per-round ratios and their spread min..max. A ratio above 1 means kiln
was faster in that round. The first engine named `kiln` is the reference.

  python3 bench/summarize.py results.txt [title]

Non-goals: statistics beyond min/median/spread (the host is too noisy for them).
"""
import statistics
import sys


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            kv = dict(t.split("=", 1) for t in line.split() if "=" in t)
            if "engine" not in kv:
                continue
            for k in ("min_ms", "median_ms", "p90_ms", "mean_ms", "images_per_s"):
                kv[k] = float(kv[k])
            kv["round"] = int(kv["round"])
            kv["batch"] = int(kv["batch"])
            kv["iters"] = int(kv["iters"])
            kv["foreign"] = int(kv.get("foreign", -1))
            rows.append(kv)
    return rows


def spread(vals):
    if not vals:
        return "-"
    return f"{statistics.median(vals):.3f} [{min(vals):.3f}..{max(vals):.3f}]"


def main():
    if len(sys.argv) < 2:
        raise SystemExit("usage: summarize.py results.txt [title]")
    rows = load(sys.argv[1])
    if not rows:
        raise SystemExit("summarize.py: no results")
    engines = []
    for r in rows:
        if r["engine"] not in engines:
            engines.append(r["engine"])
    ref = "kiln" if "kiln" in engines else engines[0]
    by = {(r["engine"], r["round"]): r for r in rows}
    rounds = sorted({r["round"] for r in rows})
    batch = rows[0]["batch"]
    if len(sys.argv) > 2:
        print(sys.argv[2])

    print("\nper round: median latency ms (iterations, % of the CPU other processes took)")
    print("round  " + "".join(f"{e:>24}" for e in engines))
    for rd in rounds:
        cells = []
        for e in engines:
            r = by.get((e, rd))
            cells.append(f"{r['median_ms']:.2f} ({r['iters']}, {r['foreign']}%)" if r else "-")
        print(f"{rd:>5}  " + "".join(f"{c:>24}" for c in cells))

    print(f"\nsummary, batch {batch}, {len(rounds)} rounds (latency = one run of a batch of {batch})")
    hdr = (f"{'engine':<10} {'min ms':>9} {'median ms':>10} {'p90 ms':>9} {'ms/img':>8} "
           f"{'img/s med':>10} {'img/s best':>10}  {'median/kiln [min..max]':>24}  {'min/kiln [min..max]':>24}"
           f"  {'other%':>6}")
    print(hdr)
    print("-" * len(hdr))
    for e in engines:
        rs = [by[(e, rd)] for rd in rounds if (e, rd) in by]
        mn = min(r["min_ms"] for r in rs)
        med = statistics.median(r["median_ms"] for r in rs)
        p90 = statistics.median(r["p90_ms"] for r in rs)
        ips = [r["images_per_s"] for r in rs]
        rat_med = [by[(e, rd)]["median_ms"] / by[(ref, rd)]["median_ms"]
                   for rd in rounds if (e, rd) in by and (ref, rd) in by]
        rat_min = [by[(e, rd)]["min_ms"] / by[(ref, rd)]["min_ms"]
                   for rd in rounds if (e, rd) in by and (ref, rd) in by]
        print(f"{e:<10} {mn:>9.2f} {med:>10.2f} {p90:>9.2f} {med / batch:>8.2f} "
              f"{statistics.median(ips):>10.1f} {max(ips):>10.1f}  {spread(rat_med):>24}  "
              f"{spread(rat_min):>24}  {max(r['foreign'] for r in rs):>6}")
    print(f"\nratios: engine latency / {ref} latency in the same round (> 1: {ref} faster); "
          "median of the per-round ratios [spread over rounds]; other%: the most CPU other "
          "processes took during one of this engine's runs")


if __name__ == "__main__":
    main()
