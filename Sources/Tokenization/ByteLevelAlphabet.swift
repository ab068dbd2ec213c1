/// GPT-2's byte-level alphabet: every byte gets a printable Unicode character, so that BPE
/// works on any UTF-8 text without an unknown token. Printable Latin-1 bytes map to
/// themselves; the others (control characters, space, …) to U+0100 onwards, in byte order.
enum ByteLevelAlphabet {
    static let characterOfByte: [Character] = {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var codePoints = printable
        var next = 0
        for byte in 0..<256 where !printable.contains(byte) {
            printable.append(byte)
            codePoints.append(256 + next)
            next += 1
        }
        var table = [Character](repeating: " ", count: 256)
        for (byte, point) in zip(printable, codePoints) { table[byte] = Character(Unicode.Scalar(UInt32(point))!) }
        return table
    }()

    static let byteOfCharacter: [Character: UInt8] = {
        var map: [Character: UInt8] = [:]
        for (byte, character) in characterOfByte.enumerated() { map[character] = UInt8(byte) }
        return map
    }()

    /// The byte-level form of a piece of text: one alphabet character per UTF-8 byte.
    static func encode(_ text: Substring) -> [Character] {
        text.utf8.map { characterOfByte[Int($0)] }
    }
}
