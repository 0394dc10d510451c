import FiscalCore
import FiscalDevice
import MediatorStore
import Testing

@testable import Mediator

/// Operator reports (RPT|Z, RPT|X) in the device core, one exact order of events per test: the
/// turn they take between sales, and a Z's intent, its lost reply and its recovery.
@Suite("DeviceCore reports")
struct DeviceCoreReportTests {
    static let timeout = FiscalError(.deviceTimeout, "no reply")

    /// The reply to `ticket` as a report, if it is one.
    static func report(_ reply: Core.Reply?) -> DeviceReport? {
        if case .report(let report) = reply { return report }
        return nil
    }

    static func command(_ driver: CoreDriver) -> String? { driver.exchange?.command.name }

    @Test(
        "a Z waits for the holder's COMMIT, goes before the sale queued behind it, and that sale goes before the next report"
    )
    func turnBetweenSales() throws {
        var driver = CoreDriver().started()
        let held = CoreDriver.record("MOB-001", "table-1", mode: .twoPhase)
        let first = driver.sale(held)
        driver.storeWrites()
        driver.deviceAnswers()  // PREPARE: the tablet holds the device until its COMMIT
        driver.storeWrites()
        let nonce = try #require(driver.reply(first)?.nonce)
        let queued = CoreDriver.record("REG-001", "sale-2", mode: .fiscalize)
        let second = driver.sale(queued)
        driver.storeWrites()
        let z = driver.report(.z)
        #expect(driver.exchange == nil, "a report went to the device between PREPARE and COMMIT")
        #expect(driver.reply(z) == nil)
        driver.commit(held.key, nonce)
        #expect(Self.command(driver) == "TXN|COMMIT")
        driver.deviceAnswers()  // sealed: the lock passes on, to the report
        #expect(Self.command(driver) == "QRY|STATUS", "the report did not go next")
        let x = driver.report(.x)
        driver.deviceAnswers()  // z_count: the intent joins the line, nothing at the device
        #expect(driver.exchange == nil)
        // The writes before it (the sale's progress and seal), then the intent, in order.
        while driver.exchange == nil, driver.write != nil { driver.storeWrites() }
        #expect(driver.store.current.sealed[1] != nil, "the Z went out before the seal it covers was stored")
        #expect(driver.store.current.intents.map(\.state) == [.pending])
        #expect(Self.command(driver) == "RPT|Z")
        driver.deviceAnswers()
        #expect(driver.reply(z) == nil, "a Z was answered before it was stored")
        // The sale waiting behind the Z goes next; the X waits for it.
        #expect(Self.command(driver) == "TXN|PREPARE")
        driver.storeWrites()
        let closed = try #require(Self.report(driver.reply(z)))
        #expect(closed.zNumber == 1 && closed.firstSeq == 1 && closed.lastSeq == 1)
        #expect(driver.store.current.zReports[1]?.reportHash == closed.reportHash)
        #expect(driver.store.current.intents.map(\.state) == [.done])
        driver.deviceAnswers()  // PREPARE
        driver.deviceAnswers()  // COMMIT: number 2, the new day
        #expect(driver.reply(second) == nil)
        #expect(Self.command(driver) == "RPT|X")
        driver.settle()
        #expect(driver.reply(second)?.sealedSeq == InvoiceSeq(2))
        let after = try #require(Self.report(driver.reply(x)))
        #expect(after.kind == .x && after.zNumber == 2 && after.firstSeq == 2 && after.invoiceCount == 1)
    }

