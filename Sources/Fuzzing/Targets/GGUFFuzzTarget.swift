import Checkpoints
import Foundation

extension FuzzTarget {
    /// A GGUF file: header, metadata and tensor infos, then every metadata value through the
    /// typed accessors and every tensor dequantized (or its bytes summed, for the types that are
    /// not read). Errors must be one-line `CheckpointError`s naming the file.
    public static let gguf = FuzzTarget(name: "gguf", format: .bytes, seeds: {
        [GGUFFuzzing.everyType, GGUFFuzzing.llamaLike].map { Data($0.bytes) }
    }, body: { data in
        let url = FuzzScratch.directory.appendingPathComponent("case.gguf")
        try data.write(to: url)
        let file: GGUFFile
        do {
            file = try GGUFFile(url: url)
        } catch let error as CheckpointError {
            guard error.path == url.path, !error.description.contains("\n") else {
                throw GGUFFuzzing.ContractViolation(description: "malformed error: \(error)")
            }
            throw error
        } catch {
            throw GGUFFuzzing.ContractViolation(description: "untyped error: \(error)")
        }
        for key in file.metadataKeys {
            _ = try? file.integer(key)
            _ = try? file.double(key)
            _ = try? file.strings(key)
            _ = try? file.integers(key)
            _ = file.metadata[key]?.typeName
        }
        _ = file.tensorTypeCounts
        for tensor in file.tensors {
            if tensor.type.isDequantizable {
                let values = try file.floats(tensor.name)
                guard values.count == tensor.elementCount else {
                    throw GGUFFuzzing.ContractViolation(description: "\(tensor.name): \(values.count) values for \(tensor.elementCount) elements")
                }
            } else {
                _ = file.rawBytes(tensor).reduce(0, &+)
            }
        }
    })
}

public enum GGUFFuzzing {
    public struct ContractViolation: FuzzContractViolation, CustomStringConvertible {
        public let description: String
    }

    /// Just enough of a GGUF writer for the seeds (the reader's tests have their own).
    struct Builder {
        var metadata: [UInt8] = []
        var metadataCount = 0
        var tensorInfos: [UInt8] = []
        var tensorCount = 0
        var data: [UInt8] = []
        var alignment = 32

        static func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
        static func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
        static func string(_ s: String) -> [UInt8] { u64(UInt64(s.utf8.count)) + Array(s.utf8) }

        /// `value` is the type id followed by the payload.
        mutating func add(_ key: String, _ value: [UInt8]) {
            metadata += Self.string(key) + value
            metadataCount += 1
        }

        /// Adds a tensor whose bytes are a deterministic pattern (any bytes are valid blocks).
        mutating func addTensor(_ name: String, _ dimensions: [UInt64], _ type: GGUFTensorType) {
            let elements = Int(dimensions.reduce(1, *))
            let count = elements / type.blockSize * type.bytesPerBlock
            data += [UInt8](repeating: 0, count: (alignment - data.count % alignment) % alignment)
            tensorInfos += Self.string(name) + Self.u32(UInt32(dimensions.count)) + dimensions.flatMap(Self.u64)
            tensorInfos += Self.u32(type.rawValue) + Self.u64(UInt64(data.count))
            // Small f16 scales where the block formats put them keep most values finite.
            data += (0..<count).map { UInt8(truncatingIfNeeded: ($0 * 37 + tensorCount * 11) % 251) & ($0 % 2 == 1 ? 0x3B : 0xFF) }
            tensorCount += 1
        }

        var bytes: [UInt8] {
            var bytes = Array("GGUF".utf8) + Self.u32(3) + Self.u64(UInt64(tensorCount)) + Self.u64(UInt64(metadataCount))
            bytes += metadata + tensorInfos
            bytes += [UInt8](repeating: 0, count: (alignment - bytes.count % alignment) % alignment)
            return bytes + data
        }
    }

    static func scalar(_ type: UInt32, _ payload: [UInt8]) -> [UInt8] { Builder.u32(type) + payload }
    static func array(_ elementType: UInt32, _ count: Int, _ elements: [UInt8]) -> [UInt8] {
        Builder.u32(9) + Builder.u32(elementType) + Builder.u64(UInt64(count)) + elements
    }

    /// Every metadata value type and one small tensor of every dequantized type (and one that is not).
    static var everyType: Builder {
        var b = Builder()
        b.add("general.architecture", scalar(8, Builder.string("llama")))
        b.add("t.u8", scalar(0, [200]))
        b.add("t.i8", scalar(1, [0x9C]))
        b.add("t.u16", scalar(2, [0x60, 0xEA]))
        b.add("t.i16", scalar(3, [0xD0, 0x8A]))
        b.add("t.u32", scalar(4, Builder.u32(30)))
        b.add("t.i32", scalar(5, Builder.u32(UInt32(bitPattern: -7))))
        b.add("t.f32", scalar(6, Builder.u32(Float(1e-5).bitPattern)))
        b.add("t.bool", scalar(7, [1]))
        b.add("t.u64", scalar(10, Builder.u64(.max)))
        b.add("t.i64", scalar(11, Builder.u64(UInt64(bitPattern: -3))))
        b.add("t.f64", scalar(12, Builder.u64(Double(100_000).bitPattern)))
        b.add("t.strings", array(8, 3, Builder.string("a") + Builder.string("Ġt he") + Builder.string("")))
        b.add("t.ints", array(5, 2, Builder.u32(3) + Builder.u32(1)))
        b.add("t.nested", array(9, 2, Builder.u32(0) + Builder.u64(2) + [1, 2] + Builder.u32(8) + Builder.u64(1) + Builder.string("x")))
        b.addTensor("f32", [4, 2], .f32)
        b.addTensor("f16", [8], .f16)
        b.addTensor("bf16", [4, 1, 1], .bf16)
        for type in [GGUFTensorType.q4_0, .q4_1, .q5_0, .q5_1, .q8_0] { b.addTensor(type.name, [32, 2], type) }
        for type in [GGUFTensorType.q4_K, .q5_K, .q6_K, .iq2_xs] { b.addTensor(type.name, [256], type) }
        return b
    }

    /// The shape of a llama.cpp conversion: tokenizer arrays, a custom alignment.
    static var llamaLike: Builder {
        var b = Builder()
        b.alignment = 64
        b.add("general.architecture", scalar(8, Builder.string("llama")))
        b.add("general.alignment", scalar(4, Builder.u32(64)))
        b.add("llama.block_count", scalar(4, Builder.u32(1)))
        b.add("tokenizer.ggml.tokens", array(8, 4, ["<s>", "a", "b", "ab"].flatMap(Builder.string)))
        b.add("tokenizer.ggml.merges", array(8, 1, Builder.string("a b")))
        b.addTensor("token_embd.weight", [32, 4], .q8_0)
        b.addTensor("output_norm.weight", [32], .f32)
        return b
    }
}
