import Foundation

/// Checks the ids a tokenizer.json assigns: each must be an integer that a model can index
/// (a fraction, 1e30 or 2^63−1 would otherwise be cut silently, or overflow the vocabulary
/// size), and below the model's vocabulary size when that is known.
struct TokenIdCheck {
    /// Token ids travel as Int32 in a batch.
    static let largestId = Int(Int32.max)

    let modelVocabularySize: Int?
    let fail: (String) -> TokenizerError

    func id(_ value: Any, of what: String) throws -> Int {
        // JSONSerialization gives NSNumber for numbers and booleans alike; "c" is a boolean.
        guard let number = value as? NSNumber, String(cString: number.objCType) != "c",
              let id = Int(exactly: number.doubleValue), Int64(id) == number.int64Value
        else { throw fail("\(what) has id \(value), which is not an integer") }
        let limit = modelVocabularySize ?? Self.largestId + 1
        guard id >= 0, id < limit else {
            throw fail(modelVocabularySize == nil ? "\(what) has id \(id), outside 0...\(Self.largestId)"
                       : "\(what) has id \(id), outside the model's vocabulary of \(limit) tokens")
        }
        return id
    }
}
