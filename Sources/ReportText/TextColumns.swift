/// Fixed-width text for a thermal printer: display widths, cleaning, padding and wrapping.
///
/// A line is measured in columns, not characters: a combining accent takes none, a CJK
/// ideograph or an emoji takes two. Names, explanations and reasons come from staff and
/// terminals, so they are cleaned first: control characters become spaces and bidi overrides
/// are dropped, so that no text can break a line or reorder the figures around it.
enum TextColumns {
    /// The columns `text` takes on a fixed-width device.
    static func width(_ text: some StringProtocol) -> Int {
        text.reduce(0) { $0 + width(of: $1) }
    }

    /// The columns one grapheme takes: 0, 1 or 2.
    static func width(of character: Character) -> Int {
        let scalars = character.unicodeScalars
        guard let first = scalars.first else { return 0 }
        if scalars.allSatisfy(isZeroWidth) { return 0 }
        if isWide(first) || scalars.contains(where: { $0.properties.isEmojiPresentation }) { return 2 }
        // A text-style emoji asked to show as an emoji (U+FE0F) is drawn two columns wide.
        if first.properties.isEmoji, scalars.contains("\u{FE0F}") { return 2 }
        return 1
    }

    static func isZeroWidth(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: true
        default: scalar.value == 0x200B
        }
    }

    /// East Asian Wide and Fullwidth ranges (Unicode's EastAsianWidth.txt, the blocks that matter).
    static func isWide(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x1100...0x115F, 0x231A...0x231B, 0x2329...0x232A, 0x2E80...0x303E, 0x3041...0x33FF,
            0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF, 0xA960...0xA97F, 0xAC00...0xD7A3,
            0xF900...0xFAFF, 0xFE10...0xFE19, 0xFE30...0xFE6F, 0xFF00...0xFF60, 0xFFE0...0xFFE6,
            0x1F300...0x1F64F, 0x1F900...0x1F9FF, 0x20000...0x2FFFD, 0x30000...0x3FFFD:
            true
        default:
            false
        }
    }

    /// `text` as one printable line: control characters and line breaks become spaces, bidi
    /// controls are dropped, runs of spaces collapse, and the ends are trimmed.
    static func clean(_ text: String) -> String {
        var result = ""
        var pendingSpace = false
        for character in text {
            let scalars = character.unicodeScalars
            if scalars.contains(where: { $0.properties.isBidiControl }) {
                let kept = scalars.filter { !$0.properties.isBidiControl }
                guard !kept.isEmpty else { continue }
                result.unicodeScalars.append(contentsOf: kept)
                continue
            }
            let category = scalars.first?.properties.generalCategory
            if character.isWhitespace || category == .control || category == .lineSeparator
                || category == .paragraphSeparator
            {
                pendingSpace = !result.isEmpty
                continue
            }
            if pendingSpace {
                result.append(" ")
                pendingSpace = false
            }
            result.append(character)
        }
        return result
    }

    /// The longest prefix of `text` that fits in `columns`.
    static func prefix(_ text: String, columns: Int) -> String {
        var result = ""
        var used = 0
        for character in text {
            let next = width(of: character)
            if used + next > columns { break }
            result.append(character)
            used += next
        }
        return result
    }

    /// `text` padded with spaces on the right to `columns` (cut first if it is wider).
    static func padRight(_ text: String, _ columns: Int) -> String {
        let fitted = prefix(text, columns: columns)
        return fitted + String(repeating: " ", count: max(0, columns - width(fitted)))
    }

    /// `text` padded with spaces on the left to `columns` (never cut).
    static func padLeft(_ text: String, _ columns: Int) -> String {
        String(repeating: " ", count: max(0, columns - width(text))) + text
    }

    /// `text` broken into lines of at most `columns`, at spaces where it can, inside words where
    /// a word alone is wider than a line.
    static func wrap(_ text: String, columns: Int) -> [String] {
        precondition(columns > 1, "a line holds at least two columns")
        var lines: [String] = []
        var line = ""
        for word in clean(text).split(separator: " ") {
            var word = String(word)
            let gap = line.isEmpty ? 0 : 1
            if width(line) + gap + width(word) <= columns {
                line += (line.isEmpty ? "" : " ") + word
                continue
            }
            if !line.isEmpty { lines.append(line) }
            line = ""
            while width(word) > columns {
                let head = prefix(word, columns: columns)
                lines.append(head)
                word = String(word.dropFirst(head.count))
            }
            line = word
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }
}
