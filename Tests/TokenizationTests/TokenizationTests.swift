import Foundation
import Testing
import Tokenization

/// Token ids and decodings against Hugging Face `tokenizers` on 288 strings, for tokenizers
/// in the GPT-NeoX, GPT-2 and BLOOM configurations (Tools/reference/make_tokenizer_fixtures.py).
@Suite struct TokenizationTests {
    static let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!

    struct Expected: Decodable {
        let ids: [[Int]]
        let decoded: [String]
        let decoded_skip_special: [String]
    }

    static func cases() throws -> (strings: [String], expected: [String: Expected]) {
        let data = try Data(contentsOf: fixtures.appendingPathComponent("cases.json"))
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let strings = object["strings"] as! [String]
        var expected: [String: Expected] = [:]
        for name in ["gpt_neox", "gpt2", "bloom", "legacy_merges"] {
            let part = try JSONSerialization.data(withJSONObject: object[name]!)
            expected[name] = try JSONDecoder().decode(Expected.self, from: part)
        }
        return (strings, expected)
    }

    static func tokenizer(_ name: String) throws -> BPETokenizer {
        try BPETokenizer(contentsOf: fixtures.appendingPathComponent("\(name)/tokenizer.json"))
    }

    @Test(arguments: ["gpt_neox", "gpt2", "bloom", "legacy_merges"])
    func idsAndDecodingsEqualHuggingFace(name: String) throws {
        let (strings, all) = try Self.cases()
        let expected = all[name]!
        let tokenizer = try Self.tokenizer(name)
        var mismatches = 0
        for (i, string) in strings.enumerated() {
            let ids = tokenizer.encode(string)
            if ids != expected.ids[i] {
                mismatches += 1
                if mismatches <= 5 { Issue.record("\(name) \(string.debugDescription): \(ids) ≠ \(expected.ids[i])") }
            }
            #expect(tokenizer.decode(expected.ids[i]) == expected.decoded[i], "\(name) decode \(string.debugDescription)")
            #expect(tokenizer.decode(expected.ids[i], skipSpecialTokens: true) == expected.decoded_skip_special[i])
        }
        #expect(mismatches == 0, "\(mismatches) of \(strings.count) strings differ")
        #expect(strings.count > 250)
    }

    @Test func gpt2StyleRoundTripsEveryString() throws {
        let tokenizer = try Self.tokenizer("gpt2")
        for string in try Self.cases().strings {
            #expect(tokenizer.decode(tokenizer.encode(string)) == string)
        }
    }

    @Test func specialTokensAndVocabulary() throws {
        let neox = try Self.tokenizer("gpt_neox")
        #expect(neox.endOfTextTokenId == 0)
        #expect(neox.encode("a<|endoftext|>b").contains(0))
        #expect(neox.vocabularySize == 703)
        #expect(try Self.tokenizer("bloom").endOfTextTokenId == 2)
    }

    @Test func badFilesAreClearErrors() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tokenizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func expectError(_ json: String?, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let url = directory.appendingPathComponent("tokenizer.json")
            try? FileManager.default.removeItem(at: url)
            if let json { try! Data(json.utf8).write(to: url) }
            #expect(sourceLocation: sourceLocation) {
                try BPETokenizer(contentsOf: url)
            } throws: { error in
                let message = "\(error)"
                return message.contains(fragment) && message.contains(url.path) && !message.contains("\n")
            }
        }
        expectError(nil, "tokenizer.json not found")
        expectError("{\"model\": ", "invalid JSON")
        expectError(#"{"model": {"type": "WordPiece", "vocab": {}}}"#, "model type WordPiece is not supported")
        expectError(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}"#, "not in the vocabulary")
        expectError(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Metaspace"}}"#,
                    "pre_tokenizer Metaspace is not supported")
        expectError(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "normalizer": {"type": "Precompiled"}}"#,
                    "normalizer Precompiled is not supported")
    }
}

@Suite struct BPETrainerTests {
    @Test func trainedTokenizerLoadsRoundTripsAndIsDeterministic() throws {
        let strings = try TokenizationTests.cases().strings
        func train() throws -> Data {
            var trainer = BPETrainer(vocabularySize: 600)
            for _ in 0..<3 { for s in strings { trainer.add(s) } }
            return try trainer.tokenizerJSON()
        }
        let json = try train()
        #expect(json == (try train()))
        let tokenizer = try BPETokenizer(json: json, source: "trained")
        #expect(tokenizer.vocabularySize == 600)
        #expect(tokenizer.endOfTextTokenId == 0)
        for s in strings {
            #expect(tokenizer.decode(tokenizer.encode(s)) == s.precomposedStringWithCanonicalMapping)
        }
        // Frequent words became single tokens; merging shortened the corpus.
        #expect(tokenizer.encode("The").count == 1)
        let bytes = strings.reduce(0) { $0 + $1.utf8.count }, tokens = strings.reduce(0) { $0 + tokenizer.encode($1).count }
        #expect(Double(tokens) < 0.6 * Double(bytes))
    }
}
