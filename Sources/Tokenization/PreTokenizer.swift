import Foundation

/// Splits normalised text into pieces that BPE encodes independently.
enum PreTokenizer: Sendable {
    /// GPT-2's regular expression (ByteLevel with use_regex), hand-scanned:
    /// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
    case gpt2
    /// A `Split` with a regular expression whose matches and the text between them both
    /// become pieces ("isolated"), as BLOOM uses.
    case isolatedSplit(NSRegularExpression)
    /// The whole text as one piece (ByteLevel without the regex).
    case none

    /// Pieces of `text`, in order, covering it exactly.
    func split(_ text: Substring) -> [Substring] {
        switch self {
        case .none: return text.isEmpty ? [] : [text]
        case .gpt2: return Self.gpt2Pieces(text)
        case .isolatedSplit(let regex): return Self.isolated(text, regex)
        }
    }

    private enum Class { case letter, number, space, other }

    private static func characterClass(_ scalar: Unicode.Scalar) -> Class {
        let properties = scalar.properties
        if properties.isWhitespace { return .space }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    private static func gpt2Pieces(_ text: Substring) -> [Substring] {
        let scalars = text.unicodeScalars
        let s = Array(scalars)
        let classes = s.map(characterClass)
        var indices: [String.Index] = []
        indices.reserveCapacity(s.count + 1)
        var index = scalars.startIndex
        while index < scalars.endIndex {
            indices.append(index)
            scalars.formIndex(after: &index)
        }
        indices.append(scalars.endIndex)
        var pieces: [Substring] = []
        var i = 0
        let n = s.count
        func run(from start: Int, _ c: Class) -> Int {
            var j = start
            while j < n && classes[j] == c { j += 1 }
            return j
        }
        while i < n {
            var end = i
            // Contractions.
            if s[i] == "'" && i + 1 < n {
                let rest = String(String.UnicodeScalarView(s[(i + 1)..<min(n, i + 3)]))
                if rest.hasPrefix("re") || rest.hasPrefix("ve") || rest.hasPrefix("ll") { end = i + 3 }
                else if let first = rest.first, "stmd".contains(first) { end = i + 2 }
            }
            if end == i {
                // ` ?X+` for letters, numbers, and everything else that is not a space.
                let start = (s[i] == " " && i + 1 < n && classes[i + 1] != .space) ? i + 1 : i
                let c = classes[start]
                if c != .space {
                    end = run(from: start, c)
                } else {
                    // Whitespace: the run, minus its last character when non-space follows
                    // (that character then prefixes the next piece), but at least one.
                    let j = run(from: i, .space)
                    end = (j < n && j - i > 1) ? j - 1 : j
                }
            }
            pieces.append(text[indices[i]..<indices[end]])
            i = end
        }
        return pieces
    }

    private static func isolated(_ text: Substring, _ regex: NSRegularExpression) -> [Substring] {
        let string = String(text)
        let whole = NSRange(string.startIndex..<string.endIndex, in: string)
        var pieces: [Substring] = []
        var last = string.startIndex
        for match in regex.matches(in: string, range: whole) {
            guard let range = Range(match.range, in: string), !range.isEmpty else { continue }
            if last < range.lowerBound { pieces.append(string[last..<range.lowerBound]) }
            pieces.append(string[range])
            last = range.upperBound
        }
        if last < string.endIndex { pieces.append(string[last...]) }
        return pieces
    }
}