    @Test("a PREPARE the DEF still holds after an ABORT: the report waits out its TTL, and the queue with it")
    func abandonedPrepare() throws {
        var driver = CoreDriver().started()
        let held = CoreDriver.record("MOB-001", "table-2", mode: .twoPhase)
        driver.sale(held)
        driver.storeWrites()
        driver.deviceAnswers()
        driver.storeWrites()
        driver.abort(held.key)  // the DEF keeps the PREPARE for its 30 s
        driver.storeWrites()
        let x = driver.report(.x)
        let queued = driver.sale(CoreDriver.record("REG-001", "sale-3", mode: .fiscalize))
        driver.storeWrites()
        #expect(driver.exchange == nil, "something went to a device that still holds a PREPARE")
        driver.advance(.seconds(31))
        #expect(Self.command(driver) == "RPT|X")
        driver.deviceAnswers()
        #expect(Self.report(driver.reply(x))?.kind == .x)
        driver.settle()
        #expect(driver.reply(queued)?.sealedSeq == InvoiceSeq(1))
        #expect(driver.device.reportsInsidePrepare == 0)
    }

    @Test("device-free holds hold nothing at the device: a report runs while a reservation waits for its COMMIT")
    func reservationsDoNotHold() throws {
        var driver = CoreDriver { $0.holds = .mediator }.started()
        let hold = CoreDriver.record("MOB-001", "table-3", mode: .twoPhase)
        let prepared = driver.sale(hold)
        driver.storeWrites()
        let nonce = try #require(driver.reply(prepared)?.nonce)
        let x = driver.report(.x)
        #expect(Self.command(driver) == "RPT|X")
        driver.deviceAnswers()
        #expect(Self.report(driver.reply(x)) != nil)
        let commit = driver.commit(hold.key, nonce)
        driver.settle()
        #expect(driver.reply(commit)?.sealedSeq == InvoiceSeq(1))
    }

    /// A started driver with RPT|Z at the device (its intent stored).
    static func zAtDevice(_ configure: (inout CoreDriver) -> Void = { _ in }) -> (CoreDriver, Core.Ticket) {
        var driver = CoreDriver().started()
        configure(&driver)
        driver.sale(CoreDriver.record("REG-001", "sale-1", mode: .fiscalize))
        driver.settle()
        let z = driver.report(.z)
        driver.deviceAnswers()  // z_count 0
        driver.storeWrites()  // the intent
        return (driver, z)
    }

    @Test(
        "RPT|Z's reply lost after the device closed the day: the caller gets the error, the Z is read back and stored"
    )
    func lostAfterZ() throws {
        var (driver, z) = Self.zAtDevice()
        let exchange = try #require(driver.exchange)
        #expect(exchange.command.name == "RPT|Z")
        _ = driver.device.process(exchange.command, now: driver.now)
        driver.deviceAnswers(.lost(Self.timeout))
        #expect(driver.reply(z)?.code == .deviceTimeout)
        #expect(driver.store.current.intents.map(\.state) == [.pending])
        driver.advance(.seconds(2))  // a device that did not answer is asked again after a pause
        #expect(Self.command(driver) == "QRY|STATUS")
        driver.deviceAnswers()  // z_count 1: it was made
        #expect(Self.command(driver) == "QRY|ZREPORT")
        driver.settle()
        #expect(driver.store.current.zReports[1]?.reportHash == driver.device.zReports[0].reportHash)
        #expect(driver.store.current.intents.first?.state == .done)
        // The next Z is the next day's.
        let next = driver.report(.z)
        driver.settle()
        #expect(Self.report(driver.reply(next))?.zNumber == 2)
    }

    @Test("RPT|Z lost before it reached the device: the intent is dropped, no Z is stored")
    func lostBeforeZ() throws {
        var (driver, z) = Self.zAtDevice()
        driver.deviceAnswers(.lost(Self.timeout))
        #expect(driver.reply(z)?.code == .deviceTimeout)
        driver.advance(.seconds(2))
        driver.settle()
        #expect(driver.store.current.intents.map(\.state) == [.dropped])
        #expect(driver.store.current.zReports.isEmpty && driver.device.zReports.isEmpty)
    }

