/// The kinds of terminal an outlet registers, and the naming convention that ties a terminal's
/// code to its kind (spec §4.1.3): `REG-001` is a register, `MOB-003` a waiter's tablet.
public enum TerminalKind: String, Codable, Sendable, CaseIterable {
    /// A supermarket checkout lane.
    case register
    /// A restaurant or hotel service point.
    case till
    /// A back-office workstation.
    case admin
    /// A kitchen display.
    case kitchenDisplay = "kds"
    /// A handheld (a waiter's tablet) that roams on Wi-Fi.
    case mobile
    /// A self-service kiosk.
    case selfCheckout = "self_checkout"

    /// The code prefix for this kind.
    public var prefix: String {
        switch self {
        case .register: "REG"
        case .till: "TILL"
        case .admin: "ADMIN"
        case .kitchenDisplay: "KDS"
        case .mobile: "MOB"
        case .selfCheckout: "SCO"
        }
    }

    /// The business mode a terminal of this kind serves unless told otherwise.
    public var defaultBusinessMode: BusinessMode {
        switch self {
        case .register, .selfCheckout: .supermarket
        case .till, .kitchenDisplay, .mobile: .restaurant
        case .admin: .admin
        }
    }

    /// The heartbeat profile a terminal of this kind uses unless told otherwise: lanes on the
    /// wired LAN, tablets on Wi-Fi, the rest at the spec's 60 s.
    public var defaultHeartbeatProfile: String {
        switch self {
        case .register, .selfCheckout, .till: "lane"
        case .mobile: "tablet"
        case .admin, .kitchenDisplay: "default"
        }
    }

    /// The kind a terminal code names, or an error saying what a code must look like.
    ///
    /// A code is `PREFIX-SUFFIX`: a prefix from the table above, a dash, then 1 to 16
    /// uppercase letters or digits (`REG-001`, `MOB-12`, `TILL-BAR1`).
    public static func of(code: String) throws(FiscalError) -> TerminalKind {
        let parts = code.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        let allowed =
            "a terminal code is PREFIX-SUFFIX with PREFIX one of "
            + allCases.map(\.prefix).joined(separator: ", ")
            + " and SUFFIX 1 to 16 of A-Z, 0-9 (REG-001)"
        guard parts.count == 2, let kind = allCases.first(where: { $0.prefix == parts[0] }) else {
            throw FiscalError(.formatInvalid, "'\(code)': \(allowed)")
        }
        let suffix = parts[1].utf8
        guard (1...16).contains(suffix.count),
            suffix.allSatisfy({
                (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
            })
        else {
            throw FiscalError(.formatInvalid, "'\(code)': \(allowed)")
        }
        return kind
    }
}

/// What a terminal is used for (spec §4.1.2).
public enum BusinessMode: String, Codable, Sendable, CaseIterable {
    case supermarket
    case restaurant
    case admin
}
