import FiscalCore
import Foundation
import Hummingbird
import Mediator
import MediatorStore
import NIOCore
import ReportText
import Reports

/// Reports in the ops API (docs/REPORTS.md): the live X of a terminal (free, unnumbered), the
/// stored reports by kind, terminal and date, and one report by number, as JSON or 80 mm text.
extension Handlers {
    func reportX(_ code: String, cashier: String?) async throws -> Response {
        do {
            let record = try await service.store.previewX(
                at: TerminalID(code),
                cashier: cashier,
                settings: service.configuration.reports
            )
            return try recordResponse(record, format: nil)
        } catch let error as FiscalError {
            return refusal(error, status: error.code == .workPeriodClosed ? .notFound : .badRequest)
        }
    }

    func reports(_ query: [String: String]) async throws -> Response {
        var kinds: [ReportKind] = []
        for text in (query["kind"] ?? "").split(separator: ",") {
            guard let kind = ReportKind(rawValue: text.uppercased()) else {
                return refusal(
                    FiscalError(
                        .formatInvalid,
                        "kind '\(PeerText.escaped(String(text), limit: 8))' is not x, z, cx or cz"
                    ),
                    status: .badRequest
                )
            }
            kinds.append(kind)
        }
        let reports = try await service.store.reports(
            kinds: kinds.isEmpty ? ReportKind.allCases : kinds,
            terminal: query["terminal"].map { TerminalID($0) },
            from: query["from"],
            to: query["to"]
        )
        return json(
            .array(
                reports.map { report in
                    .object([
                        "number": .string(report.number), "kind": .string(report.kind.rawValue),
                        "terminal": report.terminal.map(JSONValue.string) ?? .null,
                        "period_id": report.periodID.map { .int(Int(clamping: $0)) } ?? .null,
                        "cashier": report.cashier.map(JSONValue.string) ?? .null,
                        "generated_at": .string(report.generatedAt), "generated_by": .string(report.generatedBy),
                        "hash": .string(report.hash),
                    ])
                }
            )
        )
    }

    func report(_ number: String, format: String?) async throws -> Response {
        guard ReportNumber.isWellFormed(number) else {
            return refusal(
                FiscalError(.reportNotFound, "'\(PeerText.escaped(number, limit: 64))' is not a report number"),
                status: .notFound
            )
        }
        do {
            let (record, hash) = try await service.store.report(number)
            return try recordResponse(record, format: format, hash: hash)
        } catch let error as FiscalError where error.code == .reportNotFound {
            return refusal(error, status: .notFound)
        }
    }

    /// The record as JSON, or as 80 mm text with `hash` (the stored one; for a record just
    /// taken, the hash of the body it was stored with).
    private func recordResponse(_ record: ReportRecord, format: String?, hash: String? = nil) throws -> Response {
        if format == "text" {
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: ResponseBody(
                    byteBuffer: ByteBuffer(
                        string: ReportText.render(
                            record,
                            terminalName: nil,
                            hash: record.isPreview ? nil : try hash ?? ReportRecord.hash(of: record.body())
                        )
                    )
                )
            )
        }
        return Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: try record.body()))
        )
    }

    private func refusal(_ error: FiscalError, status: HTTPResponse.Status) -> Response {
        json(.object(["code": .string(error.code.rawValue), "message": .string(error.message)]), status: status)
    }

    /// The combined X preview over `terminals` (comma-separated codes; all active by default).
    func combinedX(terminals: String?) async -> Response {
        let codes = terminals.map { $0.split(separator: ",").map { TerminalID(String($0)) } }
        do {
            return try recordResponse(try await service.combinedX(terminals: codes), format: nil)
        } catch let error as FiscalError {
            return refusal(error, status: error.code == .notRegistered ? .notFound : .badRequest)
        } catch {
            return refusal(FiscalError(.storeUnavailable, "\(error)"), status: .serviceUnavailable)
        }
    }

    /// The combined Z, taken by `taken_by` (a manager): the device's RPT|Z in turn with sales,
    /// then the record. A refusal (DAY_NOT_CLOSED, DAY_ALREADY_CLOSED, ROLE_REQUIRED,
    /// PERIOD_BUSY) is 409; a device that cannot answer is 503.
    func combinedZ(takenBy: String?) async -> Response {
        guard let takenBy, !takenBy.isEmpty else {
            return refusal(
                FiscalError(.messageInvalid, "taken_by names the manager who closes the day"),
                status: .badRequest
            )
        }
        let record: ReportRecord
        do {
            record = try await service.combinedZ(takenBy: takenBy)
        } catch {
            return refusal(error, status: Self.status(for: error.code))
        }
        do {
            return try recordResponse(record, format: nil)
        } catch {
            return refusal(FiscalError(.replyUnencodable, "\(error)"), status: .internalServerError)
        }
    }
}
