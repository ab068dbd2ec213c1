import Foundation
import Testing
import Tokenization

/// A Split regex with a repeated group backtracks exponentially; it is refused at loading.
@Suite struct PreTokenizerRegexTests {
    static func tokenizer(pattern: String) throws -> BPETokenizer {
        let root: [String: Any] = [
            "model": ["type": "BPE", "vocab": ["a": 0, "b": 1], "merges": [String]()],
            "pre_tokenizer": ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": pattern], "behavior": "Isolated", "invert": false],
                ["type": "ByteLevel", "add_prefix_space": false, "use_regex": false],
            ]],
        ]
        return try BPETokenizer(json: JSONSerialization.data(withJSONObject: root), source: "t.json")
    }

    @Test(arguments: ["(a|a)*b", "(a+)+b", "(?:a|aa){2,}b", "x(a*)*"])
    func aRepeatedGroupIsRefused(pattern: String) {
        let started = Date()
        #expect(throws: TokenizerError.self) { _ = try Self.tokenizer(pattern: pattern).encode(String(repeating: "a", count: 30)) }
        #expect(Date().timeIntervalSince(started) < 1)
    }

    @Test(arguments: [" ?[^(\\s|[.,!?…。，、।۔،])]+", "\\(a\\)+", "[()]+", "(ab)?c"])
    func patternsThatRepeatOnlyCharactersStillLoad(pattern: String) throws {
        #expect(!(try Self.tokenizer(pattern: pattern).encode("ab ab").isEmpty))
    }
}
