import Foundation

/// A memory-mapped safetensors file (https://github.com/huggingface/safetensors).
///
/// Layout: an 8-byte little-endian header length N, N bytes of JSON mapping each tensor name
/// to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the byte after the
/// header), then the data. Everything the header claims is checked when the file is opened,
/// so a truncated or corrupt file fails with a message instead of reading garbage later.
public final class SafeTensorsFile: @unchecked Sendable {
    public struct TensorInfo: Sendable, Equatable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        /// Byte range within the data section.
        public let byteRange: Range<Int>
        public var elementCount: Int { shape.reduce(1, *) }
    }

    public let url: URL
    /// Tensors in the order of their data offsets.
    public let tensors: [TensorInfo]
    public let metadata: [String: String]
    private let index: [String: Int]
    private let mapped: MemoryMappedBytes
    private let dataStart: Int

    /// Largest header accepted (the safetensors library's own limit is 100 MB).
    static let maximumHeaderLength = 100_000_000

    public init(url: URL) throws {
        self.url = url
        mapped = try MemoryMappedBytes(url: url, kind: "safetensors file")
        let length = mapped.bytes.count
        guard length >= 8, let base = mapped.bytes.baseAddress else {
            dataStart = 0; tensors = []; metadata = [:]; index = [:]
            throw CheckpointError(url, "truncated safetensors file: \(length) bytes, shorter than the 8-byte header length")
        }
        let headerLength = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(Self.maximumHeaderLength) else {
            dataStart = 0; tensors = []; metadata = [:]; index = [:]
            throw CheckpointError(url, "corrupt safetensors header: declared header length \(headerLength) is implausible (not a safetensors file?)")
        }
        guard 8 + Int(headerLength) <= length else {
            dataStart = 0; tensors = []; metadata = [:]; index = [:]
            throw CheckpointError(url, "corrupt safetensors header: header length \(headerLength) runs past the end of the \(length)-byte file")
        }
        dataStart = 8 + Int(headerLength)
        let header = Data(bytes: base + 8, count: Int(headerLength))
        do {
            (tensors, metadata) = try Self.parseHeader(header, dataLength: length - dataStart)
        } catch let problem as HeaderProblem {
            tensors = []; metadata = [:]; index = [:]
            throw CheckpointError(url, problem.message)
        }
        var index: [String: Int] = [:]
        for (i, tensor) in tensors.enumerated() { index[tensor.name] = i }
        self.index = index
    }

    private struct HeaderProblem: Error { let message: String }

    private static func parseHeader(_ header: Data, dataLength: Int) throws -> ([TensorInfo], [String: String]) {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: header)
        } catch {
            throw HeaderProblem(message: "corrupt safetensors header: invalid JSON")
        }
        guard let entries = object as? [String: Any] else {
            throw HeaderProblem(message: "corrupt safetensors header: expected a JSON object")
        }
        var tensors: [TensorInfo] = []
        var metadata: [String: String] = [:]
        for (name, value) in entries {
            if name == "__metadata__" {
                guard let pairs = value as? [String: Any] else {
                    throw HeaderProblem(message: "corrupt safetensors header: __metadata__ is not an object")
                }
                for (key, item) in pairs {
                    guard let text = item as? String else {
                        throw HeaderProblem(message: "corrupt safetensors header: __metadata__ value for \(key) is not a string")
                    }
                    metadata[key] = text
                }
                continue
            }
            guard let fields = value as? [String: Any],
                  let dtypeName = fields["dtype"] as? String,
                  let shapeValues = fields["shape"] as? [Any],
                  let offsetValues = fields["data_offsets"] as? [Any], offsetValues.count == 2
            else {
                throw HeaderProblem(message: "corrupt safetensors header: tensor \(name) lacks dtype, shape or data_offsets")
            }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw HeaderProblem(message: "tensor \(name) has unknown dtype \(dtypeName)")
            }
            let shape = try shapeValues.map { try nonNegativeInteger($0, "shape of tensor \(name)") }
            let begin = try nonNegativeInteger(offsetValues[0], "data_offsets of tensor \(name)")
            let end = try nonNegativeInteger(offsetValues[1], "data_offsets of tensor \(name)")
            guard begin <= end else {
                throw HeaderProblem(message: "corrupt safetensors header: tensor \(name) has data_offsets [\(begin), \(end)] in the wrong order")
            }
            var elements = 1
            for extent in shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: extent)
                guard !overflow else { throw HeaderProblem(message: "tensor \(name) has an impossibly large shape \(shape)") }
                elements = product
            }
            // The byte count is checked too: [2^62] F32 wraps to 0 bytes and would pass as empty.
            let (byteCount, byteOverflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
            guard !byteOverflow else { throw HeaderProblem(message: "tensor \(name) has an impossibly large shape \(shape)") }
            guard byteCount == end - begin else {
                throw HeaderProblem(message: "tensor \(name) has \(end - begin) bytes but shape \(shape) of \(dtype.rawValue) needs \(byteCount)")
            }
            guard end <= dataLength else {
                throw HeaderProblem(message: "tensor \(name) data [\(begin), \(end)) lies beyond the end of the file (data section has \(dataLength) bytes; truncated file?)")
            }
            tensors.append(TensorInfo(name: name, dtype: dtype, shape: shape, byteRange: begin..<end))
        }
        tensors.sort { ($0.byteRange.lowerBound, $0.byteRange.upperBound, $0.name) < ($1.byteRange.lowerBound, $1.byteRange.upperBound, $1.name) }
        for (previous, next) in zip(tensors, tensors.dropFirst())
        where previous.byteRange.upperBound > next.byteRange.lowerBound && !previous.byteRange.isEmpty && !next.byteRange.isEmpty {
            throw HeaderProblem(message: "tensors \(previous.name) and \(next.name) have overlapping byte ranges")
        }
        return (tensors, metadata)
    }

    private static func nonNegativeInteger(_ value: Any, _ what: String) throws -> Int {
        // JSONSerialization gives NSNumber for numbers; reject booleans, fractions and negatives.
        if let number = value as? NSNumber, String(cString: number.objCType) != "c", let integer = Int(exactly: number.doubleValue), integer >= 0,
           number.int64Value == Int64(integer) {
            return integer
        }
        throw HeaderProblem(message: "corrupt safetensors header: \(what) is not a non-negative integer")
    }

    /// Tensor names in data order.
    public var names: [String] { tensors.map(\.name) }

    public func info(_ name: String) -> TensorInfo? { index[name].map { tensors[$0] } }

    public func require(_ name: String) throws -> TensorInfo {
        guard let info = info(name) else { throw CheckpointError(url, "has no tensor named \(name)") }
        return info
    }

    /// The raw bytes of a tensor, valid while this object lives.
    public func rawBytes(_ info: TensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: mapped.bytes.baseAddress! + dataStart + info.byteRange.lowerBound, count: info.byteRange.count)
    }

    /// Converts tensor `name` (F32, F16, BF16 or F64) to Float32 into `destination`, which must
    /// hold `elementCount` values.
    public func readFloats(_ name: String, into destination: UnsafeMutablePointer<Float>, count: Int) throws {
        let info = try require(name)
        guard info.elementCount == count else {
            throw CheckpointError(url, "tensor \(name) has \(info.elementCount) values, expected \(count)")
        }
        let bytes = rawBytes(info)
        switch info.dtype {
        case .f32:
            for i in 0..<count { destination[i] = Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case .f16:
            for i in 0..<count { destination[i] = Float(Float16(bitPattern: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))) }
        case .bf16:
            // bfloat16 is the top half of a Float32.
            for i in 0..<count { destination[i] = Float(bitPattern: UInt32(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
        case .f64:
            for i in 0..<count { destination[i] = Float(Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
        default:
            throw CheckpointError(url, "tensor \(name) has dtype \(info.dtype.rawValue), which cannot be read as floating point")
        }
    }

    public func floats(_ name: String) throws -> [Float] {
        let info = try require(name)
        return try [Float](unsafeUninitializedCapacity: info.elementCount) { buffer, initialized in
            try readFloats(name, into: buffer.baseAddress!, count: info.elementCount)
            initialized = info.elementCount
        }
    }

    /// Tensor `name` as Float64 (F64 exactly; narrower float types widened).
    public func doubles(_ name: String) throws -> [Double] {
        let info = try require(name)
        if info.dtype == .f64 {
            let bytes = rawBytes(info)
            return (0..<info.elementCount).map { Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self))) }
        }
        return try floats(name).map(Double.init)
    }

    /// Integer tensor `name` (I64, I32, I16, I8, U8, BOOL) as Int.
    public func integers(_ name: String) throws -> [Int] {
        let info = try require(name)
        let bytes = rawBytes(info)
        let n = info.elementCount
        switch info.dtype {
        case .i64: return (0..<n).map { Int(Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
        case .i32: return (0..<n).map { Int(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
        case .i16: return (0..<n).map { Int(Int16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * $0, as: Int16.self))) }
        case .i8: return (0..<n).map { Int(bytes.load(fromByteOffset: $0, as: Int8.self)) }
        case .u8, .bool: return (0..<n).map { Int(bytes[$0]) }
        default: throw CheckpointError(url, "tensor \(name) has dtype \(info.dtype.rawValue), not an integer type")
        }
    }
}
