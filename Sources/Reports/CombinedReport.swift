public import FiscalCore

/// The device's own Z, as the end-of-day proof compares it: what `RPT|Z` returned, reduced to
/// the figures both sides have (docs/REPORTS.md, "The reconciliation").
public struct DeviceDay: Codable, Hashable, Sendable {
    public var zNumber: UInt64
    public var deviceID: String
    public var firstSeq: UInt64?
    public var lastSeq: UInt64?
    public var invoiceCount: UInt64
    public var generatedAt: String
    /// Per currency and invoice type: count and (positive) total.
    public var types: [TypeLine]
    /// Per currency and tax group: base and tax, refunds and credit notes negative.
    public var taxGroups: [TaxLine]
    public var reportHash: String?

    public init(
        zNumber: UInt64,
        deviceID: String,
        firstSeq: UInt64?,
        lastSeq: UInt64?,
        invoiceCount: UInt64,
        generatedAt: String,
        types: [TypeLine],
        taxGroups: [TaxLine],
        reportHash: String?
    ) {
        self.zNumber = zNumber
        self.deviceID = deviceID
        self.firstSeq = firstSeq
        self.lastSeq = lastSeq
        self.invoiceCount = invoiceCount
        self.generatedAt = generatedAt
        self.types = types
        self.taxGroups = taxGroups
        self.reportHash = reportHash
    }

    enum CodingKeys: String, CodingKey {
        case zNumber = "z_number"
        case deviceID = "device_id"
        case firstSeq = "first_seq"
        case lastSeq = "last_seq"
        case invoiceCount = "invoice_count"
        case generatedAt = "generated_at"
        case types
        case taxGroups = "tax_groups"
        case reportHash = "report_hash"
    }

    public struct TypeLine: Codable, Hashable, Sendable {
        public var currency: String
        public var invoiceType: String
        public var count: UInt64
        public var total: Money
        public init(currency: String, invoiceType: String, count: UInt64, total: Money) {
            self.currency = currency
            self.invoiceType = invoiceType
            self.count = count
            self.total = total
        }
        enum CodingKeys: String, CodingKey {
            case currency
            case invoiceType = "invoice_type"
            case count, total
        }
    }

    public struct TaxLine: Codable, Hashable, Sendable {
        public var currency: String
        public var code: String
        public var base: Money
        public var amount: Money
        public init(currency: String, code: String, base: Money, amount: Money) {
            self.currency = currency
            self.code = code
            self.base = base
            self.amount = amount
        }
    }
}

/// A combined report's figures: each terminal's, and the store's.
public struct CombinedFigures: Codable, Hashable, Sendable {
    public var terminals: [TerminalPart]
    /// Every terminal's figures merged (terminal `*`).
    public var totals: ReportFigures
    /// Each payment method's share of the store's net payments, per currency.
    public var methodShares: [MethodShare]

    enum CodingKeys: String, CodingKey {
        case terminals, totals
        case methodShares = "method_shares"
    }

    public struct TerminalPart: Codable, Hashable, Sendable {
        public var terminal: String
        /// The Z numbers it covers, and for a combined X its open period's preview (`X-PREVIEW`).
        public var reports: [String]
        public var figures: ReportFigures
        public init(terminal: String, reports: [String], figures: ReportFigures) {
            self.terminal = terminal
            self.reports = reports
            self.figures = figures
        }
    }

    public struct MethodShare: Codable, Hashable, Sendable {
        public var currency: String
        public var method: String
        public var net: Money
        public var count: Int
        /// Percent of the currency's net payments, one decimal (`"49.3"`).
        public var percent: String
    }

    /// The combined figures of `parts`, terminal by terminal, in terminal order.
    public static func combine(_ parts: [TerminalPart], asOf: String) throws(FiscalError) -> CombinedFigures {
        let ordered = parts.sorted { $0.terminal < $1.terminal }
        let totals = try ReportFigures.merge(ordered.map(\.figures), terminal: "*", asOf: asOf)
        var shares: [MethodShare] = []
        for sales in totals.sales {
            let whole = sales.payments.reduce(Int128(0)) { $0 + Int128($1.net.units) }
            for line in sales.payments {
                let tenths = whole == 0 ? 0 : FixedPoint.divideRounded(Int128(line.net.units) * 1000, by: whole)
                shares.append(
                    MethodShare(
                        currency: sales.currency,
                        method: line.method,
                        net: line.net,
                        count: line.count,
                        percent: FixedPoint.format(Int64(clamping: tenths), scale: 1)
                    )
                )
            }
        }
        return CombinedFigures(terminals: ordered, totals: totals, methodShares: shares)
    }
}

