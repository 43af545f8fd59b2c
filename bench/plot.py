#!/usr/bin/python3
"""Bar chart of req/s per scenario for haproxy and herd, from compare.py --json.

  /usr/bin/python3 bench/plot.py results.json docs/benchmarks-scenarios.png

Uses Debian's python3-matplotlib (scripts/install-deps.sh --bench), hence /usr/bin/python3.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    src, dst = sys.argv[1], sys.argv[2]
    d = json.load(open(src))
    rows = [r for r in d["rows"] if r["rps"] == r["rps"]]  # drop NaN (rss10k)
    names = list(dict.fromkeys(f"{r['scenario']}\nnbthread {r['nbthread']}" if len(
        {x["nbthread"] for x in rows}) > 1 else r["scenario"] for r in rows))
    val = {(r["scenario"] if len({x["nbthread"] for x in rows}) == 1 else
            f"{r['scenario']}\nnbthread {r['nbthread']}", r["engine"]): r for r in rows}
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(8, 5.5), dpi=80, sharex=True,
                                  gridspec_kw=dict(height_ratios=[3, 1.4]))
    x = range(len(names))
    for off, eng, col in ((-0.2, "haproxy", "#888888"), (0.2, "herd", "#2b7bba")):
        ys = [val[(n, eng)]["rps"] for n in names]
        bars = ax.bar([i + off for i in x], ys, 0.4, label=eng, color=col)
        for b, n in zip(bars, names):
            r = val[(n, eng)]
            done = r["rps"] * r.get("duration", d["duration"]) * d["repeats"]
            if r["errors"] > 0.01 * done:  # throughput of failing requests: not comparable
                b.set_hatch("xx")
                b.set_edgecolor("red")
                ax.text(b.get_x() + b.get_width() / 2, b.get_height() * 1.05, "errors",
                        ha="center", fontsize=7, color="red")
    ax.set_yscale("log")
    ax.set_ylabel("req/s (median, log scale)")
    ax.legend()
    ax.set_title(f"herd vs haproxy 2.6, {d['cores']}-core shared machine, "
                 f"{d['repeats']} repeats x {d['duration']} s (noisy: compare within a scenario)",
                 fontsize=9)
    eff = [val[(n, "haproxy")]["cpu_us_per_req"] / val[(n, "herd")]["cpu_us_per_req"] for n in names]
    ax2.bar(list(x), eff, 0.5, color="#2b7bba")
    ax2.axhline(1.0, color="black", lw=0.8)
    ax2.set_ylabel("CPU/req\nhaproxy/herd")
    ax2.set_xticks(list(x))
    ax2.set_xticklabels(names)
    fig.tight_layout()
    fig.savefig(dst, dpi=80)


if __name__ == "__main__":
    main()
