import FiscalCore
import Logging
import MediatorStore

/// The session family: HELLO, LOGIN, LOGOUT, HEARTBEAT, and STATUS.
extension MediatorService {
    /// HELLO: registers (when self-registration is on), checks the machine binding (binding an
    /// unbound terminal), opens the cashier's session when one is named, and counts as a
    /// heartbeat.
    func hello(_ context: Context, _ hello: TerminalRequest.Hello) async throws(FiscalError) -> TerminalReply {
        let request = context.request
        let terminal = context.terminal
        guard request.terminalID == terminal.rawValue else {
            throw FiscalError(
                .terminalMismatch,
                "HELLO names terminal '\(request.terminalID ?? "")' but the routing id is '\(terminal)'"
            )
        }
        if configuration.selfRegister, try await storeRead({ try await store.terminalRecord(terminal) }) == nil {
            do throws(FiscalError) {
                let record = try TerminalRecord(code: terminal, machineID: hello.machineID)
                _ = try await store.registerAtHello(record)
                logger.notice("terminal registered itself", metadata: ["terminal.id": "\(terminal)"])
            } catch  where error.code == .formatInvalid {
                throw FiscalError(.notRegistered, "\(terminal) cannot register itself: \(error.message)")
            }
        }
        let registration = try await registered(terminal)
        do throws(FiscalError) {
            if let machine = hello.machineID {
                if try await store.bindAtHello(terminal, machineID: machine) == .bound {
                    logger.notice(
                        "terminal bound",
                        metadata: ["terminal.id": "\(terminal)", "machine.id": "\(machine)"]
                    )
                }
            } else if registration.machineID != nil {
                throw FiscalError(
                    .machineMismatch,
                    "\(terminal) is bound to a machine; HELLO must carry its machine_id"
                )
            }
        } catch  where error.code == .machineMismatch {
            await context.session.hello(machineRejected: true)
            throw error
        }
        await context.session.hello(machineRejected: false)
        var cashier = try await storeRead { try await store.openSession(at: terminal) }?.cashierID
        if let named = hello.cashierID, !named.isEmpty, named != cashier {
            guard named.count <= 64 else {
                throw FiscalError(.messageInvalid, "cashier_id is longer than 64 characters")
            }
            try await checkStaff(named, as: "cashier_id")
            _ = try await store.beginSession(named, at: terminal)
            cashier = named
        }
        await context.session.loggedIn(cashier)
        await monitor.heartbeat(terminal, profile: registration.heartbeatProfile, appVersion: hello.appVersion)

        let snapshot = await deviceActor.snapshot()
        var reply = context.blankReply
        reply.mediator = TerminalReply.MediatorInfo(
            name: configuration.name,
            version: configuration.version,
            outletID: configuration.outletID ?? "",
            // 2: CURVE, identity from the key; 1: `--insecure-plaintext` (docs/PROTOCOL.md).
            protocolVersion: gateway.insecure ? 1 : 2
        )
        reply.device = deviceInfo(snapshot)
        reply.leaseMs = Int(configuration.device.lease.wholeMilliseconds)
        reply.cashierID = cashier
        reply.heartbeatMs = Int(configuration.heartbeat.interval(registration.heartbeatProfile).wholeMilliseconds)
        reply.period = try await periodInfo(terminal)
        reply.terminal = TerminalReply.TerminalInfo(
            code: registration.code.rawValue,
            name: registration.name,
            kind: registration.kind,
            businessMode: registration.businessMode,
            laneNumber: registration.laneNumber
        )
        return reply
    }

    func login(_ context: Context, _ login: TerminalRequest.Login) async throws(FiscalError) -> TerminalReply {
        let cashier = login.cashierID
        guard (1...64).contains(cashier.count) else {
            throw FiscalError(.messageInvalid, "LOGIN needs a cashier_id of 1 to 64 characters")
        }
        try await checkStaff(cashier, as: "cashier_id")
        let (_, closed) = try await store.beginSession(cashier, at: context.terminal)
        await context.session.loggedIn(cashier)
        if let closed {
            logger.info(
                "cashier session superseded",
                metadata: ["terminal.id": "\(context.terminal)", "cashier.id": "\(closed.cashierID)"]
            )
        }
        var reply = context.blankReply
        reply.cashierID = cashier
        return reply
    }

    func logout(_ context: Context) async throws(FiscalError) -> TerminalReply {
        _ = try await store.endSession(at: context.terminal)
        await context.session.loggedIn(nil)
        return context.blankReply
    }

    func heartbeat(
        _ context: Context,
        _ request: TerminalRequest.Heartbeat,
        profile: String
    ) async throws(FiscalError) -> TerminalReply {
        let health = request.health
        let violations = health.violations()
        guard violations.isEmpty else {
            throw FiscalError(.messageInvalid, "the heartbeat's status fields are malformed", violations: violations)
        }
        if let version = request.appVersion, version.count > 64 {
            throw FiscalError(.messageInvalid, "app_version is longer than 64 characters")
        }
        await monitor.heartbeat(
            context.terminal,
            profile: profile,
            health: health,
            cashier: request.cashierID,
            appVersion: request.appVersion
        )
        var reply = context.blankReply
        reply.heartbeatMs = Int(configuration.heartbeat.interval(profile).wholeMilliseconds)
        return reply
    }

    func status(_ context: Context) async -> TerminalReply {
        let snapshot = await deviceActor.snapshot()
        var reply = context.blankReply
        reply.device = deviceInfo(snapshot)
        reply.lockHolder = snapshot.holder
        reply.queueDepth = snapshot.queueDepth
        reply.inDoubt = snapshot.inDoubt
        return reply
    }

    /// A store read on a request path: a failure is STORE_UNAVAILABLE, never "not there".
    func storeRead<T>(_ read: () async throws -> T) async throws(FiscalError) -> T {
        do { return try await read() } catch { throw StoreFailure.fiscal(error) }
    }
}