extension ReportFigures {
    /// The sum of several reports' figures (of one terminal's Zs, or of a store's terminals):
    /// amounts and counts added per currency, tax group, method and drawer currency, averages
    /// recomputed, sessions listed in order. Never across currencies.
    public static func merge(
        _ parts: [ReportFigures],
        terminal: String,
        asOf: String
    ) throws(FiscalError) -> ReportFigures {
        var sales: [String: [CurrencySales]] = [:]
        var drawer: [String: [DrawerLine]] = [:]
        var voids: [String: (Int128, Int)] = [:]
        for part in parts {
            for line in part.sales { sales[line.currency, default: []].append(line) }
            for line in part.drawer { drawer[line.currency, default: []].append(line) }
            for line in part.lineVoids {
                voids[line.currency, default: (0, 0)].0 += Int128(line.amount.units)
                voids[line.currency, default: (0, 0)].1 += line.count
            }
        }
        func sum<T>(_ lines: [T], _ field: (T) -> Money) throws(FiscalError) -> Money {
            try money(lines.reduce(Int128(0)) { $0 + Int128(field($1).units) })
        }
        let seqs = parts.compactMap(\.firstSeq) + parts.compactMap(\.lastSeq)
        return ReportFigures(
            terminal: terminal,
            periodID: 0,
            cashier: nil,
            shiftStart: parts.map(\.shiftStart).min() ?? asOf,
            shiftEnd: parts.map(\.shiftEnd).max() ?? asOf,
            firstSeq: seqs.min(),
            lastSeq: seqs.max(),
            sales: try sales.keys.sorted().map { currency throws(FiscalError) in
                let lines = sales[currency]!
                var groups: [TaxKey: (Int128, Int128)] = [:]
                var methods: [String: (Int128, Int128, Int)] = [:]
                for line in lines {
                    for group in line.taxGroups {
                        let key = TaxKey(code: group.code, rate: group.rate.units)
                        groups[key, default: (0, 0)].0 += Int128(group.base.units)
                        groups[key, default: (0, 0)].1 += Int128(group.amount.units)
                    }
                    for payment in line.payments {
                        methods[payment.method, default: (0, 0, 0)].0 += Int128(payment.received.units)
                        methods[payment.method, default: (0, 0, 0)].1 += Int128(payment.returned.units)
                        methods[payment.method, default: (0, 0, 0)].2 += payment.count
                    }
                }
                var types: [String: (Int, Int128)] = [:]
                for line in lines {
                    for type in line.types {
                        types[type.invoiceType, default: (0, 0)].0 += type.count
                        types[type.invoiceType, default: (0, 0)].1 += Int128(type.total.units)
                    }
                }
                let transactions = lines.reduce(0) { $0 + $1.transactions }
                let grand = lines.reduce(Int128(0)) { $0 + Int128($1.grandTotal.units) }
                let items = lines.reduce(Int128(0)) { $0 + Int128($1.itemsSold.units) }
                guard let itemUnits = Int64(exactly: items) else {
                    throw FiscalError(.valueOutOfRange, "the items sold are beyond what a quantity holds")
                }
                var merged = CurrencySales(
                    currency: currency,
                    gross: try sum(lines, \.gross),
                    discounts: try sum(lines, \.discounts),
                    refunds: try sum(lines, \.refunds),
                    voids: try sum(lines, \.voids),
                    net: try sum(lines, \.net),
                    vat: try sum(lines, \.vat),
                    grandTotal: try money(grand),
                    taxGroups: try groups.keys.sorted().map { key throws(FiscalError) in
                        TaxGroupLine(
                            code: key.code,
                            rate: TaxRate(units: key.rate),
                            base: try money(groups[key]!.0),
                            amount: try money(groups[key]!.1)
                        )
                    },
                    payments: try methods.keys.sorted().map { method throws(FiscalError) in
                        let (received, returned, count) = methods[method]!
                        return PaymentLine(
                            method: method,
                            received: try money(received),
                            returned: try money(returned),
                            net: try money(received - returned),
                            count: count
                        )
                    },
                    transactions: transactions,
                    average: try money(
                        transactions == 0 ? 0 : FixedPoint.divideRounded(grand, by: Int128(transactions))
                    ),
                    customers: lines.reduce(0) { $0 + $1.customers },
                    itemsSold: Quantity(units: itemUnits),
                    voidCount: lines.reduce(0) { $0 + $1.voidCount },
                    refundCount: lines.reduce(0) { $0 + $1.refundCount },
                    discountCount: lines.reduce(0) { $0 + $1.discountCount }
                )
                merged.types = try types.keys.sorted().map { type throws(FiscalError) in
                    TypeLine(invoiceType: type, count: types[type]!.0, total: try money(types[type]!.1))
                }
                return merged
            },
            drawer: try drawer.keys.sorted().map { currency throws(FiscalError) in
                let lines = drawer[currency]!
                return DrawerLine(
                    currency: currency,
                    openingFloat: try sum(lines, \.openingFloat),
                    cashReceived: try sum(lines, \.cashReceived),
                    changeGiven: try sum(lines, \.changeGiven),
                    cashRefunds: try sum(lines, \.cashRefunds),
                    payouts: try sum(lines, \.payouts),
                    payIns: try sum(lines, \.payIns),
                    expected: try sum(lines, \.expected)
                )
            },
            statistics: Statistics(
                transactions: parts.reduce(0) { $0 + $1.statistics.transactions },
                customers: parts.reduce(0) { $0 + $1.statistics.customers },
                drawerOpens: parts.reduce(0) { $0 + $1.statistics.drawerOpens },
                noSales: parts.reduce(0) { $0 + $1.statistics.noSales }
            ),
            lineVoids: try voids.keys.sorted().map { currency throws(FiscalError) in
                CountedAmount(currency: currency, count: voids[currency]!.1, amount: try money(voids[currency]!.0))
            },
            sessions: parts.flatMap(\.sessions)
        )
    }
}

