#!/usr/bin/python3
"""Bar chart of req/s per scenario for haproxy and herd (one bar per --engines
entry, e.g. herd-epoll and herd-io_uring), from compare.py --json.

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
    engines = list(dict.fromkeys(r["engine"] for r in rows))  # haproxy first, then herd(s)
    colors = ["#888888", "#2b7bba", "#e08a1e", "#3a9a3a"]
    width = 0.8 / len(engines)
    for k, eng in enumerate(engines):
        off = (k - (len(engines) - 1) / 2) * width
        ys = [val[(n, eng)]["rps"] for n in names]
        bars = ax.bar([i + off for i in x], ys, width, label=eng, color=colors[k % len(colors)])
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
    herds = engines[1:]
    w2 = 0.8 / len(herds)
    for k, eng in enumerate(herds):
        eff = [val[(n, "haproxy")]["cpu_us_per_req"] / val[(n, eng)]["cpu_us_per_req"] for n in names]
        ax2.bar([i + (k - (len(herds) - 1) / 2) * w2 for i in x], eff, w2,
                color=colors[(k + 1) % len(colors)])
    ax2.axhline(1.0, color="black", lw=0.8)
    ax2.set_ylabel("CPU/req\nhaproxy/herd")
    ax2.set_xticks(list(x))
    ax2.set_xticklabels(names)
    fig.tight_layout()
    fig.savefig(dst, dpi=80)


if __name__ == "__main__":
    main()
