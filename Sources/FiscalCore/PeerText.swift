/// Text a peer chose (a terminal, a host on the device line, an HTTP client), made safe to
/// print on a console or in a log line: control characters, quotes and backslashes are
/// escaped as in JSON, so one value can never start a forged line or paint the terminal.
public enum PeerText {
    /// `text` with every control character (C0, DEL, C1, and the line and paragraph
    /// separators) written as `\n`, `\u{1b}` and so on, and `"` and `\` escaped; cut to
    /// `limit` characters with an ellipsis.
    public static func escaped(_ text: some StringProtocol, limit: Int = 200) -> String {
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count == limit {
                out += "…"
                break
            }
            count += 1
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _
            where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar == "\u{2028}"
                || scalar == "\u{2029}":
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
