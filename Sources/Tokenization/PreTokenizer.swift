import Foundation

/// Splits normalised text into pieces that BPE encodes independently. A Hugging Face
/// pre-tokeniser Sequence is a list of steps, each applied to every piece the steps before it
/// produced; ByteLevel without its regex adds no step (the byte mapping comes after all steps).
public struct PreTokenizer: Sendable {
    public enum Step: Sendable {
        /// GPT-2's regular expression (ByteLevel with use_regex), hand-scanned:
        /// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
        case gpt2
        /// The Split regexes of Llama 3 and Qwen, hand-scanned.
        case llama3Style(Llama3StyleSplit)
        /// Digits: every digit a piece of its own (individual), or runs of digits.
        case digits(individual: Bool)
        /// Any other isolated Split: the matches and the text between them all become pieces.
        case isolatedRegex(NSRegularExpression)
    }

    let steps: [Step]

    public init(steps: [Step]) { self.steps = steps }

    /// GPT-2's, GPT-NeoX's and SmolLM2's (from GGUF) pre-tokeniser.
    public static let gpt2 = PreTokenizer(steps: [.gpt2])

    /// Pieces of `text`, in order, covering it exactly.
    public func split(_ text: Substring) -> [Substring] {
        var pieces = text.isEmpty ? [] : [text]
        for step in steps {
            var next: [Substring] = []
            next.reserveCapacity(pieces.count)
            for piece in pieces { next += step.pieces(piece) }
            pieces = next
        }
        return pieces
    }
}

extension PreTokenizer.Step {
    func pieces(_ text: Substring) -> [Substring] {
        switch self {
        case .gpt2: return Self.gpt2Pieces(text)
        case .llama3Style(let split): return split.pieces(text)
        case .digits(let individual): return Self.digitPieces(text, individual: individual)
        case .isolatedRegex(let regex): return Self.isolated(text, regex)
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
        let indices = ScalarIndices(scalars)
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

    /// `tokenizers`' Digits: a digit is a character of category Nd, Nl or No (Rust's is_numeric).
    private static func digitPieces(_ text: Substring, individual: Bool) -> [Substring] {
        let scalars = text.unicodeScalars
        var pieces: [Substring] = []
        var start = scalars.startIndex
        var previousWasDigit = false
        var index = scalars.startIndex
        while index < scalars.endIndex {
            let isDigit = characterClass(scalars[index]) == .number
            // A piece ends before a digit, after a digit (individual), and where a digit run ends.
            if index > start && (isDigit != previousWasDigit || (isDigit && individual)) {
                pieces.append(text[start..<index])
                start = index
            }
            previousWasDigit = isDigit
            scalars.formIndex(after: &index)
        }
        if start < scalars.endIndex { pieces.append(text[start...]) }
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

/// String indices of a text's Unicode scalars, and its end, by scalar position.
struct ScalarIndices {
    private var indices: [String.Index] = []

    init(_ scalars: Substring.UnicodeScalarView) {
        var index = scalars.startIndex
        while index < scalars.endIndex {
            indices.append(index)
            scalars.formIndex(after: &index)
        }
        indices.append(scalars.endIndex)
    }

    subscript(position: Int) -> String.Index { indices[position] }
}
