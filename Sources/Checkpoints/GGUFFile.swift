import Foundation

/// One tensor of a GGUF file, as its tensor info describes it.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// ggml order: ne0 (the contiguous, fastest-varying extent) first.
    public let dimensions: [Int]
    public let type: GGUFTensorType
    /// Absolute offset of the first byte in the file.
    public let offset: Int
    public let byteCount: Int

    /// PyTorch order (the dimensions reversed): a row-major array of this shape has the
    /// elements in the file's order.
    public var shape: [Int] { dimensions.reversed() }
    /// Checked against overflow when the file was opened.
    public var elementCount: Int { dimensions.reduce(1, *) }
}

/// A memory-mapped GGUF file, llama.cpp's model format (versions 2 and 3, little-endian;
/// https://github.com/ggml-org/ggml/blob/master/docs/gguf.md).
///
/// Layout: "GGUF", version (u32), tensor count (u64), metadata count (u64); the metadata entries
/// (key string, value type u32, value); the tensor infos (name string, dimension count u32,
/// dimensions u64 each, type u32, offset u64 relative to the data section); padding to the
/// alignment (`general.alignment`, default 32); the data section. A string is a u64 byte count
/// and UTF-8 bytes; an array value is an element type (u32), a count (u64) and the elements.
/// Everything is checked when the file is opened, so any later read stays within the file.
public final class GGUFFile: @unchecked Sendable {
    public let url: URL
    public let version: Int
    public let alignment: Int
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensors in file order.
    public let tensors: [GGUFTensorInfo]
    /// Absolute offset of the data section (the tensor offsets count from here).
    public let dataOffset: Int
    private let tensorIndex: [String: Int]
    private let mapping: MemoryMappedBytes

    public init(url: URL) throws {
        self.url = url
        mapping = try MemoryMappedBytes(url: url, kind: "GGUF file")
        let layout: GGUFLayout
        do {
            layout = try GGUFLayout(mapping.bytes)
        } catch let problem as GGUFProblem {
            throw CheckpointError(url, problem.message)
        }
        version = layout.version
        alignment = layout.alignment
        metadata = layout.metadata
        metadataKeys = layout.metadataKeys
        tensors = layout.tensors
        dataOffset = layout.dataOffset
        tensorIndex = layout.tensorIndex
    }

    // MARK: Metadata

    public func require(_ key: String) throws -> GGUFValue {
        guard let value = metadata[key] else { throw CheckpointError(url, "missing metadata key \(GGUFProblem.shown(key))") }
        return value
    }

    /// nil when the key is absent; an error when it holds something else.
    public func integer(_ key: String) throws -> Int? { try typed(key, "an integer", \.integer) }
    public func double(_ key: String) throws -> Double? { try typed(key, "a number", \.double) }
    public func string(_ key: String) throws -> String? { try typed(key, "a string", \.string) }
    public func bool(_ key: String) throws -> Bool? { try typed(key, "a bool", \.bool) }
    public func strings(_ key: String) throws -> [String]? { try typed(key, "an array of strings", \.strings) }
    public func integers(_ key: String) throws -> [Int]? { try typed(key, "an array of integers", \.integers) }

    public func requireInteger(_ key: String) throws -> Int { try required(key, integer) }
    public func requireDouble(_ key: String) throws -> Double { try required(key, double) }
    public func requireString(_ key: String) throws -> String { try required(key, string) }
    public func requireStrings(_ key: String) throws -> [String] { try required(key, strings) }

    private func typed<T>(_ key: String, _ expected: String, _ convert: (GGUFValue) -> T?) throws -> T? {
        guard let value = metadata[key] else { return nil }
        guard let converted = convert(value) else {
            if case .uint64(let big) = value, expected == "an integer" {
                throw CheckpointError(url, "metadata key \(GGUFProblem.shown(key)) is \(big), too large for an integer")
            }
            throw CheckpointError(url, "metadata key \(GGUFProblem.shown(key)) has type \(value.typeName), expected \(expected)")
        }
        return converted
    }

    private func required<T>(_ key: String, _ accessor: (String) throws -> T?) throws -> T {
        guard let value = try accessor(key) else { throw CheckpointError(url, "missing metadata key \(GGUFProblem.shown(key))") }
        return value
    }

    // MARK: Tensors

    public func info(_ name: String) -> GGUFTensorInfo? { tensorIndex[name].map { tensors[$0] } }

    public func requireTensor(_ name: String) throws -> GGUFTensorInfo {
        guard let info = info(name) else { throw CheckpointError(url, "has no tensor named \(GGUFProblem.shown(name))") }
        return info
    }

    /// The stored bytes of a tensor, valid while this object lives.
    public func rawBytes(_ info: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: mapping.bytes[info.offset..<(info.offset + info.byteCount)])
    }

    /// Dequantizes tensor `name` to Float32 into `destination`, which must hold `elementCount`
    /// values, in ggml order (ne0 fastest): row-major for `shape`.
    public func readFloats(_ name: String, into destination: UnsafeMutablePointer<Float>) throws {
        let info = try requireTensor(name)
        guard info.type.isDequantizable else {
            let supported = GGUFTensorType.dequantizable.map(\.name).joined(separator: ", ")
            throw CheckpointError(url, "tensor \(GGUFProblem.shown(name)) has type \(info.type.name), which is not supported (supported: \(supported))")
        }
        info.type.dequantize(rawBytes(info).baseAddress!, elementCount: info.elementCount, into: destination)
    }

    public func floats(_ name: String) throws -> [Float] {
        let count = try requireTensor(name).elementCount
        return try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            try readFloats(name, into: buffer.baseAddress!)
            initialized = count
        }
    }

    /// How many tensors have each type, in type-id order: [("F32", 61), ("Q4_1", 210), ("Q8_0", 1)].
    public var tensorTypeCounts: [(type: String, count: Int)] {
        var counts: [GGUFTensorType: Int] = [:]
        for tensor in tensors { counts[tensor.type, default: 0] += 1 }
        return counts.sorted { $0.key.rawValue < $1.key.rawValue }.map { (type: $0.key.name, count: $0.value) }
    }
}
