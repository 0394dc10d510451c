public import FiscalCore

extension ReportFigures {
    /// The figures of `input` for `scope`, as of `asOf` (the shift's end while it is open).
    ///
    /// One pass over the invoices and one over the events, summing in `Int128`; a sum beyond
    /// what ``Money`` holds is VALUE_OUT_OF_RANGE rather than a wrong figure. A cashier's report
    /// keeps only the invoices and events of that cashier's sessions, and its drawer has no
    /// opening float (the float belongs to the terminal's shift, not to one cashier).
    public static func compute(
        _ input: ReportInput,
        scope: ReportScope = .terminal,
        asOf: String
    ) throws(FiscalError) -> ReportFigures {
        let sessions = input.sessions.filter { scope.cashier == nil || $0.cashierID == scope.cashier }
        let inScope = Set(sessions.map(\.id))
        let invoices = input.invoices.filter { sale in
            scope.cashier == nil || sale.sessionID.map(inScope.contains) == true
        }
        let events = input.events.filter { scope.cashier == nil || inScope.contains($0.sessionID) }

        var sales: [String: SalesSum] = [:]
        var drawer: [String: DrawerSum] = [:]
        var bySession: [Int64: [String: (units: Int128, count: Int)]] = [:]
        if scope.cashier == nil {
            for (currency, amount) in input.openingFloat.amounts {
                drawer[currency, default: DrawerSum()].openingFloat += Int128(amount.units)
            }
        }

        for sale in invoices {
            let invoice = sale.invoice
            let currency = invoice.totals.currency
            let sign: Int128 = invoice.invoiceType.needsReference ? -1 : 1
            var sum = sales[currency] ?? SalesSum()
            sum.transactions += 1
            sum.types[invoice.invoiceType.rawValue, default: (0, 0)].count += 1
            sum.types[invoice.invoiceType.rawValue, default: (0, 0)].total += Int128(invoice.totals.total.units)
            sum.grandTotal += sign * Int128(invoice.totals.total.units)
            sum.vat += sign * Int128(invoice.totals.totalVAT.units)
            for line in invoice.taxGroups {
                let key = TaxKey(code: line.code, rate: line.rate.units)
                sum.taxGroups[key, default: (0, 0)].base += sign * Int128(line.base.units)
                sum.taxGroups[key, default: (0, 0)].amount += sign * Int128(line.amount.units)
            }
            let subtotal = Int128(invoice.totals.subtotal.units)
            switch invoice.invoiceType {
            case .refund:
                sum.refunds += subtotal
                sum.refundCount += 1
            case .creditNote:
                sum.voids += subtotal
                sum.voidCount += 1
            case .sale, .deposit, .exportSale:
                let discounts = (sale.context?.discounts ?? []).filter { $0.amount.units > 0 }
                let discounted = discounts.reduce(Int128(0)) { $0 + Int128($1.amount.units) }
                sum.gross += subtotal + discounted
                sum.discounts += discounted
                sum.discountCount += discounts.count
                sum.customers += 1
                sum.itemsSold += invoice.items.reduce(Int128(0)) { $0 + Int128($1.quantity.units) }
            }
            var used = Set<String>()
            for (method, amount) in Self.payments(of: invoice) {
                var line = sum.payments[method] ?? PaymentSum()
                if sign > 0 { line.received += amount } else { line.returned += amount }
                // Counted once per invoice, and only when something stayed with the method after
                // the change: two cash lines are one cash invoice, and cash handed over and all
                // given back as change is no cash payment.
                if amount > 0, used.insert(method).inserted { line.count += 1 }
                sum.payments[method] = line
            }
            sales[currency] = sum
            Self.addToDrawer(sale, sign: sign, into: &drawer)
            if let session = sale.sessionID {
                let net = sign * subtotal
                bySession[session, default: [:]][currency, default: (0, 0)].units += net
                bySession[session, default: [:]][currency, default: (0, 0)].count += 1
            }
        }

        var drawerOpens = 0
        var noSales = 0
        var lineVoids: [String: (units: Int128, count: Int)] = [:]
        for event in events {
            let amount = Int128(event.amount?.units ?? 0)
            switch event.kind {
            case .payout:
                if let currency = event.currency { drawer[currency, default: DrawerSum()].payouts += amount }
            case .payIn:
                if let currency = event.currency { drawer[currency, default: DrawerSum()].payIns += amount }
            case .drawerOpen:
                drawerOpens += 1
            case .noSale:
                drawerOpens += 1
                noSales += 1
            case .lineVoid:
                if let currency = event.currency {
                    lineVoids[currency, default: (0, 0)].units += amount
                    lineVoids[currency, default: (0, 0)].count += 1
                }
            }
        }

        let seqs = invoices.map(\.seq)
        return ReportFigures(
            terminal: input.terminal,
            periodID: input.periodID,
            cashier: scope.cashier,
            shiftStart: input.openedAt,
            shiftEnd: input.closedAt ?? asOf,
            firstSeq: seqs.min(),
            lastSeq: seqs.max(),
            sales: try sales.keys.sorted().map { currency throws(FiscalError) in
                try sales[currency]!.figures(currency)
            },
            drawer: try drawer.keys.sorted().map { currency throws(FiscalError) in
                try drawer[currency]!.figures(currency)
            },
            statistics: Statistics(
                transactions: invoices.count,
                customers: invoices.count { !$0.invoice.invoiceType.needsReference },
                drawerOpens: drawerOpens,
                noSales: noSales
            ),
            lineVoids: try lineVoids.keys.sorted().map { currency throws(FiscalError) in
                CountedAmount(
                    currency: currency,
                    count: lineVoids[currency]!.count,
                    amount: try money(lineVoids[currency]!.units)
                )
            },
            sessions: try sessions.map { session throws(FiscalError) in
                let sold = bySession[session.id] ?? [:]
                return SessionLine(
                    sessionID: session.id,
                    cashierID: session.cashierID,
                    cashierName: session.cashierName,
                    openedAt: session.openedAt,
                    closedAt: session.closedAt,
                    sales: try sold.keys.sorted().map { currency throws(FiscalError) in
                        CountedAmount(
                            currency: currency,
                            count: sold[currency]!.count,
                            amount: try money(sold[currency]!.units)
                        )
                    }
                )
            }
        )
    }

