/// Byte-pair encoding of one pre-tokenised piece: start from its byte-level characters and
/// repeatedly merge the adjacent pair with the best (lowest) merge rank, leftmost first.
struct BytePairEncoding: Sendable {
    let vocabulary: [String: Int]
    /// Rank of each merge "left right", keyed by the pair.
    let ranks: [Pair: Int]

    struct Pair: Hashable, Sendable {
        let left: String
        let right: String
    }

    func encode(_ symbols: [Character]) -> [Int] {
        var parts = symbols.map(String.init)
        while parts.count > 1 {
            var best: (rank: Int, index: Int)?
            for i in 0..<(parts.count - 1) {
                if let rank = ranks[Pair(left: parts[i], right: parts[i + 1])], rank < (best?.rank ?? Int.max) {
                    best = (rank, i)
                }
            }
            guard let (_, i) = best else { break }
            parts[i] += parts[i + 1]
            parts.remove(at: i + 1)
        }
        // Every byte character is in a byte-level vocabulary; one that is not is dropped, as
        // a BPE model without an unknown token does.
        return parts.compactMap { vocabulary[$0] }
    }
}
