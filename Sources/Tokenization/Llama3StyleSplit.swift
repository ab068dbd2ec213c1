/// The pre-tokeniser regex of Llama 3 (and, with single digits, Qwen2; with combining marks
/// joining letters, Qwen3.5), scanned by hand so that its meaning is Oniguruma's, as in
/// Hugging Face `tokenizers`, and its time linear:
///
///     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
///
/// The alternatives are tried in order at each position and the first that matches is taken,
/// as a backtracking matcher does. `\s` is the Unicode White_Space property.
public struct Llama3StyleSplit: Sendable, Equatable {
    /// `\p{N}{1,3}` (Llama 3) or `\p{N}` (Qwen).
    let digitsPerPiece: Int
    /// Qwen3.5: letters are `[\p{L}\p{M}]`, and marks are not "other".
    let marksJoinLetters: Bool

    public static let llama3 = Llama3StyleSplit(digitsPerPiece: 3, marksJoinLetters: false)
    public static let qwen2 = Llama3StyleSplit(digitsPerPiece: 1, marksJoinLetters: false)
    public static let qwen35 = Llama3StyleSplit(digitsPerPiece: 1, marksJoinLetters: true)

    /// The patterns as tokenizer.json files and transformers' GGUF loader spell them.
    static let patterns: [String: Llama3StyleSplit] = [
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#: .llama3,
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#: .qwen2,
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#: .qwen35,
    ]

    /// The split of a GGUF file's tokenizer.ggml.pre, as transformers maps it
    /// (integrations/gguf/gguf_tokenizer_mapping.py, GGUF_PRE_TOKENIZER_SPLITS).
    static let ofGGUFPreTokenizer: [String: Llama3StyleSplit] = {
        var map: [String: Llama3StyleSplit] = [:]
        for name in ["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                     "jina-v5-nano", "dbrx", "smaug-bpe"] { map[name] = .llama3 }
        for name in ["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez"] { map[name] = .qwen2 }
        map["qwen35"] = .qwen35
        return map
    }()

    var pattern: String { Self.patterns.first { $0.value == self }!.key }

    private enum Class { case letter, mark, number, space, other }

    private func characterClass(_ scalar: Unicode.Scalar) -> Class {
        let properties = scalar.properties
        if properties.isWhitespace { return .space }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .nonspacingMark, .spacingMark, .enclosingMark: return marksJoinLetters ? .mark : .other
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    func pieces(_ text: Substring) -> [Substring] {
        let scalars = text.unicodeScalars
        let scanner = Scanner(s: Array(scalars), split: self)
        let indices = ScalarIndices(scalars)
        var pieces: [Substring] = []
        var i = 0
        while i < scanner.n {
            let end = scanner.contractionEnd(i) ?? scanner.letterRunEnd(i) ?? scanner.numberEnd(i) ?? scanner.otherRunEnd(i)
                ?? scanner.whitespaceEnd(i)
            pieces.append(text[indices[i]..<indices[end]])
            i = end
        }
        return pieces
    }

    /// One text's scalars and their classes; each method is one alternative of the regex at
    /// position i, giving where its match ends, or nil when it does not match.
    private struct Scanner {
        let s: [Unicode.Scalar]
        let classes: [Class]
        let n: Int
        let digitsPerPiece: Int

        init(s: [Unicode.Scalar], split: Llama3StyleSplit) {
            self.s = s
            classes = s.map(split.characterClass)
            n = s.count
            digitsPerPiece = split.digitsPerPiece
        }

        func isLineBreak(_ i: Int) -> Bool { s[i] == "\r" || s[i] == "\n" }
        func inLetterRun(_ i: Int) -> Bool { classes[i] == .letter || classes[i] == .mark }

        func runEnd(from start: Int, _ belongs: (Int) -> Bool) -> Int {
            var j = start
            while j < n && belongs(j) { j += 1 }
            return j
        }

        /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)`; case folding also lets U+017F (ſ) match s.
        func contractionEnd(_ i: Int) -> Int? {
            guard s[i] == "'", i + 1 < n else { return nil }
            func folded(_ k: Int) -> Character? {
                guard k < n else { return nil }
                if s[k] == "\u{17F}" { return "s" }
                guard s[k].isASCII else { return nil }
                return Character(s[k]).lowercased().first
            }
            switch folded(i + 1) {
            case "s", "t", "m", "d": return i + 2
            case "r", "v": return folded(i + 2) == "e" ? i + 3 : nil
            case "l": return folded(i + 2) == "l" ? i + 3 : nil
            default: return nil
            }
        }

        /// `[^\r\n\p{L}\p{N}]?\p{L}+`: a letter run, with one character before it that is not
        /// a line break, letter or number (a space, punctuation, a mark).
        func letterRunEnd(_ i: Int) -> Int? {
            if inLetterRun(i) { return runEnd(from: i, inLetterRun) }
            if classes[i] != .number && !isLineBreak(i) && i + 1 < n && inLetterRun(i + 1) { return runEnd(from: i + 1, inLetterRun) }
            return nil
        }

        /// `\p{N}{1,3}` or `\p{N}`.
        func numberEnd(_ i: Int) -> Int? {
            guard classes[i] == .number else { return nil }
            return min(runEnd(from: i) { classes[$0] == .number }, i + digitsPerPiece)
        }

        /// ` ?[^\s\p{L}\p{N}]+[\r\n]*`.
        func otherRunEnd(_ i: Int) -> Int? {
            let start = (s[i] == " " && i + 1 < n && classes[i + 1] == .other) ? i + 1 : i
            guard classes[start] == .other else { return nil }
            let end = runEnd(from: start) { classes[$0] == .other }
            return runEnd(from: end, isLineBreak)
        }

        /// `\s*[\r\n]+|\s+(?!\S)|\s+` at a whitespace character: up to the last line break of
        /// the run if it has one; else the run, less its last character when a non-space follows.
        func whitespaceEnd(_ i: Int) -> Int {
            let end = runEnd(from: i) { classes[$0] == .space }
            if let lastBreak = (i..<end).last(where: isLineBreak) { return lastBreak + 1 }
            if end < n && end - i > 1 { return end - 1 }
            return max(end, i + 1)
        }
    }
}
