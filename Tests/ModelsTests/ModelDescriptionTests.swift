import Checkpoints
import Foundation
import Models
import Testing

/// `inspect`'s numbers against what PyTorch reports for the same checkpoints
/// (Tools/reference/make_tiny_checkpoints.py writes expected.json).
@Suite struct ModelDescriptionTests {
    static let tinyDirectory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("tiny")
    static let exampleDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Examples/tiny-pythia")

    struct Expected: Decodable {
        struct Module: Decodable { let name: String; let d_in: Int; let d_out: Int }
        let parameters: Int
        let tracked_modules: [Module]
        let prompt: [Int]?
        let generated: [Int]?
    }

    static func expected() throws -> [String: Expected] {
        try JSONDecoder().decode([String: Expected].self, from: Data(contentsOf: tinyDirectory.appendingPathComponent("expected.json")))
    }

    static func directory(_ name: String) -> URL {
        name == "tiny-pythia" ? exampleDirectory : tinyDirectory.appendingPathComponent(name)
    }

    @Test(arguments: ["tiny-pythia", "gpt_neox-bf16-sharded", "gpt2"])
    func parameterCountAndTrackedModulesEqualPyTorch(name: String) throws {
        let expected = try Self.expected()[name]!
        let description = try ModelDescription(checkpoint: CheckpointDirectory(url: Self.directory(name)))
        #expect(description.parameterCount == expected.parameters)
        let families = ModelDescription.Family.allCases.reduce(0) { $0 + description.parameterCount($1) }
        #expect(families == expected.parameters)
        #expect(description.trackedModules.map(\.name) == expected.tracked_modules.map(\.name))
        #expect(description.trackedModules.map(\.inputSize) == expected.tracked_modules.map(\.d_in))
        #expect(description.trackedModules.map(\.outputSize) == expected.tracked_modules.map(\.d_out))
    }

    /// BLOOM: 16,008 parameters in PyTorch (Tools/reference/make_bloom_fixture.py), the tied
    /// head counted once; BLOOM's module names; saving and loading keep it a BLOOM model.
    @Test func bloomIsDescribedAndRoundTrips() throws {
        let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("bloom")
        let description = try ModelDescription(checkpoint: CheckpointDirectory(url: directory))
        #expect(description.modelType == "bloom" && description.parameterCount == 16008)
        #expect(description.trackedModules.first?.name == "transformer.h.0.self_attention.query_key_value")
        let model = try DecoderModel(directory: directory)
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("bloom-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: copy) }
        try model.save(to: copy)
        let loaded = try DecoderModel(directory: copy)
        #expect(loaded.hyperparameters == model.hyperparameters)
        #expect(memcmp(loaded.parameters.values, model.parameters.values, model.parameters.count * 4) == 0)
    }

    @Test func bfloat16ShardsHoldTheFloat32WeightsRounded() throws {
        let full = try DecoderModel(directory: Self.exampleDirectory)
        let half = try DecoderModel(directory: Self.directory("gpt_neox-bf16-sharded"))
        #expect(full.parameters.count == half.parameters.count)
        var worst: Float = 0
        for i in 0..<full.parameters.count {
            let a = full.parameters.values[i], b = half.parameters.values[i]
            worst = max(worst, abs(a - b) / max(abs(a), 1e-6))
        }
        // bfloat16 keeps 8 significant bits: relative rounding error at most 2^-8.
        #expect(worst <= 1.0 / 256)
        #expect(worst > 0)
    }

    @Test func exampleModelGeneratesWhatTransformersGenerates() throws {
        let expected = try Self.expected()["tiny-pythia"]!
        let model = try DecoderModel(directory: Self.exampleDirectory)
        #expect(try model.greedyContinuation(of: expected.prompt!, maxNewTokens: expected.generated!.count) == expected.generated!)
    }

    @Test func aGPT2CheckpointLoadsWithItsConv1DWeightsTransposed() throws {
        let directory = Self.directory("gpt2")
        let model = try DecoderModel(directory: directory)
        let stored = try SafeTensorsFile(url: directory.appendingPathComponent("model.safetensors"))
        let name = "transformer.h.0.attn.c_attn.weight"
        let onDisk = try stored.floats(name), shape = try stored.require(name).shape   // [in, out]
        let held = model.parameters.pointer(name)                                      // [out, in]
        #expect(model.parameters.entry(name)!.shape == [shape[1], shape[0]])
        var mismatches = 0
        for i in 0..<shape[0] { for o in 0..<shape[1] where held[o * shape[0] + i] != onDisk[i * shape[1] + o] { mismatches += 1 } }
        #expect(mismatches == 0)
    }

    @Test func nonFiniteWeightsAreRejected() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.copyItem(at: Self.exampleDirectory.appendingPathComponent("config.json"),
                                         to: directory.appendingPathComponent("config.json"))
        let source = try SafeTensorsFile(url: Self.exampleDirectory.appendingPathComponent("model.safetensors"))
        var writer = SafeTensorsWriter()
        for tensor in source.tensors {
            var values = try source.floats(tensor.name)
            if tensor.name == "gpt_neox.layers.1.mlp.dense_4h_to_h.weight" { values[3] = .nan }
            writer.add(tensor.name, shape: tensor.shape, floats: values)
        }
        try writer.write(to: directory.appendingPathComponent("model.safetensors"))
        #expect {
            try DecoderModel(directory: directory)
        } throws: { error in
            "\(error)".contains("gpt_neox.layers.1.mlp.dense_4h_to_h.weight") && "\(error)".contains("non-finite")
        }
    }
}