/// The end-of-day proof: the registers' Zs against the device's own Z, over the same fiscal
/// numbers. Both sides are kept; a difference is named, never hidden.
public struct DayReconciliation: Codable, Hashable, Sendable {
    public var verdict: Verdict
    /// What was compared, and how they differ.
    public var differences: [Difference]
    /// Fiscal numbers in the device's range that no referenced Z covers, or that a Z covers
    /// outside it, or twice, each with what the store knows of it.
    public var numbers: [NumberNote]
    /// The registers' side, summed from the referenced Zs.
    public var registers: Side
    /// The device's side, from its Z.
    public var device: Side

    public enum Verdict: String, Codable, Hashable, Sendable {
        case match
        case mismatch
    }

    public struct Difference: Codable, Hashable, Sendable {
        /// `count CDF sale`, `total CDF refund`, `tax CDF B base`, `range`.
        public var item: String
        public var registers: String
        public var device: String
        public init(item: String, registers: String, device: String) {
            self.item = item
            self.registers = registers
            self.device = device
        }
    }

    public struct NumberNote: Codable, Hashable, Sendable {
        public var seq: UInt64
        /// `missing` (the device sealed it, no Z covers it), `outside` (a Z covers it, the
        /// device's Z does not), `twice` (two Zs cover it).
        public var kind: String
        public var reason: String
    }

    /// One side: per currency and type, count and total; per currency and tax group, base
    /// and tax; the fiscal numbers covered.
    public struct Side: Codable, Hashable, Sendable {
        public var firstSeq: UInt64?
        public var lastSeq: UInt64?
        public var count: UInt64
        public var types: [DeviceDay.TypeLine]
        public var taxGroups: [DeviceDay.TaxLine]

        enum CodingKeys: String, CodingKey {
            case firstSeq = "first_seq"
            case lastSeq = "last_seq"
            case count, types
            case taxGroups = "tax_groups"
        }
    }

