import Foundation
import Testing
import Tokenization

/// The pre-tokenisers of Llama 3, Qwen2, Qwen3.5, GPT-2 and SmolLM2 (Digits + ByteLevel): the
/// pieces they cut and, in a tokenizer.json with each, the ids and post-processor tokens, all
/// against Hugging Face `tokenizers` (Tools/reference/make_gguf_tokenizer_fixtures.py).
@Suite struct PreTokenizerVariantTests {
    static func cases() throws -> [String: Any] {
        try GGUFTokenizerTests.rawCases()
    }

    static func preTokenizer(_ name: String) throws -> PreTokenizer {
        switch name {
        case "gpt2": return .gpt2
        case "smollm2": return PreTokenizer(steps: [.digits(individual: true), .gpt2])
        case "llama3": return PreTokenizer(steps: [.llama3Style(.llama3)])
        case "qwen2": return PreTokenizer(steps: [.llama3Style(.qwen2)])
        default: return PreTokenizer(steps: [.llama3Style(.qwen35)])
        }
    }

    @Test(arguments: ["gpt2", "smollm2", "llama3", "qwen2", "qwen35"])
    func piecesEqualTokenizers(name: String) throws {
        let cases = try Self.cases()
        let strings = cases["strings"] as! [String]
        let expected = (cases["pieces"] as! [String: [[Int]]])[name]!
        let splitter = try Self.preTokenizer(name)
        for (string, lengths) in zip(strings, expected) {
            let pieces = splitter.split(string[...]).map { $0.unicodeScalars.count }
            #expect(pieces == lengths, "\(name) \(string.debugDescription)")
        }
    }

    /// A tokenizer.json made of the GGUF arrays (control tokens special, user-defined not) with
    /// the variant's pre_tokenizer and post_processor, as the script gave them to `tokenizers`.
    static func tokenizerJSON(_ cases: [String: Any], _ variant: [String: Any]) throws -> Data {
        let arrays = cases["gguf"] as! [String: Any]
        let tokens = arrays["tokens"] as! [String], types = arrays["token_type"] as! [Int]
        var vocabulary: [String: Int] = [:]
        var added: [[String: Any]] = []
        for (id, (token, type)) in zip(tokens, types).enumerated() {
            vocabulary[token.replacingOccurrences(of: " ", with: "\u{120}")] = id
            if (type == 3 && !token.contains(" ")) || type == 4 {
                added.append(["id": id, "content": token, "special": type == 3, "normalized": false])
            }
        }
        let root: [String: Any] = [
            "model": ["type": "BPE", "vocab": vocabulary, "merges": arrays["merges"]!],
            "added_tokens": added,
            "pre_tokenizer": variant["pre_tokenizer"]!,
            "post_processor": variant["post_processor"]!,
            "decoder": ["type": "ByteLevel"],
        ]
        return try JSONSerialization.data(withJSONObject: root)
    }

    @Test(arguments: ["llama3", "qwen2", "qwen35", "smollm2"])
    func tokenizerJSONIdsEqualTokenizers(name: String) throws {
        let cases = try Self.cases()
        let strings = cases["strings"] as! [String]
        let variant = (cases["json_variants"] as! [String: [String: Any]])[name]!
        let tokenizer = try BPETokenizer(json: Self.tokenizerJSON(cases, variant), source: "\(name).json")
        let ids = variant["ids"] as! [[Int]]
        let withSpecial = variant["ids_with_special_tokens"] as? [[Int]] ?? ids
        var mismatches = 0
        for (i, string) in strings.enumerated() {
            if tokenizer.encode(string) != ids[i] {
                mismatches += 1
                if mismatches <= 5 { Issue.record("\(name) \(string.debugDescription): \(tokenizer.encode(string)) ≠ \(ids[i])") }
            }
            #expect(tokenizer.encode(string, addSpecialTokens: true) == withSpecial[i], "\(name) \(string.debugDescription)")
        }
        #expect(mismatches == 0)
        if name == "llama3" {
            // Llama 3's TemplateProcessing puts <|begin_of_text|> first; without a config it is also the BOS.
            #expect(tokenizer.bosTokenId == (cases["gguf"] as! [String: Any])["bos_token_id"] as? Int)
            #expect(withSpecial[0].first == tokenizer.bosTokenId)
        }
    }

    /// tokenizer_config.json's add_bos_token / add_eos_token override the post-processor, as in transformers.
    @Test func tokenizerConfigDecidesSpecialTokens() throws {
        let cases = try Self.cases()
        let variant = (cases["json_variants"] as! [String: [String: Any]])["llama3"]!
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tokenizer-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("tokenizer.json")
        try Self.tokenizerJSON(cases, variant).write(to: url)
        let plain = try BPETokenizer(contentsOf: url).encode("Hello")
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        try Data(#"{"bos_token": {"content": "<|begin_of_text|>"}, "eos_token": "<|eot_id|>", "add_bos_token": false, "add_eos_token": true}"#.utf8)
            .write(to: configURL)
        let configured = try BPETokenizer(contentsOf: url)
        let bos = configured.id(ofToken: "<|begin_of_text|>"), eos = configured.id(ofToken: "<|eot_id|>")
        #expect(configured.bosTokenId == bos && configured.eosTokenId == eos && bos != nil && eos != nil)
        #expect(configured.encode("Hello", addSpecialTokens: true) == plain + [eos!])
        try Data("{".utf8).write(to: configURL)
        #expect(throws: TokenizerError.self) { try BPETokenizer(contentsOf: url) }
    }

    @Test func unsupportedPostProcessorIsAnError() {
        let json = #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "post_processor": {"type": "Weird"}}"#
        #expect {
            try BPETokenizer(json: Data(json.utf8), source: "t.json")
        } throws: { "\($0)" == "t.json: post_processor Weird is not supported" }
    }

    /// Linear time on long runs (a backtracking regex would not be).
    @Test func longRunsAreFast() {
        let started = Date()
        let text = String(repeating: " ", count: 20_000) + String(repeating: "a", count: 20_000) + String(repeating: "1", count: 20_000)
        #expect(PreTokenizer(steps: [.llama3Style(.llama3)]).split(text[...]).count == 2 + 6_667)
        #expect(Date().timeIntervalSince(started) < 5)
    }
}
