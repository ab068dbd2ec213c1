/// A problem found while parsing a GGUF file; `GGUFFile` adds the path.
struct GGUFProblem: Error {
    let message: String
    init(_ message: String) { self.message = message }

    /// A key or tensor name as messages show it: control characters and line breaks escaped,
    /// so that a hostile name cannot break the one-line message.
    static func shown(_ name: String) -> String {
        func breaksLines(_ scalar: Unicode.Scalar) -> Bool {
            [.control, .lineSeparator, .paragraphSeparator].contains(scalar.properties.generalCategory)
        }
        guard name.unicodeScalars.contains(where: breaksLines) else { return name }
        return name.unicodeScalars.map { breaksLines($0) ? $0.escaped(asASCII: true) : String($0) }.joined()
    }
}

/// What the header, metadata and tensor infos of a GGUF file say, checked against the file's
/// length: every count is bounded by the bytes left, every tensor lies inside the file.
struct GGUFLayout {
    static let magic = Array("GGUF".utf8)
    static let supportedVersions: ClosedRange<UInt32> = 2...3
    static let defaultAlignment = 32
    /// ggml's GGML_MAX_DIMS.
    static let maximumDimensions = 4
    /// Arrays of arrays are legal but real files do not nest; the limit keeps a hostile file
    /// from exhausting the stack.
    static let maximumArrayNesting = 8

    let version: Int
    let alignment: Int
    let metadata: [String: GGUFValue]
    let metadataKeys: [String]
    let tensors: [GGUFTensorInfo]
    let tensorIndex: [String: Int]
    let dataOffset: Int

    init(_ bytes: UnsafeRawBufferPointer) throws {
        var reader = GGUFFieldReader(bytes: bytes, context: "the header")
        let magic = try reader.take(4)
        guard Array(magic) == Self.magic else {
            let shown = magic.map { (0x20..<0x7F).contains($0) ? String(UnicodeScalar($0)) : "." }.joined()
            throw GGUFProblem("not a GGUF file: it starts with \"\(shown)\", not \"GGUF\"")
        }
        let rawVersion = try reader.uint32()
        guard Self.supportedVersions.contains(rawVersion) else {
            // A big-endian file's version 3 reads as 0x03000000 here.
            if rawVersion != 0, rawVersion & 0xFFFF == 0 {
                throw GGUFProblem("GGUF version field reads \(rawVersion): a big-endian GGUF file, which is not supported")
            }
            throw GGUFProblem("unsupported GGUF version \(rawVersion) (supported: 2 and 3)")
        }
        version = Int(rawVersion)
        // Each count is checked against the bytes left when its section begins.
        let declaredTensorCount = try reader.uint64()
        let declaredMetadataCount = try reader.uint64()
        let metadataCount = try reader.count(declaredMetadataCount, of: "metadata", minimumBytesEach: GGUFFieldReader.minimumMetadataEntryBytes)

        var metadata: [String: GGUFValue] = [:]
        var metadataKeys: [String] = []
        metadata.reserveCapacity(metadataCount)
        metadataKeys.reserveCapacity(metadataCount)
        for entry in 0..<metadataCount {
            reader.context = "metadata entry \(entry + 1) of \(metadataCount)"
            let key = try reader.string()
            guard !key.isEmpty else { throw GGUFProblem("metadata entry \(entry + 1) has an empty key") }
            guard metadata[key] == nil else { throw GGUFProblem("duplicate metadata key \(GGUFProblem.shown(key))") }
            reader.context = "the value of metadata key \(GGUFProblem.shown(key))"
            let type = try reader.uint32()
            metadata[key] = try reader.value(ofType: type, depth: 0)
            metadataKeys.append(key)
        }
        self.metadata = metadata
        self.metadataKeys = metadataKeys
        alignment = try Self.alignment(metadata)

        reader.context = "the tensor infos"
        let tensorCount = try reader.count(declaredTensorCount, of: "tensor", minimumBytesEach: GGUFFieldReader.minimumTensorInfoBytes)
        var declared: [(name: String, dimensions: [Int], type: GGUFTensorType, relativeOffset: UInt64, byteCount: Int)] = []
        var tensorIndex: [String: Int] = [:]
        declared.reserveCapacity(tensorCount)
        tensorIndex.reserveCapacity(tensorCount)
        for number in 0..<tensorCount {
            reader.context = "tensor info \(number + 1) of \(tensorCount)"
            let name = try reader.string()
            let shownName = GGUFProblem.shown(name)
            guard tensorIndex[name] == nil else { throw GGUFProblem("duplicate tensor name \(shownName)") }
            tensorIndex[name] = number
            reader.context = "the tensor info of \(shownName)"
            let (dimensions, type, byteCount) = try Self.shapeAndType(of: shownName, &reader)
            declared.append((name, dimensions, type, try reader.uint64(), byteCount))
        }

        // The data section starts at the next multiple of the alignment.
        let padding = (alignment - reader.position % alignment) % alignment
        dataOffset = reader.position + padding
        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(tensorCount)
        for tensor in declared {
            guard tensor.relativeOffset % UInt64(alignment) == 0 else {
                throw GGUFProblem("tensor \(GGUFProblem.shown(tensor.name)) has offset \(tensor.relativeOffset), not a multiple of the alignment \(alignment)")
            }
            let room = max(0, bytes.count - dataOffset)
            guard tensor.relativeOffset <= UInt64(room), tensor.byteCount <= room - Int(tensor.relativeOffset) else {
                let start = UInt64(dataOffset).addingReportingOverflow(tensor.relativeOffset).partialValue
                throw GGUFProblem(
                    "tensor \(GGUFProblem.shown(tensor.name)) data (\(tensor.byteCount) bytes at byte \(start)) runs past the end of the \(bytes.count)-byte file (truncated?)")
            }
            tensors.append(GGUFTensorInfo(name: tensor.name, dimensions: tensor.dimensions, type: tensor.type,
                                          offset: dataOffset + Int(tensor.relativeOffset), byteCount: tensor.byteCount))
        }
        self.tensors = tensors
        self.tensorIndex = tensorIndex
    }

