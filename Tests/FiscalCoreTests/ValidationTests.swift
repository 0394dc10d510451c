import ErrorCatalogSource
import FiscalCore
import FiscalTestSupport
import Foundation
import SampleData
import Testing

@Suite("Invoice validation")
struct ValidationTests {
    let validator = InvoiceValidator()

    @Test("a sample invoice is valid")
    func sampleIsValid() {
        for lines in 1...8 {
            #expect(validator.violations(in: SampleInvoices.sale(lines: lines, seed: lines)).isEmpty)
        }
    }

    /// One broken invoice per rule, with the code and path validation must report.
    static let cases: [(String, @Sendable (inout Invoice) -> Void, ErrorCode, String)] = [
        ("missing merchant", { $0.merchantNIF = "" }, .fieldMissing, "$.merchant_nif"),
        ("missing outlet", { $0.outletID = " " }, .fieldMissing, "$.outlet_id"),
        ("missing terminal", { $0.posTerminalID = "" }, .fieldMissing, "$.pos_terminal_id"),
        ("missing cashier", { $0.cashierID = "" }, .fieldMissing, "$.cashier_id"),
        ("oversized cashier", { $0.cashierID = String(repeating: "x", count: 65) }, .fieldTooLong, "$.cashier_id"),
        (
            "oversized description", { $0.items[0].description = String(repeating: "d", count: 129) }, .fieldTooLong,
            "$.items[0].description"
        ),
        ("bad lane", { $0.laneNumber = 0 }, .formatInvalid, "$.lane_number"),
        ("bad timestamp", { $0.timestamp = "21/11/2026 10:15" }, .formatInvalid, "$.timestamp"),
        ("no offset", { $0.timestamp = "2026-11-21T10:15:00" }, .formatInvalid, "$.timestamp"),
        ("no items", { $0.items = [] }, .itemsEmpty, "$.items"),
        ("zero quantity", { $0.items[1].quantity = Quantity(units: 0) }, .quantityNotPositive, "$.items[1].quantity"),
        (
            "negative quantity", { $0.items[0].quantity = Quantity(units: -1000) }, .quantityNotPositive,
            "$.items[0].quantity"
        ),
        ("negative price", { $0.items[0].unitPrice = Money(units: -1) }, .amountNegative, "$.items[0].unit_price"),
        ("unknown item group", { $0.items[0].taxGroup = "Z" }, .unknownTaxGroup, "$.items[0].tax_group"),
        ("unknown breakdown group", { $0.taxGroups[0].code = "Q" }, .unknownTaxGroup, "$.tax_groups[0].code"),
        ("wrong rate", { $0.taxGroups[1].rate = TaxRate(units: 1800) }, .taxRateMismatch, "$.tax_groups[1].rate"),
        ("duplicate group", { $0.taxGroups.append($0.taxGroups[0]) }, .taxGroupDuplicate, "$.tax_groups[3].code"),
        ("missing group", { $0.taxGroups.removeFirst() }, .taxGroupMissing, "$.tax_groups"),
        (
            "wrong base", { $0.taxGroups[1].base = Money(units: $0.taxGroups[1].base.units + 100) }, .taxBaseMismatch,
            "$.tax_groups[1].base"
        ),
        (
            "wrong tax", { $0.taxGroups[1].amount = Money(units: $0.taxGroups[1].amount.units + 1) },
            .taxAmountMismatch, "$.tax_groups[1].amount"
        ),
        (
            "wrong subtotal", { $0.totals.subtotal = Money(units: $0.totals.subtotal.units - 1) }, .subtotalMismatch,
            "$.totals.subtotal"
        ),
        (
            "wrong vat", { $0.totals.totalVAT = Money(units: $0.totals.totalVAT.units + 1) }, .totalVATMismatch,
            "$.totals.total_vat"
        ),
        (
            "wrong total", { $0.totals.total = Money(units: $0.totals.total.units + 1) }, .totalMismatch,
            "$.totals.total"
        ),
        ("unknown currency", { $0.totals.currency = "EUR" }, .unknownCurrency, "$.totals.currency"),
        (
            "underpaid", { $0.payments = [Invoice.Payment(method: .cash, amount: Money(units: 1))] },
            .paymentsInsufficient, "$.payments"
        ),
        (
            "zero payment", { $0.payments.append(Invoice.Payment(method: .card, amount: .zero)) }, .amountNegative,
            "$.payments[1].amount"
        ),
        ("refund without reference", { $0.invoiceType = .refund }, .referenceMissing, "$.reference"),
        (
            "company without nif", { $0.client = Invoice.Client(name: "ACME SARL", classification: .company) },
            .clientIdentificationMissing, "$.client"
        ),
        ("too many items", { $0.items = Array(repeating: $0.items[0], count: 501) }, .tooManyEntries, "$.items"),
        ("control characters", { $0.posTerminalID = "REG\u{7}1" }, .formatInvalid, "$.pos_terminal_id"),
    ]

