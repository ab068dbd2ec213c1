import Checkpoints
import Foundation
import Models
import Numerics
import Testing

/// Tiny Llama, Qwen2 and GPT-2 models written as GGUF the way llama.cpp's converter writes
/// them (q/k rows permuted for Llama, Conv1D transposed for GPT-2, tensors in F16, BF16,
/// Q8_0, Q4_0, Q4_1, Q5_0, Q5_1), compared with transformers' own GGUF loading
/// (Tools/reference/make_gguf_model_fixtures.py): dequantized weights, logits, loss, greedy
/// generation.
@Suite struct GGUFModelTests {
    static let fixtures = ["gguf-llama", "gguf-qwen2", "gguf-gpt2"]

    static func load(_ name: String) throws -> (DecoderModel, SafeTensorsFile, [[Int]]) {
        let directory = DecoderReferenceTests.fixture(name)
        let model = try GGUFCheckpoint(url: directory.appendingPathComponent("model.gguf")).model()
        let file = try SafeTensorsFile(url: directory.appendingPathComponent("reference.safetensors"))
        let tokens = try file.integers("tokens"), lengths = try file.integers("lengths")
        let width = try file.require("tokens").shape[1]
        return (model, file, lengths.enumerated().map { b, n in Array(tokens[(b * width)..<(b * width + n)]) })
    }

    @Test(arguments: fixtures)
    func dequantizedWeightsEqualTransformers(fixture: String) throws {
        let (model, file, _) = try Self.load(fixture)
        let names = file.names.filter { $0.hasPrefix("weight.") }
        #expect(!names.isEmpty)
        for key in names {
            let name = String(key.dropFirst("weight.".count))
            var expected = try file.floats(key)
            let entry = try #require(model.parameters.entry(name), "\(name)")
            if model.hyperparameters.names.isStoredTransposed(name) {
                let stored = expected
                stored.withUnsafeBufferPointer { transposeForTest($0.baseAddress!, rows: entry.shape[1], cols: entry.shape[0], into: &expected) }
            }
            let error = DecoderReferenceTests.relativeError(model.parameters.pointer(name), expected)
            #expect(error < 1e-6, "\(fixture): \(name) differs by \(error) relative")
        }
    }

    @Test(arguments: fixtures)
    func logitsLossAndGenerationEqualTransformers(fixture: String) throws {
        let (model, file, sequences) = try Self.load(fixture)
        let batch = TokenBatch(sequences: sequences)
        try model.validate(batch)
        let activations = DecoderActivations(hyperparameters: model.hyperparameters)
        model.forward(batch, activations)
        let logitError = DecoderReferenceTests.relativeError(activations.logits, try file.floats("logits"))
        #expect(logitError < 1e-4, "\(fixture): logits differ by \(logitError) relative")
        let loss = CrossEntropy.summed(logits: activations.logits, targets: .nextToken(batch),
                                       vocabularySize: model.hyperparameters.vocabularySize, logitGradients: nil)
        let expectedLoss = try file.doubles("loss")[0]
        #expect(abs(loss - expectedLoss) < 1e-4 * abs(expectedLoss), "\(fixture): loss \(loss) vs \(expectedLoss)")
        let generated = try model.greedyContinuation(of: Array(sequences[0].prefix(4)), maxNewTokens: 8)
        #expect(generated == (try file.integers("generated")))
    }
}