    /// `general.alignment` (a u32 power of two, as ggml requires) or the default.
    private static func alignment(_ metadata: [String: GGUFValue]) throws -> Int {
        guard let value = metadata["general.alignment"] else { return defaultAlignment }
        guard case .uint32(let alignment) = value else {
            throw GGUFProblem("metadata key general.alignment has type \(value.typeName), but must be uint32")
        }
        guard alignment != 0, alignment & (alignment - 1) == 0 else {
            throw GGUFProblem("alignment \(alignment) (general.alignment) is not a power of two")
        }
        return Int(alignment)
    }

    /// Reads the dimensions and type of the tensor info of `name` (as shown) and checks that they describe a whole
    /// number of blocks whose byte count fits in `Int`.
    private static func shapeAndType(of name: String, _ reader: inout GGUFFieldReader) throws
        -> (dimensions: [Int], type: GGUFTensorType, byteCount: Int)
    {
        let dimensionCount = try reader.uint32()
        guard dimensionCount <= maximumDimensions else {
            throw GGUFProblem("tensor \(name) has \(dimensionCount) dimensions (GGUF allows at most \(maximumDimensions))")
        }
        var dimensions: [Int] = []
        var elementCount = 1
        var overflow = false
        for _ in 0..<dimensionCount {
            let raw = try reader.uint64()
            // ggml reads dimensions as signed; show a huge one as the negative number it is there.
            guard raw >= 1, raw <= UInt64(Int.max) else {
                throw GGUFProblem("tensor \(name) has dimension \(Int64(bitPattern: raw)); every dimension must be at least 1")
            }
            dimensions.append(Int(raw))
            let (product, overflowed) = elementCount.multipliedReportingOverflow(by: Int(raw))
            elementCount = product
            overflow = overflow || overflowed
        }
        guard !overflow else { throw GGUFProblem("tensor \(name) has an impossibly large shape \(dimensions) (the element count overflows)") }
        let typeID = try reader.uint32()
        guard let type = GGUFTensorType(rawValue: typeID) else {
            throw GGUFProblem("tensor \(name) has unknown tensor type id \(typeID)")
        }
        let rowLength = dimensions.first ?? 1
        guard rowLength % type.blockSize == 0 else {
            throw GGUFProblem(
                "tensor \(name) of type \(type.name) has rows of \(rowLength) elements, not a multiple of the block size \(type.blockSize)")
        }
        let (byteCount, byteOverflow) = (elementCount / type.blockSize).multipliedReportingOverflow(by: type.bytesPerBlock)
        guard !byteOverflow else { throw GGUFProblem("tensor \(name) has an impossibly large shape \(dimensions) (the byte count overflows)") }
        return (dimensions, type, byteCount)
    }
}

