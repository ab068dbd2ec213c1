import Foundation

/// What we read from a Hugging Face tokenizer_config.json: the special tokens by name, whether
/// special tokens are added around a text, and the chat template (a string, or a list of
/// {name, template} of which "default" is used; a chat_template.jinja beside the file wins,
/// as in transformers).
struct TokenizerConfig: Sendable {
    var bosToken: String?
    var eosToken: String?
    var unknownToken: String?
    var paddingToken: String?
    var addBOSToken: Bool?
    var addEOSToken: Bool?
    var chatTemplate: String?

    init() {}

    init(contentsOf url: URL) throws {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TokenizerError(url.path, FileManager.default.fileExists(atPath: url.path) ? "cannot read the file" : "tokenizer_config.json not found")
        }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw TokenizerError(url.path, "invalid JSON (not a tokenizer_config.json)")
        }
        try self.init(json: root, source: url.path)
        let jinja = url.deletingLastPathComponent().appendingPathComponent("chat_template.jinja")
        if let text = FileManager.default.contents(atPath: jinja.path) {
            chatTemplate = String(decoding: text, as: UTF8.self)
        }
    }

    init(json root: [String: Any], source: String) throws {
        // A special token is a string or an AddedToken object {"content": …}.
        func token(_ key: String) -> String? {
            if let text = root[key] as? String { return text }
            return (root[key] as? [String: Any])?["content"] as? String
        }
        bosToken = token("bos_token")
        eosToken = token("eos_token")
        unknownToken = token("unk_token")
        paddingToken = token("pad_token")
        addBOSToken = root["add_bos_token"] as? Bool
        addEOSToken = root["add_eos_token"] as? Bool
        switch root["chat_template"] {
        case let text as String:
            chatTemplate = text
        case let list as [[String: Any]]:
            let named = list.compactMap { item -> (String, String)? in
                guard let name = item["name"] as? String, let template = item["template"] as? String else { return nil }
                return (name, template)
            }
            guard let template = named.first(where: { $0.0 == "default" })?.1 else {
                throw TokenizerError(source, "chat_template lists templates \(named.map(\.0)) but none named \"default\"")
            }
            chatTemplate = template
        case nil, is NSNull:
            break
        default:
            throw TokenizerError(source, "chat_template is neither a string nor a list of {name, template}")
        }
    }

    /// The file's contents, as transformers writes them for a tokenizer.json-backed tokenizer.
    func jsonObject() -> [String: Any] {
        var root: [String: Any] = ["backend": "tokenizers", "tokenizer_class": "TokenizersBackend"]
        root["bos_token"] = bosToken ?? NSNull()
        root["eos_token"] = eosToken ?? NSNull()
        root["unk_token"] = unknownToken ?? NSNull()
        root["pad_token"] = paddingToken ?? NSNull()
        if let addBOSToken { root["add_bos_token"] = addBOSToken }
        if let addEOSToken { root["add_eos_token"] = addEOSToken }
        if let chatTemplate { root["chat_template"] = chatTemplate }
        return root
    }
}
