import Numerics

/// Mutations that understand JSON's tokens: a number, string, key or whole value is replaced
/// by an interesting one, so that most cases get past the JSON parser into the code that
/// interprets the values.
public enum JSONMutator {
    struct Token {
        enum Kind { case number, string, key, literal }
        let kind: Kind
        let range: Range<Int>
    }

    /// Numbers, strings (keys told apart by the colon after them) and true/false/null.
    static func tokens(_ bytes: [UInt8]) -> [Token] {
        var tokens: [Token] = []
        var i = 0
        func isNumberByte(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || b == 0x2D || b == 0x2B || b == 0x2E || b == 0x65 || b == 0x45 }
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x22 {  // a string: up to the next unescaped quote
                var j = i + 1
                while j < bytes.count && bytes[j] != 0x22 { j += bytes[j] == 0x5C ? 2 : 1 }
                let end = min(j + 1, bytes.count)
                var k = end
                while k < bytes.count && (bytes[k] == 0x20 || bytes[k] == 0x0A || bytes[k] == 0x0D || bytes[k] == 0x09) { k += 1 }
                tokens.append(Token(kind: k < bytes.count && bytes[k] == 0x3A ? .key : .string, range: i..<end))
                i = end
            } else if (b >= 0x30 && b <= 0x39) || b == 0x2D {
                var j = i + 1
                while j < bytes.count && isNumberByte(bytes[j]) { j += 1 }
                tokens.append(Token(kind: .number, range: i..<j))
                i = j
            } else if b == 0x74 || b == 0x66 || b == 0x6E {  // true, false, null
                var j = i + 1
                while j < bytes.count && bytes[j] >= 0x61 && bytes[j] <= 0x7A { j += 1 }
                tokens.append(Token(kind: .literal, range: i..<j))
                i = j
            } else {
                i += 1
            }
        }
        return tokens
    }

    /// Applies one JSON-aware mutation; returns false when the text has no tokens to work on.
    @discardableResult
    public static func mutate(_ bytes: inout [UInt8], using rng: inout RandomGenerator) -> Bool {
        let tokens = tokens(bytes)
        guard !tokens.isEmpty else { return false }
        let numbers = tokens.filter { $0.kind == .number }, strings = tokens.filter { $0.kind == .string }
        let keys = tokens.filter { $0.kind == .key }
        func text(_ token: Token) -> [UInt8] { Array(bytes[token.range]) }
        func replace(_ token: Token, with literal: [UInt8]) { bytes.replaceSubrange(token.range, with: literal) }
        switch rng.nextInt(below: 8) {
        case 0...1 where !numbers.isEmpty:
            replace(rng.pick(numbers), with: Array(rng.pick(InterestingValues.numberLiterals).utf8))
        case 2 where !strings.isEmpty:
            replace(rng.pick(strings), with: Array(rng.pick(InterestingValues.stringLiterals).utf8))
        case 3 where !keys.isEmpty:  // another key of the document, or a stranger
            let replacement = rng.chance(0.7) ? text(rng.pick(keys)) : Array(rng.pick(InterestingValues.stringLiterals).utf8)
            replace(rng.pick(keys), with: replacement)
        case 4:  // a value of another kind
            replace(rng.pick(tokens.filter { $0.kind != .key }.isEmpty ? tokens : tokens.filter { $0.kind != .key }),
                    with: Array(rng.pick(InterestingValues.valueLiterals + InterestingValues.numberLiterals).utf8))
        case 5:  // a token copied over another of its kind
            let token = rng.pick(tokens)
            let sameKind = tokens.filter { $0.kind == token.kind }
            replace(token, with: text(rng.pick(sameKind)))
        case 6:  // remove a token
            bytes.removeSubrange(rng.pick(tokens).range)
        default:  // a number nudged by one, or doubled in size
            guard let token = numbers.isEmpty ? nil : rng.pick(numbers),
                  let value = Int64(String(decoding: text(token), as: UTF8.self)) else { return mutate(&bytes, using: &rng) }
            let nudged = rng.pick([value &+ 1, value &- 1, value &* 2, value &* 1024, 0 &- value, value / 2])
            replace(token, with: Array(String(nudged).utf8))
        }
        return true
    }
}
