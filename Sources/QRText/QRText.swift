import CQREncode

/// A QR code drawn with text: two modules per character cell (Unicode half blocks), with the
/// quiet zone, for a terminal window a tablet's camera can read.
public enum QRText {
    /// `text` as QR code lines (error correction M, 8-bit mode); `nil` if libqrencode cannot
    /// encode it (too long).
    public static func render(_ text: String) -> [String]? {
        guard let code = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M) else { return nil }
        defer { QRcode_free(code) }
        let width = Int(code.pointee.width)
        let quiet = 2
        let size = width + 2 * quiet
        func dark(_ x: Int, _ y: Int) -> Bool {
            let (col, row) = (x - quiet, y - quiet)
            guard (0..<width).contains(col), (0..<width).contains(row) else { return false }
            return code.pointee.data[row * width + col] & 1 == 1
        }
        var lines: [String] = []
        for y in stride(from: 0, to: size, by: 2) {
            var line = ""
            for x in 0..<size {
                // Light on dark is what most terminals show: draw the light modules.
                switch (!dark(x, y), !dark(x, y + 1)) {
                case (true, true): line += "█"
                case (true, false): line += "▀"
                case (false, true): line += "▄"
                case (false, false): line += " "
                }
            }
            lines.append(line)
        }
        return lines
    }
}
