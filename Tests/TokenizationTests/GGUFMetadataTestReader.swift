import Foundation
import Tokenization

/// A test-only reader of a GGUF file's key-value metadata (not its tensors), enough to build
/// `GGUFTokenizerData` from the real SmolLM2 file; the GGUF reader proper lives in Checkpoints.
struct GGUFMetadataTestReader {
    enum Value {
        case integer(Int), float(Double), bool(Bool), string(String)
        case array([Value])
    }

    let values: [String: Value]

    init(url: URL) throws {
        let data = try Data(contentsOf: url, options: .alwaysMapped)
        var offset = 0
        func bytes(_ count: Int) throws -> Data {
            guard offset + count <= data.count else { throw TokenizerError(url.path, "GGUF metadata runs past the end") }
            defer { offset += count }
            return data.subdata(in: offset..<(offset + count))
        }
        func integer<T: FixedWidthInteger>(_: T.Type) throws -> T {
            try bytes(MemoryLayout<T>.size).withUnsafeBytes { $0.loadUnaligned(as: T.self) }.littleEndian
        }
        func string() throws -> String { String(decoding: try bytes(Int(try integer(UInt64.self))), as: UTF8.self) }
        func value(_ type: UInt32) throws -> Value {
            switch type {
            case 0: return .integer(Int(try integer(UInt8.self)))
            case 1: return .integer(Int(try integer(Int8.self)))
            case 2: return .integer(Int(try integer(UInt16.self)))
            case 3: return .integer(Int(try integer(Int16.self)))
            case 4: return .integer(Int(try integer(UInt32.self)))
            case 5: return .integer(Int(try integer(Int32.self)))
            case 6: return .float(Double(Float(bitPattern: try integer(UInt32.self))))
            case 7: return .bool(try integer(UInt8.self) != 0)
            case 8: return .string(try string())
            case 9:
                let elementType = try integer(UInt32.self)
                let count = Int(try integer(UInt64.self))
                return .array(try (0..<count).map { _ in try value(elementType) })
            case 10: return .integer(Int(try integer(UInt64.self)))
            case 11: return .integer(Int(try integer(Int64.self)))
            case 12: return .float(Double(bitPattern: try integer(UInt64.self)))
            default: throw TokenizerError(url.path, "GGUF value type \(type) is unknown")
            }
        }
        guard try bytes(4) == Data("GGUF".utf8) else { throw TokenizerError(url.path, "not a GGUF file") }
        _ = try integer(UInt32.self)
        _ = try integer(UInt64.self)
        let count = try integer(UInt64.self)
        var values: [String: Value] = [:]
        for _ in 0..<count {
            let key = try string()
            values[key] = try value(try integer(UInt32.self))
        }
        self.values = values
    }

    func int(_ key: String) -> Int? { if case .integer(let v)? = values[key] { return v }; return nil }
    func bool(_ key: String) -> Bool? { if case .bool(let v)? = values[key] { return v }; return nil }
    func string(_ key: String) -> String? { if case .string(let v)? = values[key] { return v }; return nil }
    func strings(_ key: String) -> [String]? {
        guard case .array(let items)? = values[key] else { return nil }
        return items.compactMap { if case .string(let s) = $0 { return s }; return nil }
    }
    func ints(_ key: String) -> [Int]? {
        guard case .array(let items)? = values[key] else { return nil }
        return items.compactMap { if case .integer(let v) = $0 { return v }; return nil }
    }

    var tokenizerData: GGUFTokenizerData {
        GGUFTokenizerData(
            model: string("tokenizer.ggml.model") ?? "", preTokenizer: string("tokenizer.ggml.pre"),
            tokens: strings("tokenizer.ggml.tokens") ?? [], tokenTypes: ints("tokenizer.ggml.token_type"),
            merges: strings("tokenizer.ggml.merges") ?? [],
            bosTokenId: int("tokenizer.ggml.bos_token_id"), eosTokenId: int("tokenizer.ggml.eos_token_id"),
            unknownTokenId: int("tokenizer.ggml.unknown_token_id"), paddingTokenId: int("tokenizer.ggml.padding_token_id"),
            addBOS: bool("tokenizer.ggml.add_bos_token"), addEOS: bool("tokenizer.ggml.add_eos_token"),
            addSpacePrefix: bool("tokenizer.ggml.add_space_prefix"), chatTemplate: string("tokenizer.chat_template"))
    }
}
