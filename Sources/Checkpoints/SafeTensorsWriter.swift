import Foundation

/// Builds a safetensors file in memory and writes it atomically. Tensors are stored in the
/// order they are added; the header is padded with spaces to a multiple of 8 bytes so that
/// the data section is aligned, as the safetensors library does.
public struct SafeTensorsWriter {
    private struct Pending {
        let name: String
        let dtype: DType
        let shape: [Int]
        let bytes: Data
        /// The data size; `bytes` is empty for a tensor only declared (`SafeTensorsSlotFile`).
        let byteCount: Int
    }

    private var pending: [Pending] = []
    private var names: Set<String> = []
    public var metadata: [String: String]

    public init(metadata: [String: String] = [:]) {
        self.metadata = metadata
    }

    private mutating func append(_ name: String, _ dtype: DType, _ shape: [Int], _ bytes: Data) {
        precondition(!names.contains(name), "tensor \(name) added twice")
        precondition(shape.reduce(1, *) * dtype.byteSize == bytes.count, "shape \(shape) does not match the data of \(name)")
        names.insert(name)
        pending.append(Pending(name: name, dtype: dtype, shape: shape, bytes: bytes, byteCount: bytes.count))
    }

    /// Lists a tensor in the header without its data (the slot file writes the data itself).
    mutating func declare(_ name: String, _ dtype: DType, _ shape: [Int], byteCount: Int) {
        precondition(!names.contains(name), "tensor \(name) added twice")
        names.insert(name)
        pending.append(Pending(name: name, dtype: dtype, shape: shape, bytes: Data(), byteCount: byteCount))
    }

    public mutating func add(_ name: String, shape: [Int], floats: UnsafeBufferPointer<Float>) {
        var data = Data(count: floats.count * 4)
        data.withUnsafeMutableBytes { raw in
            for (i, value) in floats.enumerated() { raw.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        }
        append(name, .f32, shape, data)
    }

    public mutating func add(_ name: String, shape: [Int], floats: [Float]) {
        floats.withUnsafeBufferPointer { add(name, shape: shape, floats: $0) }
    }

    public mutating func add(_ name: String, shape: [Int], doubles: [Double]) {
        var data = Data(count: doubles.count * 8)
        data.withUnsafeMutableBytes { raw in
            for (i, value) in doubles.enumerated() { raw.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 8 * i, as: UInt64.self) }
        }
        append(name, .f64, shape, data)
    }

    public mutating func add(_ name: String, shape: [Int], integers: [Int]) {
        var data = Data(count: integers.count * 8)
        data.withUnsafeMutableBytes { raw in
            for (i, value) in integers.enumerated() { raw.storeBytes(of: Int64(value).littleEndian, toByteOffset: 8 * i, as: Int64.self) }
        }
        append(name, .i64, shape, data)
    }

    /// The JSON header, padded with spaces to a multiple of 8 bytes.
    func header() -> Data {
        var fields: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for tensor in pending {
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            fields.append("\(jsonString(tensor.name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + tensor.byteCount)]}")
            offset += tensor.byteCount
        }
        var text = Data("{\(fields.joined(separator: ","))}".utf8)
        while text.count % 8 != 0 { text.append(0x20) }
        return text
    }

    /// Writes the file to `url` atomically (temporary file, then rename).
    public func write(to url: URL) throws {
        let header = header()
        try AtomicFile.write(to: url) { handle in
            var length = UInt64(header.count).littleEndian
            try handle.write(contentsOf: Data(bytes: &length, count: 8))
            try handle.write(contentsOf: header)
            for tensor in pending { try handle.write(contentsOf: tensor.bytes) }
        }
    }
}

/// A JSON string literal for `text`.
func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
