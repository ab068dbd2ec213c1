import Foundation
import HeapModule

/// Learns a byte-level BPE vocabulary from text and writes it as a tokenizer.json in the
/// GPT-NeoX configuration (NFC, GPT-2's pre-tokeniser, byte-level decoding), so that a user
/// can pre-train from scratch on their own corpus.
///
/// The base alphabet is all 256 byte characters, so every text is encodable. Merges are
/// learned greedily: the most frequent adjacent pair over all words (ties: the pair of
/// lower symbol ids), with pair counts updated only in the words that contain the merged
/// pair, and a max-heap with lazy invalidation to find the best pair.
public struct BPETrainer {
    public var vocabularySize: Int
    public var specialTokens: [String]
    /// Pairs seen fewer times are never merged.
    public var minimumFrequency: Int

    private var wordCounts: [String: Int] = [:]

    public init(vocabularySize: Int, specialTokens: [String] = ["<|endoftext|>", "<|padding|>"], minimumFrequency: Int = 2) {
        self.vocabularySize = vocabularySize
        self.specialTokens = specialTokens
        self.minimumFrequency = minimumFrequency
    }

    /// Whether any text has been added (an empty corpus would give only the byte alphabet).
    public var hasText: Bool { !wordCounts.isEmpty }

    /// Counts the pre-tokenised pieces of one text.
    public mutating func add(_ text: String) {
        let normalized = text.precomposedStringWithCanonicalMapping
        for piece in PreTokenizer.gpt2.split(normalized[...]) {
            wordCounts[String(ByteLevelAlphabet.encode(piece)), default: 0] += 1
        }
    }

    private struct Candidate: Comparable {
        let count: Int
        let left: Int
        let right: Int
        static func < (a: Candidate, b: Candidate) -> Bool {
            a.count != b.count ? a.count < b.count : (a.left, a.right) > (b.left, b.right)
        }
    }

    /// The vocabulary (token strings by id) and merges.
    public func learn() -> (vocabulary: [String], merges: [(String, String)]) {
        var symbols = specialTokens + ByteLevelAlphabet.characterOfByte.map(String.init)
        var idOfSymbol = Dictionary(symbols.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        // Words as symbol ids, in a fixed order so that training is deterministic.
        let sortedWords = wordCounts.sorted { $0.key.unicodeScalars.lexicographicallyPrecedes($1.key.unicodeScalars) }
        var words = sortedWords.map { word, _ in word.map { idOfSymbol[String($0)]! } }
        let counts = sortedWords.map(\.value)
        var pairCounts: [Int: Int] = [:]
        var wordsWithPair: [Int: [Int]] = [:]
        func key(_ a: Int, _ b: Int) -> Int { a << 32 | b }
        for (w, word) in words.enumerated() {
            for (a, b) in zip(word, word.dropFirst()) {
                pairCounts[key(a, b), default: 0] += counts[w]
                wordsWithPair[key(a, b), default: []].append(w)
            }
        }
        var heap = Heap(pairCounts.map { Candidate(count: $0.value, left: $0.key >> 32, right: $0.key & 0xFFFF_FFFF) })
        var merges: [(String, String)] = []
        while symbols.count < vocabularySize, let best = heap.popMax() {
            let pair = key(best.left, best.right)
            guard let current = pairCounts[pair], current == best.count else { continue }  // stale entry
            guard current >= minimumFrequency else { break }
            let merged = symbols[best.left] + symbols[best.right]
            let newId: Int
            if let existing = idOfSymbol[merged] { newId = existing } else {
                newId = symbols.count
                symbols.append(merged)
                idOfSymbol[merged] = newId
            }
            merges.append((symbols[best.left], symbols[best.right]))
            var changed = Set<Int>()
            for w in Set(wordsWithPair[pair] ?? []) {
                let old = words[w]
                var new: [Int] = []
                new.reserveCapacity(old.count)
                var i = 0
                var found = false
                while i < old.count {
                    if i + 1 < old.count && old[i] == best.left && old[i + 1] == best.right {
                        new.append(newId)
                        i += 2
                        found = true
                    } else {
                        new.append(old[i])
                        i += 1
                    }
                }
                guard found else { continue }
                for (a, b) in zip(old, old.dropFirst()) { pairCounts[key(a, b), default: 0] -= counts[w]; changed.insert(key(a, b)) }
                for (a, b) in zip(new, new.dropFirst()) {
                    pairCounts[key(a, b), default: 0] += counts[w]
                    changed.insert(key(a, b))
                    if a == newId || b == newId { wordsWithPair[key(a, b), default: []].append(w) }
                }
                words[w] = new
            }
            pairCounts[pair] = nil
            wordsWithPair[pair] = nil
            for k in changed where k != pair {
                if let count = pairCounts[k], count > 0 {
                    heap.insert(Candidate(count: count, left: k >> 32, right: k & 0xFFFF_FFFF))
                } else {
                    pairCounts[k] = nil
                }
            }
        }
        return (symbols, merges)
    }

    /// tokenizer.json for the learned vocabulary.
    public func tokenizerJSON() throws -> Data {
        let (vocabulary, merges) = learn()
        let added: [[String: Any]] = specialTokens.enumerated().map { id, content in
            ["id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true]
        }
        let byteLevel: [String: Any] = ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true]
        let object: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": added,
            "normalizer": ["type": "NFC"], "pre_tokenizer": byteLevel, "post_processor": byteLevel, "decoder": byteLevel,
            "model": [
                "type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                "vocab": Self.vocabularyPlaceholder,
                "merges": merges.map { [$0.0, $0.1] },
            ] as [String: Any],
        ]
        // The vocabulary is written by hand in id order (as Hugging Face writes it): Foundation's
        // `.sortedKeys` compares keys case-insensitively, so keys such as "S" and "s" that it
        // deems equal would come out in the dictionary's per-instance hash order, and two runs
        // on the same corpus would write different bytes.
        var seen = Set<[UInt8]>()
        var entries: [String] = []
        for (id, token) in vocabulary.enumerated() where seen.insert(Array(token.utf8)).inserted {
            let key = try JSONSerialization.data(withJSONObject: token, options: [.fragmentsAllowed, .withoutEscapingSlashes])
            entries.append(String(decoding: key, as: UTF8.self) + ":" + String(id))
        }
        let text = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]),
                          as: UTF8.self)
        let placeholder = "\"" + Self.vocabularyPlaceholder + "\""
        return Data(text.replacingOccurrences(of: placeholder, with: "{" + entries.joined(separator: ",") + "}").utf8)
    }

    private static let vocabularyPlaceholder = "@@swift-influence: vocabulary in id order@@"
}