    @Test("each rule reports its code at its path", arguments: cases.indices)
    func eachRule(index: Int) {
        let (name, breakIt, code, path) = Self.cases[index]
        var invoice = SampleInvoices.sale(lines: 3)
        breakIt(&invoice)
        let found = validator.violations(in: invoice)
        #expect(found.contains { $0.code == code && $0.path == path }, "\(name): got \(found)")
    }

    @Test("every violation is reported at once")
    func allAtOnce() throws {
        var invoice = SampleInvoices.sale(lines: 3)
        invoice.cashierID = ""
        invoice.outletID = ""
        invoice.items[0].quantity = Quantity(units: 0)
        invoice.totals.currency = "XYZ"
        let error = #expect(throws: FiscalError.self) { try validator.validate(invoice) }
        let codes = Set(error?.violations.map(\.code) ?? [])
        #expect(error?.code == .schemaInvalid)
        #expect(codes.isSuperset(of: [.fieldMissing, .quantityNotPositive, .unknownCurrency]))
        #expect(error?.violations.filter { $0.code == .fieldMissing }.count == 2)
    }

    @Test("missing traceability keys are all reported, each with its path")
    func missingKeys() throws {
        let json =
            #"{"invoice_type":"sale","client":{"classification":"individual"},"items":[],"tax_groups":[],"totals":{"subtotal":0,"total_vat":0,"total":0,"currency":"CDF"},"payments":[]}"#
        let invoice = try Invoice.decode(json: Array(json.utf8))
        let paths = Set(validator.violations(in: invoice).filter { $0.code == .fieldMissing }.map(\.path))
        #expect(
            paths.isSuperset(of: ["$.merchant_nif", "$.outlet_id", "$.pos_terminal_id", "$.cashier_id", "$.timestamp"])
        )
    }

    @Test(
        "structural errors name the path",
        arguments: [
            (#"{"invoice_type":"gift"}"#, "$.invoice_type"),
            (#"[1,2]"#, "$"),
            ("not json", "$"),
        ]
    )
    func structuralErrors(json: String, path: String) {
        let error = #expect(throws: FiscalError.self) { try Invoice.decode(json: Array(json.utf8)) }
        #expect(error?.code == .schemaInvalid)
        #expect(error?.violations.first?.path == path)
    }

    @Test("a refund with a reference and a company with name and NIF are valid")
    func validVariants() {
        var invoice = SampleInvoices.sale()
        invoice.invoiceType = .refund
        invoice.reference = "DEF-1/42"
        invoice.client = Invoice.Client(name: "ACME SARL", nif: "B7654321C", classification: .company)
        #expect(validator.violations(in: invoice).isEmpty)
    }
}

@Suite("Fiscal rules")
struct FiscalRulesTests {
    @Test("the default table has the 14 DGI groups A to N")
    func defaultTable() throws {
        #expect(FiscalRules.default.taxGroups.map(\.code) == "ABCDEFGHIJKLMN".map(String.init))
        try FiscalRules.default.check()
    }

    @Test("a rules file drives validation: a new rate is enforced")
    func loadedRules() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let file = directory.appending("rules.json")
        try Data(#"{"tax_groups":[{"code":"B","rate":18,"label":"TVA 18 %"}],"currencies":["CDF"]}"#.utf8).write(
            to: file
        )
        let rules = try FiscalRules.load(from: file)
        #expect(rules.taxGroup("B")?.rate == TaxRate(units: 1800))
        let invoice = SampleInvoices.build(
            items: [
                Invoice.Item(
                    code: "A1",
                    description: "a",
                    quantity: Quantity(units: 1000),
                    unitPrice: Money(units: 10_000),
                    taxGroup: "B"
                )
            ],
            rules: rules
        )
        #expect(InvoiceValidator(rules: rules).violations(in: invoice).isEmpty)
        #expect(InvoiceValidator().violations(in: invoice).contains { $0.code == .taxRateMismatch })
    }

    @Test(
        "a broken rules file fails naming the file and the key",
        arguments: [
            (#"{"tax_groups":[],"currencies":["CDF"]}"#, "tax_groups"),
            (
                #"{"tax_groups":[{"code":"A","rate":0,"label":"x"},{"code":"A","rate":0,"label":"y"}],"currencies":["CDF"]}"#,
                "tax_groups[1].code"
            ),
            (#"{"tax_groups":[{"code":"A","rate":"abc","label":"x"}],"currencies":["CDF"]}"#, "$.tax_groups[0].rate"),
            (#"{"currencies":["CDF"]}"#, "$.tax_groups"),
        ]
    )
    func brokenRules(json: String, key: String) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let file = directory.appending("rules.json")
        try Data(json.utf8).write(to: file)
        let error = #expect(throws: FiscalError.self) { try FiscalRules.load(from: file) }
        #expect(error?.code == .configInvalid)
        #expect(error?.message.contains(file.path) == true)
        #expect(error?.message.contains(key) == true, "\(error?.message ?? "")")
    }
}

@Suite("Error catalog")
struct ErrorCatalogTests {
    @Test("the catalog gives each code once, each with a summary")
    func unique() {
        let codes = ErrorCode.catalog.map(\.code)
        #expect(Set(codes).count == codes.count)
        #expect(codes.count > 60)
        #expect(ErrorCode.catalog.allSatisfy { !$0.summary.isEmpty })
        #expect(ErrorCode.queueFull.entry?.retryable == true && ErrorCode.syncGap.entry?.origin == .alert)
    }

    @Test("ErrorCode+Catalog.swift is ErrorCatalog.json, generated: no drift")
    func generatedSource() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/FiscalCore")
        let json = try Data(contentsOf: folder.appendingPathComponent("ErrorCatalog.json"))
        let committed = try String(
            contentsOf: folder.appendingPathComponent("ErrorCode+Catalog.swift"),
            encoding: .utf8
        )
        #expect(
            committed == (try ErrorCatalogSource.swift(json)),
            "Sources/FiscalCore/ErrorCode+Catalog.swift is not ErrorCatalog.json: run `make errors`"
        )
        #expect(ErrorCode.catalog.count == (try ErrorCatalogSource.entries(json)).count)
        // The generator refuses a table it could not turn into unique, stable codes.
        let twice = Data(
            (#"[{"name":"a","code":"A","origin":"alert","retryable":false,"summary":"x"},"#
                + #"{"name":"b","code":"A","origin":"alert","retryable":false,"summary":"y"}]"#).utf8
        )
        #expect(throws: ErrorCatalogSource.Invalid.self) { try ErrorCatalogSource.swift(twice) }
        let lower = Data(#"[{"name":"a","code":"a_b","origin":"alert","retryable":false,"summary":"x"}]"#.utf8)
        #expect(throws: ErrorCatalogSource.Invalid.self) { try ErrorCatalogSource.swift(lower) }
    }

    @Test("docs/ERRORS.md is the catalog, generated: no drift")
    func documented() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/ERRORS.md"), encoding: .utf8)
        let generated = try #require(text.range(of: "\n## ")).lowerBound
        #expect(
            String(text[generated...]) == ErrorCode.markdown(),
            "docs/ERRORS.md is not what `fiscal-mediator errors` prints: regenerate it (see its header)"
        )
    }
}
