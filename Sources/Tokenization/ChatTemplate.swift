import Foundation

/// A model's chat template, recognised by its structure rather than run as Jinja: ChatML
/// (`<|im_start|>role\ncontent<|im_end|>\n`, as SmolLM2 and Qwen2.5 use, with the default
/// system message some templates insert when the conversation does not open with one) and
/// Llama 3 (`<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>` after BOS; from 3.1
/// on with a system block that opens with "Cutting Knowledge Date" and "Today Date"). The texts
/// that vary between templates (the default system message, the dates) are read from the
/// template. Renderings equal transformers' `apply_chat_template` for system, user and
/// assistant messages (checked against fixtures it wrote); tools are not supported.
public struct ChatTemplate: Sendable {
    public enum Kind: String, Sendable {
        case chatML
        case llama3
    }

    public let kind: Kind
    public let source: String
    public let bosToken: String?
    public let eosToken: String?
    /// ChatML: the system message written when the first message is not a system one.
    public let defaultSystemMessage: String?
    /// Llama 3.1 and later: the "Today Date" of the system block. The template's default (Llama
    /// 3.1's "26 Jul 2024"), or nil where the template takes today's date (Llama 3.2's
    /// strftime_now), which `render` then uses; set it to fix the date.
    public var dateString: String?

    private let systemBlock: SystemBlock?
    private let trimsContent: Bool
    private let writesBOS: Bool

    /// Llama 3.1's system block: its first lines up to the date, and what follows the date.
    private struct SystemBlock: Sendable {
        let beforeDate: String
        let afterDate: String
    }

    public init(jinja template: String, source: String, bosToken: String?, eosToken: String?) throws {
        self.source = source
        self.bosToken = bosToken
        self.eosToken = eosToken
        let parsed = JinjaLiterals(template)
        let literals = parsed.literals
        func unsupported() -> TokenizerError {
            TokenizerError(source, "chat template is not one of the supported kinds (ChatML, Llama 3); pass the prompt already formatted instead")
        }
        let readsMessages = ["message['role']", "message.role", "message[\"role\"]"].contains { template.contains($0) }
            && ["message['content']", "message.content", "message[\"content\"]"].contains { template.contains($0) }
        // Constructs these renderings do not reproduce.
        let unsupportedConstructs = ["reasoning_content", "<think>", "(loop.last and add_generation_prompt)"]
        guard readsMessages, !unsupportedConstructs.contains(where: template.contains) else { throw unsupported() }
        let trims = template.contains("| trim") || template.contains("|trim")

        if literals.contains("<|im_start|>assistant\n"), literals.contains(where: { $0.contains("<|im_end|>") }),
           literals.contains(where: { $0.hasPrefix("<|im_start|>") }) {
            guard !trims, !template.contains(".strip(") else { throw unsupported() }
            kind = .chatML
            let opening = "<|im_start|>system\n", closing = "<|im_end|>\n"
            defaultSystemMessage = literals.first { $0.hasPrefix(opening) && $0.hasSuffix(closing) && $0.count > opening.count + closing.count }
                .map { String($0.dropFirst(opening.count).dropLast(closing.count)) }
            systemBlock = nil
            dateString = nil
            trimsContent = false
            writesBOS = false
        } else if literals.contains("<|start_header_id|>assistant<|end_header_id|>\n\n"), literals.contains(where: { $0.contains("<|eot_id|>") }),
                  literals.contains(where: { $0.hasPrefix("<|start_header_id|>") }) {
            kind = .llama3
            defaultSystemMessage = nil
            trimsContent = trims
            writesBOS = template.contains("bos_token")
            if let cutoff = literals.first(where: { $0.hasPrefix("Cutting Knowledge Date:") }) {
                // {{- "Today Date: " + date_string + "\n\n" }}
                guard let dateBlock = parsed.blocks.first(where: { $0.isOutput && $0.code.contains("date_string") && $0.literals.count == 2 }),
                      let header = literals.first(where: { $0.hasPrefix("<|start_header_id|>system<|end_header_id|>") })
                else { throw unsupported() }
                systemBlock = SystemBlock(beforeDate: header + cutoff + dateBlock.literals[0], afterDate: dateBlock.literals[1])
                let dateDefault = parsed.blocks.first { !$0.isOutput && $0.code.contains("set date_string") && !$0.code.contains("strftime_now") }
                if template.contains("strftime_now") {
                    guard let call = parsed.blocks.first(where: { $0.code.contains("strftime_now(") }), call.literals == ["%d %b %Y"] else {
                        throw unsupported()
                    }
                    dateString = nil
                } else {
                    guard let date = dateDefault?.literals.first else { throw unsupported() }
                    dateString = date
                }
            } else {
                systemBlock = nil
                dateString = nil
            }
        } else {
            throw unsupported()
        }
    }

