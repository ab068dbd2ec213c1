import Foundation

/// The one JSON writer of the tool's results: any `Encodable` value as compact JSON with sorted
/// keys (so output is the same on every run) and unescaped slashes. A non-finite number is
/// written as null-free text ("NaN", "Infinity"): results that must be finite (influence
/// scores) are checked before they reach the writer.
public enum JSONOutput {
    public static func string<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// A JSON Lines document: one compact value per line.
    public static func lines<T: Encodable>(_ values: [T]) throws -> String {
        try values.map { try string($0) + "\n" }.joined()
    }
}