    /// An invoice's payments per method with the change taken off: payments may add up to more
    /// than the total (cash handed over), and the excess went back as change, from the cash
    /// lines first, then from the last lines.
    static func payments(of invoice: Invoice) -> [(String, Int128)] {
        var lines = invoice.payments.map { ($0.method.rawValue, Int128($0.amount.units)) }
        var excess = lines.reduce(Int128(0)) { $0 + $1.1 } - Int128(invoice.totals.total.units)
        let order = lines.indices.sorted { a, b in
            (lines[a].0 == "cash" ? 0 : 1, -a) < (lines[b].0 == "cash" ? 0 : 1, -b)
        }
        for index in order where excess > 0 {
            let taken = min(excess, lines[index].1)
            lines[index].1 -= taken
            excess -= taken
        }
        return lines
    }

    /// The drawer's side of one invoice, per physical currency. With a sale context: its cash
    /// tenders and its change (for a refund or credit note, the cash handed back, less any
    /// change the customer returned). Without one: the invoice's cash payments, change taken
    /// off, in the invoice's currency.
    static func addToDrawer(_ sale: ReportInput.Sealed, sign: Int128, into drawer: inout [String: DrawerSum]) {
        if let context = sale.context, !context.tendered.isEmpty {
            for tender in context.tendered where tender.method == .cash {
                if sign > 0 {
                    drawer[tender.currency, default: DrawerSum()].cashReceived += Int128(tender.amount.units)
                } else {
                    drawer[tender.currency, default: DrawerSum()].cashRefunds += Int128(tender.amount.units)
                }
            }
            for given in context.change {
                if sign > 0 {
                    drawer[given.currency, default: DrawerSum()].changeGiven += Int128(given.amount.units)
                } else {
                    drawer[given.currency, default: DrawerSum()].cashRefunds -= Int128(given.amount.units)
                }
            }
            return
        }
        let cash = payments(of: sale.invoice).filter { $0.0 == "cash" }.reduce(Int128(0)) { $0 + $1.1 }
        guard cash != 0 else { return }
        let currency = sale.invoice.totals.currency
        if sign > 0 {
            drawer[currency, default: DrawerSum()].cashReceived += cash
        } else {
            drawer[currency, default: DrawerSum()].cashRefunds += cash
        }
    }

