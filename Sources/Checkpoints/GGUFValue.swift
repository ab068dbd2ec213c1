/// A metadata value of a GGUF file: a scalar, a UTF-8 string, or an array whose elements all
/// have one type (which may itself be an array).
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array([GGUFValue])

    /// Any integer type, when its value fits in `Int` (a `uint64` above `Int.max` does not).
    public var integer: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(v)
        default: nil
        }
    }

    /// A floating-point value, or an integer as the nearest `Double` (converters write some
    /// real-valued hyperparameters as integers).
    public var double: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        case .uint64(let v): Double(v)
        default: integer.map(Double.init)
        }
    }

    public var bool: Bool? {
        if case .bool(let v) = self { return v }
        return nil
    }

    public var string: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    public var array: [GGUFValue]? {
        if case .array(let v) = self { return v }
        return nil
    }

    /// An array of strings (the tokenizer's tokens and merges).
    public var strings: [String]? { elements(\.string) }

    /// An array of integers that each fit in `Int`.
    public var integers: [Int]? { elements(\.integer) }

    public var doubles: [Double]? { elements(\.double) }

    private func elements<T>(_ convert: (GGUFValue) -> T?) -> [T]? {
        guard case .array(let items) = self else { return nil }
        var result: [T] = []
        result.reserveCapacity(items.count)
        for item in items {
            guard let value = convert(item) else { return nil }
            result.append(value)
        }
        return result
    }

    /// The GGUF type, for messages: "uint32", "string", "array of string", "array of array of int32".
    public var typeName: String {
        switch self {
        case .uint8: "uint8"
        case .int8: "int8"
        case .uint16: "uint16"
        case .int16: "int16"
        case .uint32: "uint32"
        case .int32: "int32"
        case .uint64: "uint64"
        case .int64: "int64"
        case .float32: "float32"
        case .float64: "float64"
        case .bool: "bool"
        case .string: "string"
        case .array(let items): items.first.map { "array of \($0.typeName)" } ?? "empty array"
        }
    }
}
