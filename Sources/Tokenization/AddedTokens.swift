/// Tokens added on top of the BPE vocabulary (`added_tokens` in tokenizer.json): special
/// tokens such as <|endoftext|>, and in Pythia runs of spaces. They are cut out of the text
/// before normalisation and BPE, longest match first, as Hugging Face tokenizers does.
struct AddedToken: Sendable {
    let id: Int
    let content: String
    let special: Bool
    let leftStrip: Bool
    let rightStrip: Bool
    let singleWord: Bool
}

enum TextSegment {
    case text(Substring)
    case added(AddedToken)
}

struct AddedTokenMatcher: Sendable {
    /// Tokens by first character, longest first.
    private let byFirstCharacter: [Character: [AddedToken]]

    init(_ tokens: [AddedToken]) {
        var map: [Character: [AddedToken]] = [:]
        for token in tokens where !token.content.isEmpty { map[token.content.first!, default: []].append(token) }
        byFirstCharacter = map.mapValues { $0.sorted { $0.content.count > $1.content.count } }
    }

    var isEmpty: Bool { byFirstCharacter.isEmpty }

    func candidates(_ first: Character) -> [AddedToken] { byFirstCharacter[first] ?? [] }

    /// Splits `text` into plain text and added tokens (leftmost, then longest).
    func segments(_ text: String) -> [TextSegment] {
        guard !isEmpty else { return text.isEmpty ? [] : [.text(text[...])] }
        var segments: [TextSegment] = []
        var plainStart = text.startIndex
        var index = text.startIndex
        while index < text.endIndex {
            var matched: (AddedToken, Range<String.Index>)?
            if let candidates = byFirstCharacter[text[index]] {
                for token in candidates where text[index...].hasPrefix(token.content) {
                    let end = text.index(index, offsetBy: token.content.count)
                    if token.singleWord && !isWordBoundary(text, index, end) { continue }
                    matched = (token, index..<end)
                    break
                }
            }
            guard let (token, range) = matched else {
                text.formIndex(after: &index)
                continue
            }
            var start = range.lowerBound, end = range.upperBound
            if token.leftStrip {
                while start > plainStart, text[text.index(before: start)].isWhitespace { start = text.index(before: start) }
            }
            if token.rightStrip {
                while end < text.endIndex, text[end].isWhitespace { end = text.index(after: end) }
            }
            if plainStart < start { segments.append(.text(text[plainStart..<start])) }
            segments.append(.added(token))
            plainStart = end
            index = end
        }
        if plainStart < text.endIndex { segments.append(.text(text[plainStart...])) }
        return segments
    }

    private func isWordBoundary(_ text: String, _ start: String.Index, _ end: String.Index) -> Bool {
        func isWordCharacter(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "_" }
        if start > text.startIndex, isWordCharacter(text[text.index(before: start)]) { return false }
        if end < text.endIndex, isWordCharacter(text[end]) { return false }
        return true
    }
}