    @Test("a DEF without QRY|ZREPORT: the intent is unrecoverable with the z_count seen (fail closed)")
    func noReadBack() throws {
        var (driver, z) = Self.zAtDevice { $0.device.readsZBack = false }
        let exchange = try #require(driver.exchange)
        _ = driver.device.process(exchange.command, now: driver.now)
        driver.deviceAnswers(.lost(Self.timeout))
        #expect(driver.reply(z)?.code == .deviceTimeout)
        driver.advance(.seconds(2))
        driver.settle()
        let intent = try #require(driver.store.current.intents.first)
        #expect(intent.state == .unrecoverable && intent.zCountSeen == 1 && intent.errorCode == "UNKNOWN_COMMAND")
        #expect(driver.store.current.zReports.isEmpty)
    }

    @Test("the store refuses the intent: no RPT|Z goes out, STORE_UNAVAILABLE")
    func intentRefused() throws {
        var driver = CoreDriver().started()
        let z = driver.report(.z)
        driver.deviceAnswers()
        driver.storeWrites(failing: true)
        #expect(driver.exchange == nil)
        #expect(driver.reply(z)?.code == .storeUnavailable)
        #expect(driver.device.zReports.isEmpty)
    }

    @Test("refused with the catalog's codes: recovering, unreachable, halted, too many, stopping")
    func refusals() throws {
        var recovering = CoreDriver()
        let recoveringZ = recovering.report(.z)
        #expect(recovering.reply(recoveringZ)?.code == .deviceUnavailable)

        var unreachable = CoreDriver().started()
        unreachable.advance(.seconds(4))  // the liveness probe
        unreachable.deviceAnswers(.lost(Self.timeout))
        let unreachableX = unreachable.report(.x)
        #expect(unreachable.reply(unreachableX)?.code == .deviceUnavailable)

        var halted = CoreDriver().started()
        halted.device.full = true
        halted.sale(CoreDriver.record("REG-001", "sale-1", mode: .fiscalize))
        halted.settle()
        let haltedZ = halted.report(.z)
        #expect(halted.reply(haltedZ)?.code == .deviceHalted)

        var busy = CoreDriver().started()
        busy.sale(CoreDriver.record("REG-001", "sale-1", mode: .fiscalize))
        busy.storeWrites()  // its PREPARE is at the device: reports wait
        let waiting = (0..<4).map { _ in busy.report(.x) }
        let busyX = busy.report(.x)
        #expect(busy.reply(busyX)?.code == .queueFull)
        busy.take(busy.core.shutdown(now: busy.now))
        for ticket in waiting { #expect(busy.reply(ticket)?.code == .shuttingDown) }
        let busyZ = busy.report(.z)
        #expect(busy.reply(busyZ)?.code == .shuttingDown)
        busy.settle()
        #expect(busy.core.isDrained)
    }

    @Test("recovery: a pending intent whose z_count moved is read back and stored before the mediator is ready")
    func recovery() throws {
        var driver = CoreDriver()
        // The last run wrote the intent, the device closed the day, the run died.
        _ = driver.store.apply(StoreBatch(id: 1, writes: [.zIntent(zCountBefore: 0, deviceID: nil)]))
        _ = driver.device.process(.report(.z), now: driver.now)
        driver.take(driver.core.start(now: driver.now))
        driver.take(driver.core.loaded(driver.store.unfinished(), pendingZ: driver.store.pendingZ, now: driver.now))
        #expect(Self.command(driver) == "QRY|STATUS")
        driver.deviceAnswers()
        #expect(Self.command(driver) == "QRY|ZREPORT")
        #expect(!driver.core.snapshot(now: driver.now, link: "sim").ready)
        driver.deviceAnswers()
        driver.storeWrites()
        driver.deviceAnswers()  // the journal check's QRY|STATUS
        #expect(driver.core.snapshot(now: driver.now, link: "sim").ready)
        #expect(driver.store.current.zReports[1]?.reportHash == driver.device.zReports[0].reportHash)
        #expect(driver.store.pendingZ == nil)
    }
}