    /// Compares the registers' side (`zs`: the referenced Zs' figures; `seqs`: the fiscal
    /// numbers sealed in their periods) with `device`. `explain` says what the store knows of a
    /// fiscal number that does not line up.
    public static func compare(
        zs: [ReportFigures],
        seqs: [UInt64],
        device: DeviceDay,
        explain: (UInt64) throws -> String
    ) rethrows -> DayReconciliation {
        var types: [String: (UInt64, Int128)] = [:]
        var groups: [String: (Int128, Int128)] = [:]
        for figures in zs {
            for sales in figures.sales {
                for line in sales.types {
                    let key = "\(sales.currency) \(line.invoiceType)"
                    types[key, default: (0, 0)].0 &+= UInt64(clamping: line.count)
                    types[key, default: (0, 0)].1 += Int128(line.total.units)
                }
                for group in sales.taxGroups {
                    let key = "\(sales.currency) \(group.code)"
                    groups[key, default: (0, 0)].0 += Int128(group.base.units)
                    groups[key, default: (0, 0)].1 += Int128(group.amount.units)
                }
            }
        }
        let sorted = seqs.sorted()
        let registers = Side(
            firstSeq: sorted.first,
            lastSeq: sorted.last,
            count: UInt64(sorted.count),
            types: types.keys.sorted().map { key in
                let parts = key.split(separator: " ").map(String.init)
                return DeviceDay.TypeLine(
                    currency: parts[0],
                    invoiceType: parts[1],
                    count: types[key]!.0,
                    total: Money(units: Int64(clamping: types[key]!.1))
                )
            },
            taxGroups: groups.keys.sorted().map { key in
                let parts = key.split(separator: " ").map(String.init)
                return DeviceDay.TaxLine(
                    currency: parts[0],
                    code: parts[1],
                    base: Money(units: Int64(clamping: groups[key]!.0)),
                    amount: Money(units: Int64(clamping: groups[key]!.1))
                )
            }
        )
        let deviceSide = Side(
            firstSeq: device.firstSeq,
            lastSeq: device.lastSeq,
            count: device.invoiceCount,
            types: device.types,
            taxGroups: device.taxGroups
        )

        var differences: [Difference] = []
        func differ(_ item: String, _ registers: String, _ device: String) {
            if registers != device { differences.append(Difference(item: item, registers: registers, device: device)) }
        }
        differ(
            "range",
            "\(registers.firstSeq.map(String.init) ?? "-")…\(registers.lastSeq.map(String.init) ?? "-") (\(registers.count))",
            "\(device.firstSeq.map(String.init) ?? "-")…\(device.lastSeq.map(String.init) ?? "-") (\(device.invoiceCount))"
        )
        let registerTypes = Dictionary(
            uniqueKeysWithValues: registers.types.map { ("\($0.currency) \($0.invoiceType)", $0) }
        )
        let deviceTypes = Dictionary(
            device.types.map { ("\($0.currency) \($0.invoiceType)", $0) },
            uniquingKeysWith: { $1 }
        )
        for key in Set(registerTypes.keys).union(deviceTypes.keys).sorted() {
            differ("count \(key)", "\(registerTypes[key]?.count ?? 0)", "\(deviceTypes[key]?.count ?? 0)")
            differ(
                "total \(key)",
                (registerTypes[key]?.total ?? .zero).canonicalText,
                (deviceTypes[key]?.total ?? .zero).canonicalText
            )
        }
        let registerGroups = Dictionary(
            uniqueKeysWithValues: registers.taxGroups.map { ("\($0.currency) \($0.code)", $0) }
        )
        let deviceGroups = Dictionary(
            device.taxGroups.map { ("\($0.currency) \($0.code)", $0) },
            uniquingKeysWith: { $1 }
        )
        for key in Set(registerGroups.keys).union(deviceGroups.keys).sorted() {
            differ(
                "tax \(key) base",
                (registerGroups[key]?.base ?? .zero).canonicalText,
                (deviceGroups[key]?.base ?? .zero).canonicalText
            )
            differ(
                "tax \(key) amount",
                (registerGroups[key]?.amount ?? .zero).canonicalText,
                (deviceGroups[key]?.amount ?? .zero).canonicalText
            )
        }

        // Number by number, bounded so a wild range cannot make the record huge.
        var numbers: [NumberNote] = []
        let limit = 200
        var seen = Set<UInt64>()
        for seq in sorted where !seen.insert(seq).inserted && numbers.count < limit {
            numbers.append(NumberNote(seq: seq, kind: "twice", reason: "two referenced Zs cover it"))
        }
        if let first = device.firstSeq, let last = device.lastSeq, first <= last {
            var next = first
            for seq in Set(sorted).sorted() where numbers.count < limit {
                if seq < first || seq > last {
                    numbers.append(NumberNote(seq: seq, kind: "outside", reason: try explain(seq)))
                    continue
                }
                while next < seq && numbers.count < limit {
                    numbers.append(NumberNote(seq: next, kind: "missing", reason: try explain(next)))
                    next += 1
                }
                next = seq + 1
            }
            while next <= last && numbers.count < limit {
                numbers.append(NumberNote(seq: next, kind: "missing", reason: try explain(next)))
                next += 1
            }
        } else {
            for seq in Set(sorted).sorted() where numbers.count < limit {
                numbers.append(NumberNote(seq: seq, kind: "outside", reason: try explain(seq)))
            }
        }
        numbers.sort { ($0.seq, $0.kind) < ($1.seq, $1.kind) }
        return DayReconciliation(
            verdict: differences.isEmpty && numbers.isEmpty ? .match : .mismatch,
            differences: differences,
            numbers: numbers,
            registers: registers,
            device: deviceSide
        )
    }
}
