/// The special tokens a tokenizer.json `post_processor` puts around one sequence when special
/// tokens are asked for: TemplateProcessing (Llama 3's <|begin_of_text|> $A), RobertaProcessing
/// and BertProcessing (cls $A sep); ByteLevel changes only offsets. Pairs are not supported.
struct PostProcessor: Sendable {
    var prefix: [Int]
    var suffix: [Int]

    static let none = PostProcessor()

    init(prefix: [Int] = [], suffix: [Int] = []) {
        self.prefix = prefix
        self.suffix = suffix
    }

    static func parse(_ object: Any?, ids: TokenIdCheck, fail: (String) -> TokenizerError) throws -> PostProcessor {
        guard let object = object as? [String: Any] else { return .none }
        switch object["type"] as? String {
        case "ByteLevel":
            return .none
        case "Sequence":
            var combined = PostProcessor()
            for step in (object["processors"] as? [Any]) ?? [] {
                let part = try parse(step, ids: ids, fail: fail)
                combined.prefix += part.prefix
                combined.suffix = part.suffix + combined.suffix
            }
            return combined
        case "TemplateProcessing":
            return try template(object, ids: ids, fail: fail)
        case "RobertaProcessing", "BertProcessing":
            func token(_ key: String) throws -> Int {
                guard let pair = object[key] as? [Any], pair.count == 2 else { throw fail("post_processor \(key) is not [token, id]") }
                return try ids.id(pair[1], of: "post_processor \(key)")
            }
            return PostProcessor(prefix: [try token("cls")], suffix: [try token("sep")])
        case let other:
            throw fail("post_processor \(other ?? "?") is not supported")
        }
    }

    private static func template(_ object: [String: Any], ids: TokenIdCheck, fail: (String) -> TokenizerError) throws -> PostProcessor {
        var prefix: [Int] = [], suffix: [Int] = []
        let specialTokens = object["special_tokens"] as? [String: Any] ?? [:]
        var sawSequence = false
        for item in (object["single"] as? [[String: Any]]) ?? [] {
            if item["Sequence"] != nil {
                guard !sawSequence else { throw fail("post_processor template has two sequences for one input") }
                sawSequence = true
            } else if let special = item["SpecialToken"] as? [String: Any], let name = special["id"] as? String {
                guard let entry = specialTokens[name] as? [String: Any], let values = entry["ids"] as? [Any] else {
                    throw fail("post_processor template names \(name), which its special_tokens lack")
                }
                let tokenIds = try values.map { try ids.id($0, of: "post_processor token \(name)") }
                if sawSequence { suffix += tokenIds } else { prefix += tokenIds }
            } else {
                throw fail("post_processor template item is neither a Sequence nor a SpecialToken")
            }
        }
        guard sawSequence || object["single"] == nil else { throw fail("post_processor template has no $A") }
        return PostProcessor(prefix: prefix, suffix: suffix)
    }
}
