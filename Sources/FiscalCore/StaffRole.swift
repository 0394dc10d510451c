/// What a member of staff may do at the outlet (docs/SHOP_DAY.md). The mediator trusts the
/// paired terminal's word about who is at it; the role decides what reports and closings a
/// person may take (the Z needs a supervisor or a manager).
public enum StaffRole: String, Codable, Sendable, Hashable, CaseIterable {
    case cashier
    case supervisor
    case manager
    case admin
}

/// Checks on a staff id as it comes from a terminal or the command line.
public enum StaffIDRule {
    /// 1 to 64 characters, no control characters: the length of an invoice's `cashier_id`.
    public static let length: ClosedRange<Int> = 1...64

    /// Nil when `id` is acceptable, else why not.
    public static func problem(_ id: String) -> String? {
        guard length.contains(id.count) else { return "a staff id is 1 to 64 characters" }
        if id.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "a staff id contains no control characters"
        }
        return nil
    }
}