    /// `units` as an amount, if ``Money`` holds it: within ``Money/limit``, not merely within
    /// `Int64`, or the stored record would not decode again (its body is read back by
    /// `report verify` and `report show`).
    static func money(_ units: Int128) throws(FiscalError) -> Money {
        guard units.magnitude <= UInt128(Money.limit), let value = Int64(exactly: units) else {
            throw FiscalError(.valueOutOfRange, "a report figure is beyond what an amount holds")
        }
        return Money(units: value)
    }

    struct TaxKey: Hashable, Comparable {
        var code: String
        var rate: Int64
        static func < (a: TaxKey, b: TaxKey) -> Bool { (a.code, a.rate) < (b.code, b.rate) }
    }

    struct PaymentSum {
        var received: Int128 = 0
        var returned: Int128 = 0
        var count = 0
    }

    struct SalesSum {
        var gross: Int128 = 0
        var discounts: Int128 = 0
        var refunds: Int128 = 0
        var voids: Int128 = 0
        var vat: Int128 = 0
        var grandTotal: Int128 = 0
        var taxGroups: [TaxKey: (base: Int128, amount: Int128)] = [:]
        var payments: [String: PaymentSum] = [:]
        var transactions = 0
        var customers = 0
        var itemsSold: Int128 = 0
        var voidCount = 0
        var refundCount = 0
        var discountCount = 0
        var types: [String: (count: Int, total: Int128)] = [:]

        func figures(_ currency: String) throws(FiscalError) -> CurrencySales {
            let net = gross - discounts - refunds - voids
            guard itemsSold.magnitude <= UInt128(Quantity.limit), let items = Int64(exactly: itemsSold) else {
                throw FiscalError(.valueOutOfRange, "the items sold are beyond what a quantity holds")
            }
            let average = transactions == 0 ? 0 : FixedPoint.divideRounded(grandTotal, by: Int128(transactions))
            var sales = CurrencySales(
                currency: currency,
                gross: try money(gross),
                discounts: try money(discounts),
                refunds: try money(refunds),
                voids: try money(voids),
                net: try money(net),
                vat: try money(vat),
                grandTotal: try money(grandTotal),
                taxGroups: try taxGroups.keys.sorted().map { key throws(FiscalError) in
                    TaxGroupLine(
                        code: key.code,
                        rate: TaxRate(units: key.rate),
                        base: try money(taxGroups[key]!.base),
                        amount: try money(taxGroups[key]!.amount)
                    )
                },
                payments: try payments.keys.sorted().map { method throws(FiscalError) in
                    let line = payments[method]!
                    return PaymentLine(
                        method: method,
                        received: try money(line.received),
                        returned: try money(line.returned),
                        net: try money(line.received - line.returned),
                        count: line.count
                    )
                },
                transactions: transactions,
                average: try money(average),
                customers: customers,
                itemsSold: Quantity(units: items),
                voidCount: voidCount,
                refundCount: refundCount,
                discountCount: discountCount
            )
            sales.types = try types.keys.sorted().map { type throws(FiscalError) in
                TypeLine(invoiceType: type, count: types[type]!.count, total: try money(types[type]!.total))
            }
            return sales
        }
    }

    struct DrawerSum {
        var openingFloat: Int128 = 0
        var cashReceived: Int128 = 0
        var changeGiven: Int128 = 0
        var cashRefunds: Int128 = 0
        var payouts: Int128 = 0
        var payIns: Int128 = 0

        func figures(_ currency: String) throws(FiscalError) -> DrawerLine {
            DrawerLine(
                currency: currency,
                openingFloat: try money(openingFloat),
                cashReceived: try money(cashReceived),
                changeGiven: try money(changeGiven),
                cashRefunds: try money(cashRefunds),
                payouts: try money(payouts),
                payIns: try money(payIns),
                expected: try money(openingFloat + cashReceived - changeGiven - cashRefunds - payouts + payIns)
            )
        }
    }
}
