#!/bin/bash
# Saturation sweep: N terminals (1..20), each offering 20 sales/s, FISCALIZE only, against an
# emulated device of known speed (prepare=5ms,commit=10ms: 15 ms a sale, about 66 sales/s).
# Usage (after `swift build -c release`): scripts/saturation.sh  (about 2.5 minutes)
cd "$(dirname "$0")/.."
B=.build/release/fiscal-mediator
echo "| terminals | offered/s | invoices/s | p50 ms | p99 ms | max ms | device busy | audit |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for n in 1 2 4 6 8 10 12 16 20; do
  codes=$(seq -f "REG-%03g" 1 $n | paste -sd, -)
  cat > /tmp/sweep-$n.yaml <<YAML
name: sweep-$n
outlet: {id: OUTLET-KIN-01, merchant_id: MERCH-0042}
device: {kind: emulator, state: /tmp/sweep-state-$n, latency: "prepare=5ms,commit=10ms"}
mediator: {endpoint: "tcp://127.0.0.1:5555", ops_http: "off", store: /tmp/sweep.sqlite}
terminals: {codes: [$codes], first_lane: 1, cashiers: [CASH-01]}
load: {tps_per_terminal: 20, duration: 15s, basket_lines: [1, 8], payment_mix: "cash=1", two_phase_share: 0}
YAML
  $B load --topology /tmp/sweep-$n.yaml --report-json /tmp/sweep-$n.json > /dev/null 2>&1
  python3 -c "
import json; r=json.load(open('/tmp/sweep-$n.json'))
print('| $n | %d | %.1f | %.1f | %.1f | %.1f | %.1f%% | %s |' % ($n*20, r['throughput_tps'], r['latency_ms']['p50'], r['latency_ms']['p99'], r['latency_ms']['max'], 100*(r['device_utilization'] or 0), 'clean' if r['audit']['gaps']==0 and r['audit']['duplicates']==0 and r['audit']['missing']==0 else 'NOT CLEAN'))"
done
