import Foundation

/// The one JSON writer of the tool's results: any `Encodable` value as compact JSON with sorted
/// keys (so output is the same on every run) and unescaped slashes. A non-finite Double is
/// written as text ("NaN", "Infinity"); values that may legitimately be non-finite (a loss)
/// are wrapped in `NullIfNotFinite` to be written as null, and results that must be finite
/// (influence scores) are checked before they reach the writer.
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

/// A number that JSON output writes as null when it is not finite. A Float keeps its own
/// shortest form (-0.00960302, not the Double -0.009603019803762436).
public struct NullIfNotFinite: Encodable {
    private enum Value { case double(Double), float(Float) }
    private let value: Value
    public init(_ value: Double) { self.value = .double(value) }
    public init(_ value: Float) { self.value = .float(value) }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch value {
        case .double(let x) where x.isFinite: try container.encode(x)
        case .float(let x) where x.isFinite: try container.encode(x)
        default: try container.encodeNil()
        }
    }
}
