# Two commands for a new user: `make run` and `make test`. Both install the Debian packages
# the build needs (only those missing), then build.

SWIFT        ?= swift
APT_PACKAGES := libzmq3-dev libsqlite3-dev libssl-dev libqrencode-dev pkg-config iproute2
STATE_DIR    ?= var/emulator
SWIFT_FORMAT_PATHS := Package.swift Sources Tests

.PHONY: all deps build run emulator test lint format bench load simulate clean errors fuzz-build fuzz fuzz-smoke install

all: build

## Installs whatever of $(APT_PACKAGES) is missing, through apt-get, and nothing else.
deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing missing packages:$$missing"; \
		if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; \
		$$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build

## Starts the mediator on embedded defaults: an emulated device (fiscal memory in var/emulator),
## the store in var/mediator.sqlite, terminals on tcp://127.0.0.1:5555. Ctrl-C stops it.
run: build
	$(SWIFT) run fiscal-mediator serve

## A software fiscal device alone, on a pseudo-terminal (its path is the first line printed).
emulator: build
	$(SWIFT) run fiscal-mediator device-emulator --pty --state $(STATE_DIR) --init-if-needed --verbose

## The crash tests (SIGKILLs of mediator children, during sales and during uploads, and a SIGTERM
## during a COMMIT) run on their own: other suites' mediators and clients on loopback must not
## share ports and terminal ids with them, and a child's timing must not depend on 50 suites
## at once. "CrashTests" matches all three (CrashTests, SyncCrashTests, ShutdownCrashTests). The seeded
## simulations (device core, upload line) run last, alone: each keeps a core busy for its time
## budget (DEVICE_CORE_SECONDS, UPLOAD_LINE_SECONDS), which would skew timing-sensitive suites.
## Suites that start child processes run in a pass of their own: Foundation's Process.run() on
## Swift 6.3 can crash once the test process holds more than ~1,300 descriptors, and the full
## parallel pass holds over 3,000 (Sources/FiscalTestSupport/ChildProcess.swift).
CHILD_SUITES := \.(JournalVerificationTests|EmulatorProcessTests|HalfOpenRoamingTests|MaintenanceTests|DeviceCoreIntegrationTests|StartupErrorTests|DeviceReportTests|ConfigFileTests|SystemdTests|TamperCatalogueTests|DiskFullTests|UploadLineTests|OpsAuthTests|OpsTLSTests)/
DEVICE_CORE_SECONDS ?= 60
test: deps lint fuzz-smoke
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip CrashTests --skip Simulation --skip '$(CHILD_SUITES)'
	$(SWIFT) test --skip-build --filter '$(CHILD_SUITES)'
	$(SWIFT) test --skip-build --filter CrashTests
	DEVICE_CORE_SECONDS=$(DEVICE_CORE_SECONDS) $(SWIFT) test --skip-build --filter Simulation

## The device core's seeded simulation for SEEDS schedules (make simulate SEEDS=1000000);
## DEVICE_CORE_SEED=N replays one.
SEEDS ?= 100000
simulate: deps
	$(SWIFT) build --build-tests
	DEVICE_CORE_SEEDS=$(SEEDS) $(SWIFT) test --skip-build --filter DeviceCoreSimulation

## Formatting, and the module arrows against docs/ARCHITECTURE.md (with a self-test that a wrong
## arrow and an undeclared import are caught).
lint:
	$(SWIFT) format lint --strict --recursive $(SWIFT_FORMAT_PATHS)
	python3 scripts/check_arrows.py --selftest

## After editing Sources/FiscalCore/ErrorCatalog.json: regenerates ErrorCode+Catalog.swift, then
## docs/ERRORS.md's tables (everything after its introduction) from the rebuilt executable.
errors: deps
	$(SWIFT) run ErrorCatalogGenerator Sources/FiscalCore/ErrorCatalog.json Sources/FiscalCore/ErrorCode+Catalog.swift
	$(SWIFT) build --product fiscal-mediator
	"$$($(SWIFT) build --show-bin-path)/fiscal-mediator" errors | python3 -c 'import sys; \
		d = open("docs/ERRORS.md").read(); open("docs/ERRORS.md", "w").write(d[:d.index("\n## ")] + sys.stdin.read())'

format:
	$(SWIFT) format --in-place --recursive $(SWIFT_FORMAT_PATHS)

## libFuzzer targets for the decoders of outside input (docs/SECURITY.md), built into .build-fuzz/
## from the package in Tests/Fuzz. `make fuzz SECONDS=60` runs each for that long, one after
## another, growing a working corpus in .build-fuzz/corpus/ from the committed seeds in
## Tests/Fuzz/corpus/; a crash leaves its input in .build-fuzz/crashes/ and fails the target.
## `make fuzz-smoke` (part of `make test`) runs each briefly on the committed seeds only.
FUZZ_TARGETS := terminal-message:FuzzTerminalMessage device-frame:FuzzDeviceFrame invoice:FuzzInvoice \
	topology:FuzzTopology cloud-reply:FuzzCloudReply
FUZZ_BUILD   := .build-fuzz
FUZZ_BIN      = $(FUZZ_BUILD)/release
SECONDS      ?= 60
SMOKE_SECONDS ?= 3
# Swift's own crash backtracer would take the signal before libFuzzer, which then could not
# write the crashing input to .build-fuzz/crashes/.
FUZZ_ENV     := SWIFT_BACKTRACE=enable=no

