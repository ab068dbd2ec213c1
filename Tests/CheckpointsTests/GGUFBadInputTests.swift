import Checkpoints
import Foundation
import Testing

/// A GGUF file put together field by field, so that a test can break exactly one thing.
struct CraftedGGUF {
    struct Tensor {
        var name: String
        var dimensions: [UInt64]
        var type: UInt32
        var offset: UInt64
    }

    var magic = Array("GGUF".utf8)
    var version: UInt32 = 3
    /// nil: the real counts.
    var tensorCount: UInt64?
    var metadataCount: UInt64?
    /// Key and encoded value (type id, then payload).
    var metadata: [(key: [UInt8], value: [UInt8])]
    var tensors: [Tensor]
    var alignment = 32
    var data: [UInt8]

    static func u16(_ v: UInt16) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    static func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    static func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    static func string(_ s: String) -> [UInt8] { u64(UInt64(s.utf8.count)) + Array(s.utf8) }
    static func uint32Value(_ v: UInt32) -> [UInt8] { u32(4) + u32(v) }
    static func stringValue(_ s: String) -> [UInt8] { u32(8) + string(s) }

    /// Two tensors: "w", Q8_0 [32, 2] (ggml order) at offset 0, whose values are (j − 16)/2 in
    /// the first row and −2·(127 − 8j) in the second; "b", F32 [3] = [1.5, −2, 0.001] at 96.
    static var valid: CraftedGGUF {
        var q8: [UInt8] = u16(Float16(0.5).bitPattern) + (0..<32).map { UInt8(bitPattern: Int8($0 - 16)) }
        q8 += u16(Float16(-2).bitPattern) + (0..<32).map { UInt8(bitPattern: Int8(127 - 8 * $0)) }
        let f32 = [Float(1.5), -2, 0.001].flatMap { u32($0.bitPattern) }
        return CraftedGGUF(
            metadata: [(Array("general.architecture".utf8), stringValue("llama")),
                       (Array("llama.block_count".utf8), uint32Value(2))],
            tensors: [Tensor(name: "w", dimensions: [32, 2], type: 8, offset: 0), Tensor(name: "b", dimensions: [3], type: 0, offset: 96)],
            data: q8 + [UInt8](repeating: 0, count: 96 - q8.count) + f32)
    }

    /// The file and where its sections start.
    func assemble() -> (bytes: [UInt8], metadataStart: Int, tensorInfoStart: Int, dataStart: Int) {
        var bytes = magic + Self.u32(version) + Self.u64(tensorCount ?? UInt64(tensors.count)) + Self.u64(metadataCount ?? UInt64(metadata.count))
        let metadataStart = bytes.count
        for (key, value) in metadata { bytes += Self.u64(UInt64(key.count)) + key + value }
        let tensorInfoStart = bytes.count
        for tensor in tensors {
            bytes += Self.string(tensor.name) + Self.u32(UInt32(tensor.dimensions.count)) + tensor.dimensions.flatMap(Self.u64)
            bytes += Self.u32(tensor.type) + Self.u64(tensor.offset)
        }
        bytes += [UInt8](repeating: 0, count: (alignment - bytes.count % alignment) % alignment)
        let dataStart = bytes.count
        return (bytes + data, metadataStart, tensorInfoStart, dataStart)
    }

    var bytes: [UInt8] { assemble().bytes }
}

