import Foundation
import Testing
import Tokenization

/// Ids in tokenizer.json must be integers a model can index.
@Suite struct TokenIdTests {
    static func json(vocabularyId: String = "1", addedId: String = "2") -> Data {
        Data("""
            {"model": {"type": "BPE", "vocab": {"a": 0, "b": \(vocabularyId)}, "merges": []},
             "added_tokens": [{"id": \(addedId), "content": "<|x|>", "special": true}]}
            """.utf8)
    }

    @Test(arguments: ["-1", "3.7", "true", "1e30", "9223372036854775807", "2147483648", "\"7\""])
    func aBadIdIsRefused(literal: String) {
        for data in [Self.json(vocabularyId: literal), Self.json(addedId: literal)] {
            #expect {
                try BPETokenizer(json: data, source: "t.json")
            } throws: { error in
                "\(error)".hasPrefix("t.json: ") && "\(error)".contains(" id ")
            }
        }
    }

    @Test func idsMustFitTheModelsVocabulary() throws {
        let tokenizer = try BPETokenizer(json: Self.json(addedId: "2147483647"), source: "t.json")
        #expect(tokenizer.vocabularySize == 2_147_483_648)
        #expect(throws: TokenizerError.self) { try BPETokenizer(json: Self.json(addedId: "2147483647"), source: "t.json", modelVocabularySize: 320) }
        #expect(throws: TokenizerError.self) { try BPETokenizer(json: Self.json(vocabularyId: "3"), source: "t.json", modelVocabularySize: 3) }
        _ = try BPETokenizer(json: Self.json(), source: "t.json", modelVocabularySize: 3)
    }
}