/// Reads little-endian fields in order, naming what it was reading (`context`) when the file
/// ends early or a count cannot be right.
struct GGUFFieldReader {
    /// Name length, dimension count, type, offset.
    static let minimumTensorInfoBytes = 8 + 4 + 4 + 8
    /// Key length, value type, the smallest value.
    static let minimumMetadataEntryBytes = 8 + 4 + 1

    let bytes: UnsafeRawBufferPointer
    var position = 0
    var context: String

    init(bytes: UnsafeRawBufferPointer, context: String) {
        self.bytes = bytes
        self.context = context
    }

    var remaining: Int { bytes.count - position }

    mutating func take(_ count: Int) throws -> UnsafeRawBufferPointer {
        guard count <= remaining else {
            throw GGUFProblem(
                "truncated GGUF file: it ends inside \(context) (\(count) bytes needed at byte \(position) of \(bytes.count))")
        }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)])
    }

    mutating func uint8() throws -> UInt8 { try take(1)[0] }
    mutating func uint16() throws -> UInt16 { UInt16(littleEndian: try take(2).loadUnaligned(as: UInt16.self)) }
    mutating func uint32() throws -> UInt32 { UInt32(littleEndian: try take(4).loadUnaligned(as: UInt32.self)) }
    mutating func uint64() throws -> UInt64 { UInt64(littleEndian: try take(8).loadUnaligned(as: UInt64.self)) }

    /// A count of things of at least `minimumBytesEach` bytes, which the rest of the file must
    /// be able to hold (so that a hostile count cannot make a huge allocation). Read the count
    /// before the call: `reader.count(try reader.uint64(), …)` would see the old position.
    func count(_ count: UInt64, of what: String, minimumBytesEach: Int) throws -> Int {
        let most = remaining / minimumBytesEach
        guard count <= UInt64(most) else {
            throw GGUFProblem("\(context): \(what) count \(count) exceeds what the remaining \(remaining) bytes could hold (at most \(most))")
        }
        return Int(count)
    }

    mutating func string() throws -> String {
        let length = try uint64()
        guard length <= UInt64(remaining) else {
            throw GGUFProblem("\(context): string length \(length) runs past the end of the file (\(remaining) bytes left)")
        }
        guard let string = String(validating: try take(Int(length)), as: UTF8.self) else {
            throw GGUFProblem("\(context): a string is not valid UTF-8")
        }
        return string
    }

    /// GGUF value type ids: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool, 8 string,
    /// 9 array, 10 u64, 11 i64, 12 f64.
    static func minimumBytes(ofType type: UInt32) -> Int? {
        switch type {
        case 0, 1, 7: 1
        case 2, 3: 2
        case 4, 5, 6: 4
        case 10, 11, 12: 8
        case 8: 8          // the length of an empty string
        case 9: 4 + 8      // the element type and count of an empty array
        default: nil
        }
    }

    mutating func value(ofType type: UInt32, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint8(try uint8())
        case 1: return .int8(Int8(bitPattern: try uint8()))
        case 2: return .uint16(try uint16())
        case 3: return .int16(Int16(bitPattern: try uint16()))
        case 4: return .uint32(try uint32())
        case 5: return .int32(Int32(bitPattern: try uint32()))
        case 6: return .float32(Float(bitPattern: try uint32()))
        case 7:
            let byte = try uint8()
            guard byte <= 1 else { throw GGUFProblem("\(context): bool value \(byte) is neither 0 nor 1") }
            return .bool(byte == 1)
        case 8: return .string(try string())
        case 9: return try array(depth: depth)
        case 10: return .uint64(try uint64())
        case 11: return .int64(Int64(bitPattern: try uint64()))
        case 12: return .float64(Double(bitPattern: try uint64()))
        default: throw GGUFProblem("\(context) has unknown value type \(type)")
        }
    }

    private mutating func array(depth: Int) throws -> GGUFValue {
        let elementType = try uint32()
        guard let minimum = Self.minimumBytes(ofType: elementType) else {
            throw GGUFProblem("\(context) is an array of unknown value type \(elementType)")
        }
        guard elementType != 9 || depth < GGUFLayout.maximumArrayNesting else {
            throw GGUFProblem("\(context) nests arrays more than \(GGUFLayout.maximumArrayNesting) deep")
        }
        let declaredCount = try uint64()
        let count = try count(declaredCount, of: "array element", minimumBytesEach: minimum)
        var items: [GGUFValue] = []
        items.reserveCapacity(count)
        for _ in 0..<count { items.append(try value(ofType: elementType, depth: depth + 1)) }
        return .array(items)
    }
}
