#!/usr/bin/env python3
"""The latency floor of a load run: the same terminals and arrivals as `load --topology`,
served by an ideal mediator (zero overhead) in front of a device that takes exactly D per sale.

Each terminal rings one sale at a time; its next sale is due a gap after the previous one was
due (exponential gaps for poisson, 1/TPS for paced), or at once if the previous sale took
longer. Sales are served in arrival order, one at a time. Whatever the real run measures above
these figures is the mediator's (and the machine's) share.

usage: scripts/queue_floor.py [--terminals 10] [--tps 5] [--service-ms 15] [--seconds 600]
                              [--arrivals poisson|paced] [--seed 1]
"""
import argparse
import heapq
import random


def simulate(terminals, tps, service, seconds, arrivals, seed):
    rnd = random.Random(seed)
    gap = (lambda: rnd.expovariate(tps)) if arrivals == "poisson" else (lambda: 1.0 / tps)
    first = (lambda: rnd.expovariate(tps)) if arrivals == "poisson" else (lambda: rnd.uniform(0, 1.0 / tps))
    due = [(first(), i) for i in range(terminals)]
    heapq.heapify(due)
    free_at, latencies = 0.0, []
    while due:
        t, i = heapq.heappop(due)
        if t > seconds:
            continue
        done = max(t, free_at) + service
        free_at = done
        latencies.append(done - t)
        heapq.heappush(due, (max(t + gap(), done), i))
    latencies.sort()
    at = lambda share: latencies[min(len(latencies) - 1, int(len(latencies) * share))] * 1000
    return len(latencies) / seconds, at(0.5), at(0.95), at(0.99), latencies[-1] * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--terminals", type=int, default=10)
    parser.add_argument("--tps", type=float, default=5)
    parser.add_argument("--service-ms", type=float, nargs="+", default=[15])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--arrivals", choices=["poisson", "paced"], default="poisson")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print("| device per sale | throughput/s | p50 ms | p95 ms | p99 ms | max ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    for service in args.service_ms:
        tput, p50, p95, p99, top = simulate(
            args.terminals, args.tps, service / 1000, args.seconds, args.arrivals, args.seed
        )
        print(f"| {service:g} ms | {tput:.1f} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {top:.1f} |")


if __name__ == "__main__":
    main()
