#!/usr/bin/env bash
# A longer crash sweep than the test suite's 50 kills: the mediator child is SIGKILLed at
# random points ROUNDS times (default 500) while three terminals fiscalize, then the store and
# the device journal are compared. Usage: scripts/kill-sweep.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
FISCAL_KILL_ROUNDS="${1:-500}" swift test --skip-build --filter CrashTests