fuzz-build:
	$(SWIFT) build --package-path Tests/Fuzz --scratch-path $(FUZZ_BUILD) -c release --sanitize=fuzzer

fuzz: fuzz-build
	@mkdir -p $(FUZZ_BUILD)/crashes $(FUZZ_BUILD)/logs
	@for pair in $(FUZZ_TARGETS); do \
		name=$${pair%%:*}; binary=$${pair##*:}; log=$(FUZZ_BUILD)/logs/$$name.log; \
		mkdir -p $(FUZZ_BUILD)/corpus/$$name; \
		echo "fuzz $$name for $(SECONDS) s (log: $$log)"; \
		$(FUZZ_ENV) $(FUZZ_BIN)/$$binary -max_total_time=$(SECONDS) -max_len=65536 -timeout=10 -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_BUILD)/crashes/$$name- \
			$(FUZZ_BUILD)/corpus/$$name Tests/Fuzz/corpus/$$name >$$log 2>&1 \
			|| { tail -40 $$log; echo "fuzz: $$name crashed; the input is in $(FUZZ_BUILD)/crashes/"; exit 1; }; \
		grep -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)" $$log; \
	done

fuzz-smoke: fuzz-build
	@mkdir -p $(FUZZ_BUILD)/logs
	@for pair in $(FUZZ_TARGETS); do \
		name=$${pair%%:*}; binary=$${pair##*:}; log=$(FUZZ_BUILD)/logs/smoke-$$name.log; \
		rm -rf $(FUZZ_BUILD)/smoke-corpus/$$name; mkdir -p $(FUZZ_BUILD)/smoke-corpus/$$name; \
		$(FUZZ_ENV) $(FUZZ_BIN)/$$binary -max_total_time=$(SMOKE_SECONDS) -max_len=65536 -timeout=10 -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_BUILD)/smoke-crash-$$name- \
			$(FUZZ_BUILD)/smoke-corpus/$$name Tests/Fuzz/corpus/$$name >$$log 2>&1 \
			|| { tail -40 $$log; echo "fuzz-smoke: $$name crashed"; exit 1; }; \
		echo "fuzz-smoke: $$name: $$(grep -E '^stat::number_of_executed_units' $$log | grep -Eo '[0-9]+$$') runs, no crash"; \
	done

## The 10-lane scenario for a short while: ten terminals at 5 TPS against an in-process mediator
## and a 15 ms emulated device, then the audit (journal vs store vs acknowledgements).
LOAD_DURATION ?= 30s
load: build
	$(SWIFT) run fiscal-mediator load --topology topology/retail-10-lane.yaml --duration $(LOAD_DURATION) \
		--report-json var/load-report.json

## The benchmark package (ordo-one/benchmark); not part of `make test`.
bench: deps
	cd Benchmarks && $(SWIFT) package benchmark

## Installs the service (docs/OPERATIONS.md): the release binary, the systemd unit, the udev rule
## example and OPERATIONS.md, the example configuration (never over an existing one), and the
## fiscal-mediator system user in dialout. DESTDIR stages it elsewhere (no user is made then).
PREFIX ?= /usr/local
install: deps
	$(SWIFT) build -c release --product fiscal-mediator
	install -D -m 0755 .build/release/fiscal-mediator $(DESTDIR)$(PREFIX)/bin/fiscal-mediator
	install -D -m 0644 deploy/fiscal-mediator.service $(DESTDIR)/etc/systemd/system/fiscal-mediator.service
	install -D -m 0644 deploy/fiscal-mediator-backup.service $(DESTDIR)/etc/systemd/system/fiscal-mediator-backup.service
	install -D -m 0644 deploy/fiscal-mediator-backup.timer $(DESTDIR)/etc/systemd/system/fiscal-mediator-backup.timer
	install -D -m 0644 deploy/99-fiscal-device.rules $(DESTDIR)$(PREFIX)/share/doc/fiscal-mediator/99-fiscal-device.rules
	install -D -m 0644 docs/OPERATIONS.md $(DESTDIR)$(PREFIX)/share/doc/fiscal-mediator/OPERATIONS.md
	@if [ -e $(DESTDIR)/etc/fiscal-mediator/mediator.yaml ]; then \
		echo "kept $(DESTDIR)/etc/fiscal-mediator/mediator.yaml (deploy/mediator.yaml is the example)"; \
	else install -D -m 0640 deploy/mediator.yaml $(DESTDIR)/etc/fiscal-mediator/mediator.yaml; fi
	@if [ -z "$(DESTDIR)" ] && ! id fiscal-mediator >/dev/null 2>&1; then \
		useradd --system --home-dir /var/lib/fiscal-mediator --no-create-home --shell /usr/sbin/nologin \
			--groups dialout fiscal-mediator; \
	fi
	@if [ -z "$(DESTDIR)" ]; then chgrp fiscal-mediator /etc/fiscal-mediator/mediator.yaml; fi
	@echo "next: edit /etc/fiscal-mediator/mediator.yaml, fiscal-mediator config check it, then"
	@echo "      systemctl daemon-reload && systemctl enable --now fiscal-mediator fiscal-mediator-backup.timer"

clean:
	rm -rf .build var
