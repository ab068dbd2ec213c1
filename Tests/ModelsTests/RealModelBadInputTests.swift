import Checkpoints
import Foundation
import Models
import Testing
import Tokenization

/// Bad Llama-family configs and GGUF models: one clear line naming the file, never a trap.
@Suite struct RealModelBadInputTests {
    static let llamaConfig = #"{"model_type": "llama", "vocab_size": 32, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 4, "#
        + #""num_key_value_heads": 2, "intermediate_size": 16"#

    @Test(arguments: [
        (#", "num_key_value_heads": 3}"#, "num_attention_heads 4 is not divisible by num_key_value_heads 3"),
        (#", "rope_scaling": {"type": "yarn", "factor": 4}}"#, #"rope_scaling type "yarn" is not supported (default, linear, llama3)"#),
        (#", "rope_parameters": {"rope_type": "dynamic", "factor": 2, "rope_theta": 10000}}"#, #"rope_scaling type "dynamic" is not supported"#),
        (#", "rope_scaling": {"rope_type": "llama3", "factor": 8}}"#, "rope_scaling llama3 needs low_freq_factor"),
        (#", "rope_scaling": {"rope_type": "linear"}}"#, "rope_scaling linear needs a factor"),
        (#", "hidden_act": "gelu"}"#, #"hidden_act "gelu" is not supported (silu)"#),
        (#", "head_dim": 3}"#, "head_dim 3 must be even"),
        (#", "rms_norm_eps": 0}"#, "rms_norm_eps must be a positive number"),
        (#", "sliding_window": 0}"#, "sliding_window must be positive"),
    ])
    func aBadLlamaConfigIsOneLine(ending: String, message: String) {
        let json = Self.llamaConfig.replacingOccurrences(of: #""num_key_value_heads": 2, "#, with: ending.contains("num_key_value_heads") ? "" : #""num_key_value_heads": 2, "#)
            .replacingOccurrences(of: "llama", with: ending.contains("sliding_window") ? "mistral" : "llama") + ending
        #expect {
            _ = try ModelConfig.decode(Data(json.utf8), source: "cfg/config.json")
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("cfg/config.json: ") && text.contains(message) && !text.contains("\n")
        }
    }

    /// The tiny GGUF Llama with `original` replaced by `replacement` (same length) in its bytes.
    static func patchedGGUF(_ original: String, _ replacement: String, after anchor: String? = nil) throws -> URL {
        var bytes = [UInt8](try Data(contentsOf: DecoderReferenceTests.fixture("gguf-llama").appendingPathComponent("model.gguf")))
        let from = Array(original.utf8), to = Array(replacement.utf8)
        precondition(from.count == to.count)
        var start = 0
        if let anchor { start = try #require(find(Array(anchor.utf8), in: bytes)) + anchor.utf8.count }
        let at = try #require(find(from, in: bytes, from: start))
        bytes.replaceSubrange(at..<(at + from.count), with: to)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("patched-\(UUID().uuidString).gguf")
        try Data(bytes).write(to: url)
        return url
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        return (start...(haystack.count - needle.count)).first { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    @Test func aGGUFWithoutAnArchitectureIsOneLine() throws {
        let url = try Self.patchedGGUF("general.architecture", "general.architecturX")
        defer { try? FileManager.default.removeItem(at: url) }
        #expect { try LoadedModel(url: url) } throws: { "\($0)" == "\(url.path): missing metadata key general.architecture" }
    }

    @Test func anUnsupportedArchitectureIsOneLine() throws {
        let url = try Self.patchedGGUF("llama", "gemma", after: "general.architecture")
        defer { try? FileManager.default.removeItem(at: url) }
        #expect { try LoadedModel(url: url) } throws: { "\($0)".contains(#"architecture "gemma" is not supported (llama, qwen2, gpt2)"#) }
    }

    @Test func keyValueHeadsThatDoNotDivideTheHeadsAreOneLine() throws {
        // head_count_kv is a UINT32 (type 4) after its key: 2 → 3.
        let url = try Self.patchedGGUF("\u{04}\u{00}\u{00}\u{00}\u{02}", "\u{04}\u{00}\u{00}\u{00}\u{03}", after: "llama.attention.head_count_kv")
        defer { try? FileManager.default.removeItem(at: url) }
        #expect { try LoadedModel(url: url) } throws: {
            "\($0)".contains("llama.attention.head_count 4 is not divisible by llama.attention.head_count_kv 3")
        }
    }

    @Test func aTokenizerOtherThanBPEIsOneLine() throws {
        let url = try Self.patchedGGUF("gpt2", "bert", after: "tokenizer.ggml.model")
        defer { try? FileManager.default.removeItem(at: url) }
        #expect { try LoadedModel(url: url) } throws: { "\($0)".contains(#"tokenizer model "bert" is not supported (only byte-level BPE, "gpt2")"#) }
    }

    /// A {"messages"} record and a prompt/completion record under `chat` tokenise alike: the
    /// rendered user turn up to the assistant's reply, then the answer (ids from transformers'
    /// GGUF tokenizer, tokens.json).
    @Test func messagesAndChatPromptsAreRenderedByTheTemplate() throws {
        let loaded = try LoadedModel(url: DecoderReferenceTests.fixture("gguf-llama").appendingPathComponent("model.gguf"))
        let conversation = DataRecord(messages: [ChatMessage(role: "user", content: "the cat sat on the mat."),
                                                 ChatMessage(role: "assistant", content: "hello world!")])
        let pair = DataRecord(prompt: "the cat sat on the mat.", completion: "hello world!")
        let records = try loaded.tokenize([conversation, pair], source: "chat.jsonl", maxLength: 64, chat: true)
        let prompt = loaded.tokenizer.encode(try loaded.chatPrompt("the cat sat on the mat."), addSpecialTokens: false)
        #expect(prompt.prefix(1) == [1])   // <|im_start|>
        for example in records.examples {
            #expect(example.tokens == prompt + [28, 31, 9, 5, 19])
            #expect(example.promptLength == prompt.count)
        }
        #expect(throws: InputError.self) {
            try loaded.tokenize([DataRecord(messages: [ChatMessage(role: "user", content: "hi")])], source: "chat.jsonl", maxLength: 64)
        }
    }
}