    /// The template of a tokenizer_config.json (or of the chat_template.jinja beside it, which
    /// transformers prefers), with its BOS and EOS tokens; nil when it has none.
    public static func load(tokenizerConfig url: URL) throws -> ChatTemplate? {
        let config = try TokenizerConfig(contentsOf: url)
        guard let template = config.chatTemplate else { return nil }
        return try ChatTemplate(jinja: template, source: url.path, bosToken: config.bosToken, eosToken: config.eosToken)
    }

    /// The prompt text of `messages`, and with `addGenerationPrompt` the opening of the
    /// assistant's reply. It holds the special tokens as text (and BOS for Llama 3): encode it
    /// with `encode(_:addSpecialTokens: false)`.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
        switch kind {
        case .chatML: return renderChatML(messages, addGenerationPrompt)
        case .llama3: return renderLlama3(messages, addGenerationPrompt)
        }
    }

    private func renderChatML(_ messages: [ChatMessage], _ addGenerationPrompt: Bool) -> String {
        var out = ""
        if let defaultSystemMessage, let first = messages.first, first.role != "system" {
            out += "<|im_start|>system\n" + defaultSystemMessage + "<|im_end|>\n"
        }
        for message in messages {
            out += "<|im_start|>" + message.role + "\n" + message.content + "<|im_end|>\n"
        }
        if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        return out
    }

    private func renderLlama3(_ messages: [ChatMessage], _ addGenerationPrompt: Bool) -> String {
        func content(_ text: String) -> String { trimsContent ? Self.pythonStrip(text) : text }
        func turn(_ message: ChatMessage) -> String {
            "<|start_header_id|>" + message.role + "<|end_header_id|>\n\n" + content(message.content) + "<|eot_id|>"
        }
        let bos = writesBOS ? bosToken ?? "" : ""
        var out = ""
        if let systemBlock {
            // Llama 3.1: the system message, if first, goes into the system block after the dates.
            var rest = messages[...]
            var system = ""
            if let first = rest.first, first.role == "system" {
                system = Self.pythonStrip(first.content)
                rest = rest.dropFirst()
            }
            out += bos + systemBlock.beforeDate + (dateString ?? Self.today()) + systemBlock.afterDate + system + "<|eot_id|>"
            for message in rest { out += turn(message) }
        } else {
            for (index, message) in messages.enumerated() { out += (index == 0 ? bos : "") + turn(message) }
        }
        if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        return out
    }

    /// Today as strftime's "%d %b %Y" in local time ("03 Dec 2025"), as transformers' strftime_now gives.
    private static func today() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "dd MMM yyyy"
        return formatter.string(from: Date())
    }

    /// Jinja's trim filter is Python's str.strip(): White_Space and the separators U+001C–U+001F.
    static func pythonStrip(_ text: String) -> String {
        func isSpace(_ scalar: Unicode.Scalar) -> Bool { scalar.properties.isWhitespace || (0x1C...0x1F).contains(scalar.value) }
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = scalars.lastIndex(where: { !isSpace($0) })!
        return String(scalars[first...last])
    }
}