/// Every kind of broken file ends in one CheckpointError line that names the file and the problem.
@Suite struct GGUFBadInputTests {
    func write(_ bytes: [UInt8]) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("crafted-\(UUID().uuidString).gguf")
        try Data(bytes).write(to: url)
        return url
    }

    func expectRefused(_ bytes: [UInt8], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let url = try write(bytes)
        defer { try? FileManager.default.removeItem(at: url) }
        do {
            _ = try GGUFFile(url: url)
            Issue.record("the file opened; expected \"\(fragment)\"", sourceLocation: sourceLocation)
        } catch let error as CheckpointError {
            #expect(error.path == url.path, sourceLocation: sourceLocation)
            #expect(error.problem.contains(fragment), "\(error.problem)", sourceLocation: sourceLocation)
            #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
        }
    }

    func expectRefused(_ edit: (inout CraftedGGUF) -> Void, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        var file = CraftedGGUF.valid
        edit(&file)
        try expectRefused(file.bytes, fragment, sourceLocation: sourceLocation)
    }

    @Test(arguments: [UInt32(2), 3])
    func theValidFileReadsAsHandComputed(version: UInt32) throws {
        var crafted = CraftedGGUF.valid
        crafted.version = version
        let url = try write(crafted.bytes)
        defer { try? FileManager.default.removeItem(at: url) }
        let file = try GGUFFile(url: url)
        #expect(file.version == Int(version) && file.alignment == 32)
        #expect(file.metadataKeys == ["general.architecture", "llama.block_count"])
        #expect(try file.requireInteger("llama.block_count") == 2)
        let dataStart = crafted.assemble().dataStart
        #expect(file.dataOffset == dataStart)
        #expect(file.tensors.map(\.offset) == [dataStart, dataStart + 96])
        #expect(file.info("w")?.shape == [2, 32] && file.info("w")?.byteCount == 68)
        let firstRow: [Float] = (0..<32).map { Float($0 - 16) * 0.5 }
        let secondRow: [Float] = (0..<32).map { Float(127 - 8 * $0) * -2 }
        let expected = firstRow + secondRow
        #expect(try file.floats("w") == expected)
        #expect(try file.floats("b") == [1.5, -2, 0.001])
    }

    @Test func aFileWithoutTensorsNeedsNoPadding() throws {
        var crafted = CraftedGGUF.valid
        crafted.tensors = []
        crafted.data = []
        let bytes = Array(crafted.bytes.prefix(crafted.assemble().tensorInfoStart))
        let url = try write(bytes)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(try GGUFFile(url: url).tensors.isEmpty)
    }

    @Test func notAGGUFFile() throws {
        try expectRefused({ $0.magic = Array("GGML".utf8) }, "not a GGUF file: it starts with \"GGML\"")
        try expectRefused(Array("PK\u{3}\u{4}".utf8) + [UInt8](repeating: 0, count: 40), "not a GGUF file: it starts with \"PK..\"")
        try expectRefused([], "truncated GGUF file: it ends inside the header")
        try expectRefused({ $0.version = 1 }, "unsupported GGUF version 1 (supported: 2 and 3)")
        try expectRefused({ $0.version = 4 }, "unsupported GGUF version 4")
        try expectRefused({ $0.version = 0 }, "unsupported GGUF version 0")
        try expectRefused({ $0.version = 3 << 24 }, "big-endian GGUF file, which is not supported")
    }

    @Test func missingAndDirectory() throws {
        #expect { try GGUFFile(url: URL(fileURLWithPath: "/nonexistent/model.gguf")) } throws: {
            "\($0)" == "/nonexistent/model.gguf: file not found"
        }
        #expect { try GGUFFile(url: FileManager.default.temporaryDirectory) } throws: { "\($0)".hasSuffix("is a directory, not a GGUF file") }
    }

    /// A file cut short anywhere ends in an error, whose message says which part was cut.
    @Test func truncatedFiles() throws {
        let (bytes, metadataStart, tensorInfoStart, dataStart) = CraftedGGUF.valid.assemble()
        try expectRefused(Array(bytes.prefix(11)), "truncated GGUF file: it ends inside the header")
        // (Cut earlier, the counts fail first: 2 metadata entries need at least 26 bytes, 2 tensor infos 48.)
        try expectRefused(Array(bytes.prefix(metadataStart + 30)), "truncated GGUF file: it ends inside the value of metadata key general.architecture")
        try expectRefused(Array(bytes.prefix(metadataStart + 50)), "truncated GGUF file: it ends inside metadata entry 2 of 2")
        try expectRefused(Array(bytes.prefix(metadataStart + 20)), "the header: metadata count 2 exceeds what the remaining 20 bytes could hold (at most 1)")
        try expectRefused(Array(bytes.prefix(tensorInfoStart + 60)), "truncated GGUF file: it ends inside the tensor info of b")
        try expectRefused(Array(bytes.prefix(tensorInfoStart + 12)), "the tensor infos: tensor count 2 exceeds what the remaining 12 bytes could hold")
        try expectRefused(Array(bytes.prefix(dataStart + 50)), "tensor w data (68 bytes at byte \(dataStart)) runs past the end of the \(dataStart + 50)-byte file")
        try expectRefused(Array(bytes.dropLast()), "tensor b data (12 bytes at byte \(dataStart + 96)) runs past the end")
        for length in 0..<bytes.count {   // and nothing traps on any cut
            let url = try write(Array(bytes.prefix(length)))
            defer { try? FileManager.default.removeItem(at: url) }
            #expect(throws: CheckpointError.self) { try GGUFFile(url: url) }
        }
    }

    @Test func countsThatTheFileCannotHold() throws {
        try expectRefused({ $0.metadataCount = .max }, "the header: metadata count 18446744073709551615 exceeds what the remaining")
        try expectRefused({ $0.metadataCount = 1 << 63 }, "metadata count 9223372036854775808 exceeds")
        try expectRefused({ $0.tensorCount = .max }, "tensor count 18446744073709551615 exceeds")
        try expectRefused({ $0.tensorCount = 20 }, "the tensor infos: tensor count 20 exceeds what the remaining 198 bytes could hold (at most 8)")
        // A third entry is read from the tensor infos, which then start in the wrong place.
        try expectRefused({ $0.metadataCount = 3 }, "tensor info 1 of 2: string length 562949953421312 runs past the end of the file")
        try expectRefused({ $0.metadata.append((Array("big.array".utf8), CraftedGGUF.u32(9) + CraftedGGUF.u32(4) + CraftedGGUF.u64(1 << 62))) },
                          "the value of metadata key big.array: array element count 4611686018427387904 exceeds what the remaining")
        try expectRefused({ $0.metadata.append((Array("strings".utf8), CraftedGGUF.u32(9) + CraftedGGUF.u32(8) + CraftedGGUF.u64(.max))) },
                          "array element count 18446744073709551615 exceeds")
    }

    @Test func stringsPastTheEnd() throws {
        try expectRefused({ $0.metadata[0].key = [] }, "metadata entry 1 has an empty key")
        // The key's length field claims 2^40 bytes.
        var crafted = CraftedGGUF.valid
        var bytes = crafted.bytes
        let metadataStart = crafted.assemble().metadataStart
        bytes.replaceSubrange(metadataStart..<(metadataStart + 8), with: CraftedGGUF.u64(1 << 40))
        try expectRefused(bytes, "metadata entry 1 of 2: string length 1099511627776 runs past the end of the file")
        crafted.metadata[1].value = CraftedGGUF.u32(8) + CraftedGGUF.u64(UInt64.max)
        try expectRefused(crafted.bytes, "the value of metadata key llama.block_count: string length 18446744073709551615 runs past the end")
        crafted = .valid
        crafted.metadata[0].key = [0x67, 0xC3, 0x28]
        try expectRefused(crafted.bytes, "metadata entry 1 of 2: a string is not valid UTF-8")
    }

    @Test func badValues() throws {
        try expectRefused({ $0.metadata[1].value = CraftedGGUF.u32(13) + CraftedGGUF.u32(2) }, "the value of metadata key llama.block_count has unknown value type 13")
        try expectRefused({ $0.metadata[1].value = CraftedGGUF.u32(9) + CraftedGGUF.u32(99) + CraftedGGUF.u64(0) },
                          "the value of metadata key llama.block_count is an array of unknown value type 99")
        try expectRefused({ $0.metadata[1].value = CraftedGGUF.u32(7) + [2] }, "llama.block_count: bool value 2 is neither 0 nor 1")
        try expectRefused({ $0.metadata.append($0.metadata[1]) }, "duplicate metadata key llama.block_count")
        // Arrays nested 9 deep (each level one element).
        let nested = (0..<9).reduce(CraftedGGUF.u32(0) + CraftedGGUF.u64(0)) { inner, _ in CraftedGGUF.u32(9) + CraftedGGUF.u64(1) + inner }
        try expectRefused({ $0.metadata[1].value = CraftedGGUF.u32(9) + nested }, "llama.block_count nests arrays more than 8 deep")
    }

    @Test func badAlignment() throws {
        try expectRefused({ $0.metadata.append((Array("general.alignment".utf8), CraftedGGUF.uint32Value(48))) },
                          "alignment 48 (general.alignment) is not a power of two")
        try expectRefused({ $0.metadata.append((Array("general.alignment".utf8), CraftedGGUF.uint32Value(0))) }, "alignment 0 (general.alignment) is not a power of two")
        try expectRefused({ $0.metadata.append((Array("general.alignment".utf8), CraftedGGUF.stringValue("32"))) },
                          "metadata key general.alignment has type string, but must be uint32")
        try expectRefused({ $0.tensors[1].offset = 100 }, "tensor b has offset 100, not a multiple of the alignment 32")
        // With alignment 16 the same offset 80 is fine, and the data section moves.
        var crafted = CraftedGGUF.valid
        crafted.metadata.append((Array("general.alignment".utf8), CraftedGGUF.uint32Value(16)))
        crafted.alignment = 16
        crafted.tensors[1].offset = 80
        crafted.data = Array(crafted.data.prefix(80)) + Array(crafted.data.suffix(12))
        let url = try write(crafted.bytes)
        defer { try? FileManager.default.removeItem(at: url) }
        let file = try GGUFFile(url: url)
        #expect(file.alignment == 16 && file.dataOffset % 16 == 0 && file.dataOffset == crafted.assemble().dataStart)
        #expect(try file.floats("b") == [1.5, -2, 0.001])
    }

    @Test func badTensorInfos() throws {
        try expectRefused({ $0.tensors[1].name = "w" }, "duplicate tensor name w")
        try expectRefused({ $0.tensors[1].name = "b\nline\u{2028}"; $0.tensors[1].offset = 100 }, "tensor b\\nline\\u{2028} has offset 100, not a multiple")
        try expectRefused({ $0.tensors[1].type = 31 }, "tensor b has unknown tensor type id 31")
        try expectRefused({ $0.tensors[1].type = 1000 }, "tensor b has unknown tensor type id 1000")
        try expectRefused({ $0.tensors[1].dimensions = [3, 1, 1, 1, 1] }, "tensor b has 5 dimensions (GGUF allows at most 4)")
        try expectRefused({ $0.tensors[1].dimensions = [3, 0] }, "tensor b has dimension 0; every dimension must be at least 1")
        try expectRefused({ $0.tensors[1].dimensions = [3, .max] }, "tensor b has dimension -1; every dimension must be at least 1")
        try expectRefused({ $0.tensors[1].dimensions = [1 << 32, 1 << 32] }, "tensor b has an impossibly large shape [4294967296, 4294967296] (the element count overflows)")
        try expectRefused({ $0.tensors[1].dimensions = [1 << 62] }, "tensor b has an impossibly large shape [4611686018427387904] (the byte count overflows)")
        try expectRefused({ $0.tensors[1].dimensions = [1 << 40] }, "tensor b data (4398046511104 bytes at byte")
        try expectRefused({ $0.tensors[1].offset = 1 << 62 }, "tensor b data (12 bytes at byte \(CraftedGGUF.valid.assemble().dataStart + (1 << 62))) runs past the end")
        try expectRefused({ $0.tensors[1].offset = .max - 31 }, "tensor b data (12 bytes at byte")
        // 64 elements are a whole number of Q8_0 blocks, but rows of 16 are not.
        try expectRefused({ $0.tensors[0].dimensions = [16, 4] }, "tensor w of type Q8_0 has rows of 16 elements, not a multiple of the block size 32")
        try expectRefused({ $0.tensors[0].type = 12 }, "tensor w of type Q4_K has rows of 32 elements, not a multiple of the block size 256")
        try expectRefused({ $0.tensors[0].dimensions = [] }, "tensor w of type Q8_0 has rows of 1 elements")
    }
}
