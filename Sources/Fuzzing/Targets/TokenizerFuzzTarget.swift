import Foundation
import Tokenization

extension FuzzTarget {
    /// tokenizer.json (byte-level BPE): loading, encoding and decoding a few awkward texts,
    /// decoding ids that are not in the vocabulary.
    public static let tokenizer = FuzzTarget(name: "tokenizer", format: .json, seeds: {
        TokenizerFuzzing.seeds()
    }, body: { data in
        let tokenizer = try BPETokenizer(json: data, source: "tokenizer.json", modelVocabularySize: vocabularyLimit(for: data))
        for text in TokenizerFuzzing.texts {
            let ids = tokenizer.encode(text)
            _ = tokenizer.decode(ids)
            _ = tokenizer.decode(ids, skipSpecialTokens: true)
        }
        _ = tokenizer.decode([-1, 0, Int.max, Int.min, tokenizer.vocabularySize])
        _ = tokenizer.endOfTextTokenId
        _ = tokenizer.token(ofId: Int.max)
    })

    /// Half the cases check ids against a model's vocabulary, as the command-line tool does.
    private static func vocabularyLimit(for data: Data) -> Int? { data.count % 2 == 0 ? 300 : nil }
}

enum TokenizerFuzzing {
    static let texts = ["Hello, world!", "  two  spaces\n\ttab", "é e\u{301} 日本語 🙂", "<|endoftext|>x<|endoftext|>", "", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]

    static func seeds() -> [Data] {
        var trainer = BPETrainer(vocabularySize: 290)
        for text in ["the cat sat on the mat", "The capital of Veloria is Marren.", "a glassblower works glass"] + texts {
            for _ in 0..<3 { trainer.add(text) }
        }
        guard let trained = try? trainer.tokenizerJSON(),
              var object = (try? JSONSerialization.jsonObject(with: trained)) as? [String: Any] else { return [] }
        var seeds = [trained]
        // The same vocabulary behind BLOOM's pre-tokenizer and a normaliser sequence.
        object["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [
            ["type": "Split", "pattern": ["Regex": " ?[^(\\s|[.,!?…。，、।۔،])]+"], "behavior": "Isolated", "invert": false],
            ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false],
        ]]
        object["normalizer"] = ["type": "Sequence", "normalizers": [["type": "NFC"], ["type": "Lowercase"]]]
        if let variant = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) { seeds.append(variant) }
        return seeds
    }
}
