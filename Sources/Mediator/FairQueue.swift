public import FiscalCore

/// Waiting work for the device, served round-robin across terminals: each terminal's own
/// requests stay in order, and one busy lane cannot starve the others.
///
/// Bounded: at most `perTerminalLimit` waiting per terminal and `limit` in all.
public struct FairQueue<Element>: Sendable where Element: Sendable {
    public let limit: Int
    public let perTerminalLimit: Int
    private var lanes: [TerminalID: [Element]] = [:]
    /// Terminals with waiting work, in the order they will be served.
    private var ring: [TerminalID] = []
    public private(set) var count = 0

    public init(limit: Int, perTerminalLimit: Int) {
        self.limit = limit
        self.perTerminalLimit = perTerminalLimit
    }

    public var isEmpty: Bool { count == 0 }

    /// Why an element cannot be added, if it cannot. With `headLeaving`, the element at the head
    /// is about to leave for the device and does not count as waiting.
    public func refusal(for terminal: TerminalID, headLeaving: Bool = false) -> String? {
        let leaving = headLeaving ? peekNext() : nil
        let waiting = count - (leaving == nil ? 0 : 1)
        let waitingHere = (lanes[terminal]?.count ?? 0) - (leaving?.terminal == terminal ? 1 : 0)
        if waiting >= limit { return "\(waiting) requests already wait for the device" }
        if waitingHere >= perTerminalLimit {
            return "terminal \(terminal) already has \(perTerminalLimit) requests waiting"
        }
        return nil
    }

    /// Appends; returns the element's position (1 = served next). Check ``refusal(for:)`` first.
    @discardableResult
    public mutating func append(_ element: Element, for terminal: TerminalID) -> Int {
        if lanes[terminal, default: []].isEmpty { ring.append(terminal) }
        lanes[terminal, default: []].append(element)
        count += 1
        return positions().last { $0.terminal == terminal }!.position
    }

    /// The element ``popNext()`` would return, left in place.
    public func peekNext() -> (terminal: TerminalID, element: Element)? {
        guard let terminal = ring.first, let element = lanes[terminal]?.first else { return nil }
        return (terminal, element)
    }

    /// The next element in round-robin order.
    public mutating func popNext() -> (terminal: TerminalID, element: Element)? {
        guard let terminal = ring.first, var lane = lanes[terminal], !lane.isEmpty else { return nil }
        let element = lane.removeFirst()
        ring.removeFirst()
        if lane.isEmpty {
            lanes[terminal] = nil
        } else {
            lanes[terminal] = lane
            ring.append(terminal)
        }
        count -= 1
        return (terminal, element)
    }

    /// Whether any waiting element matches `predicate`.
    public func contains(where predicate: (TerminalID, Element) -> Bool) -> Bool {
        lanes.contains { terminal, lane in lane.contains { predicate(terminal, $0) } }
    }

    /// Removes the elements matching `predicate`; returns them.
    public mutating func remove(where predicate: (TerminalID, Element) -> Bool) -> [Element] {
        var removed: [Element] = []
        for terminal in ring {
            guard let lane = lanes[terminal] else { continue }
            let kept = lane.filter { !predicate(terminal, $0) }
            removed += lane.filter { predicate(terminal, $0) }
            lanes[terminal] = kept.isEmpty ? nil : kept
        }
        ring.removeAll { lanes[$0] == nil }
        count -= removed.count
        return removed
    }

    /// Every waiting element with its position, in serving order.
    public func positions() -> [(terminal: TerminalID, element: Element, position: Int)] {
        var cursors = ring.map { ($0, 0) }
        var result: [(TerminalID, Element, Int)] = []
        var position = 1
        while !cursors.isEmpty {
            var next: [(TerminalID, Int)] = []
            for (terminal, index) in cursors {
                let lane = lanes[terminal]!
                result.append((terminal, lane[index], position))
                position += 1
                if index + 1 < lane.count { next.append((terminal, index + 1)) }
            }
            cursors = next
        }
        return result.map { (terminal: $0.0, element: $0.1, position: $0.2) }
    }
}
