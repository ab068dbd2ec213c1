import Foundation
import Testing
import Tokenization

/// Chat templates against transformers' apply_chat_template (Tools/reference/make_chat_template_fixtures.py)
/// for the real templates of SmolLM2, Qwen2.5, Llama 3, Llama 3.1/3.3 and Llama 3.2.
@Suite struct ChatTemplateTests {
    struct Fixture: Decodable {
        struct Template: Decodable {
            let template: String
            let bos_token: String?
            let eos_token: String?
            let render_kwargs: [String: String]
            let renderings: [String]
            let generation_prompt: String
        }
        let conversations: [[ChatMessage]]
        let templates: [String: Template]
    }

    static func fixture() throws -> Fixture {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: GGUFTokenizerTests.fixtures.appendingPathComponent("chat_templates.json")))
    }

    static let names = ["smollm2", "qwen2.5", "llama3", "llama3.1", "llama3.2"]

    @Test(arguments: names)
    func renderingsEqualTransformers(name: String) throws {
        let fixture = try Self.fixture()
        let expected = fixture.templates[name]!
        var template = try ChatTemplate(jinja: expected.template, source: name, bosToken: expected.bos_token, eosToken: expected.eos_token)
        if let date = expected.render_kwargs["date_string"] { template.dateString = date }
        for (conversation, rendering) in zip(fixture.conversations, expected.renderings) {
            #expect(template.render(conversation, addGenerationPrompt: false) == rendering, "\(name) \(conversation.map(\.role))")
            #expect(template.render(conversation, addGenerationPrompt: true) == rendering + expected.generation_prompt)
        }
        #expect(template.kind == (name.hasPrefix("llama") ? .llama3 : .chatML))
    }

    @Test func templateTextsAreReadFromTheTemplates() throws {
        let fixture = try Self.fixture()
        func template(_ name: String) throws -> ChatTemplate {
            let t = fixture.templates[name]!
            return try ChatTemplate(jinja: t.template, source: name, bosToken: t.bos_token, eosToken: t.eos_token)
        }
        #expect(try template("smollm2").defaultSystemMessage == "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        #expect(try template("qwen2.5").defaultSystemMessage == "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.")
        #expect(try template("llama3").dateString == nil)
        #expect(try template("llama3.1").dateString == "26 Jul 2024")
        // Llama 3.2 takes today's date (strftime_now "%d %b %Y"), as transformers does.
        let llama32 = try template("llama3.2")
        #expect(llama32.dateString == nil)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "dd MMM yyyy"
        #expect(llama32.render([ChatMessage(role: "user", content: "hi")], addGenerationPrompt: false)
            .contains("Today Date: \(formatter.string(from: Date()))\n\n"))
        // A template edited to another default system message gives that one.
        let edited = fixture.templates["qwen2.5"]!.template.replacingOccurrences(of: "You are Qwen, created by Alibaba Cloud.", with: "You are Tester.")
        #expect(try ChatTemplate(jinja: edited, source: "edited", bosToken: nil, eosToken: nil).defaultSystemMessage == "You are Tester. You are a helpful assistant.")
    }

    @Test func unrecognisedTemplatesAreAClearError() throws {
        let others = [
            // Gemma
            "{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + message['role'] + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}",
            // Qwen3 (thinking)
            "{%- for message in messages %}{%- if message.role == 'assistant' %}{%- set reasoning_content = '' %}{%- endif %}{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}",
            "",
        ]
        for jinja in others {
            #expect {
                try ChatTemplate(jinja: jinja, source: "tokenizer_config.json", bosToken: nil, eosToken: nil)
            } throws: { error in
                "\(error)" == "tokenizer_config.json: chat template is not one of the supported kinds (ChatML, Llama 3); pass the prompt already formatted instead"
            }
        }
    }

    @Test func loadReadsTokenizerConfig() throws {
        let fixture = try Self.fixture()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chat-template-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("tokenizer_config.json")
        func write(_ object: [String: Any]) throws { try JSONSerialization.data(withJSONObject: object).write(to: url) }
        let llama = fixture.templates["llama3.1"]!, smol = fixture.templates["smollm2"]!
        let conversation = fixture.conversations[1]

        try write(["bos_token": ["content": "<|begin_of_text|>", "lstrip": false], "eos_token": "<|eot_id|>", "chat_template": llama.template])
        var loaded = try #require(try ChatTemplate.load(tokenizerConfig: url))
        #expect(loaded.kind == .llama3 && loaded.bosToken == "<|begin_of_text|>" && loaded.eosToken == "<|eot_id|>")
        #expect(loaded.render(conversation, addGenerationPrompt: false) == llama.renderings[1])

        try write(["chat_template": [["name": "tool_use", "template": "x"], ["name": "default", "template": smol.template]]])
        loaded = try #require(try ChatTemplate.load(tokenizerConfig: url))
        #expect(loaded.render(conversation, addGenerationPrompt: true) == smol.renderings[1] + smol.generation_prompt)

        try write(["chat_template": [["name": "tool_use", "template": "x"]]])
        #expect(throws: TokenizerError.self) { try ChatTemplate.load(tokenizerConfig: url) }

        try write(["bos_token": "<s>"])
        #expect(try ChatTemplate.load(tokenizerConfig: url) == nil)
        // transformers prefers chat_template.jinja beside the config.
        try Data(smol.template.utf8).write(to: directory.appendingPathComponent("chat_template.jinja"))
        #expect(try ChatTemplate.load(tokenizerConfig: url)?.kind == .chatML)

        #expect(throws: TokenizerError.self) { try ChatTemplate.load(tokenizerConfig: directory.appendingPathComponent("missing.json")) }
    }
}
