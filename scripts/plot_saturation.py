#!/usr/bin/env python3
"""Plots the saturation sweep (scripts/saturation.sh) as docs/saturation.png: invoices per
second against the number of terminals, beside the device's own limit, with p99 latency.

Usage: python3 scripts/plot_saturation.py [REPORT_DIR] [OUT.png]   (needs matplotlib)
REPORT_DIR holds sweep-N.json, the `load --report-json` reports (default /tmp).
"""
import glob, json, os, re, sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

folder = sys.argv[1] if len(sys.argv) > 1 else "/tmp"
out = sys.argv[2] if len(sys.argv) > 2 else "docs/saturation.png"
points = []
for path in glob.glob(os.path.join(folder, "sweep-*.json")):
    n = int(re.search(r"sweep-(\d+)\.json", path).group(1))
    report = json.load(open(path))
    points.append((n, report["throughput_tps"], report["latency_ms"]["p99"], min(20 * n, 400)))
points.sort()
terminals = [p[0] for p in points]

fig, left = plt.subplots(figsize=(7, 4))
left.plot(terminals, [p[3] for p in points], ":", color="grey", label="offered (20/s per terminal)")
left.plot(terminals, [p[1] for p in points], "o-", color="tab:blue", label="sealed invoices/s")
left.axhline(1000 / 15, color="tab:red", linestyle="--", label="device limit (15 ms a sale: 66.7/s)")
left.set_xlabel("terminals")
left.set_ylabel("invoices per second")
left.set_ylim(0, 90)
right = left.twinx()
right.plot(terminals, [p[2] for p in points], "s-", color="tab:orange", label="p99 latency (ms)")
right.set_ylabel("p99 latency, ms")
lines = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
labels = left.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
left.legend(lines, labels, loc="center right", fontsize=8)
left.set_title("Saturation: throughput and p99 against a device of known speed")
fig.tight_layout()
fig.savefig(out, dpi=100)
print(f"wrote {out}")
