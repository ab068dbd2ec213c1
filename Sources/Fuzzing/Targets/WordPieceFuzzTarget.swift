import Foundation
import Tokenization

extension FuzzTarget {
    /// A WordPiece tokenizer.json (the embedder's): loading and encoding.
    public static let wordPiece = FuzzTarget(name: "wordpiece", format: .json, seeds: {
        let vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "##s", "sat", "on", "mat", "un", "##able", ".", ",", "日"]
        let vocab = Dictionary(uniqueKeysWithValues: vocabulary.enumerated().map { ($1, $0) })
        let root: [String: Any] = [
            "model": ["type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": vocab],
            "normalizer": ["type": "BertNormalizer", "lowercase": true, "strip_accents": NSNull(), "clean_text": true],
        ]
        return [try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys])]
    }, body: { data in
        let tokenizer = try WordPieceTokenizer(json: data, source: "tokenizer.json")
        for text in ["The cats sat on the mat.", "Unable, UNABLE, ünable", "日本語 \u{0}\u{7f} 🙂", "", String(repeating: "cat", count: 60)] {
            for length in [512, 3, 2] { _ = tokenizer.encode(text, maximumLength: length) }
        }
    })
}
