import Checkpoints
import Foundation
import Models
import Numerics
import Testing

/// Compares the Swift GPT-NeoX with transformers' GPTNeoXForCausalLM on fixtures written by
/// Tools/reference/make_gpt_neox_fixtures.py: a right-padded batch of three sequences of
/// different lengths (the Swift side packs them), in a parallel-residual model with 25 %
/// rotary dimensions and a sequential one with full rotary and no attention biases.
@Suite struct DecoderReferenceTests {
    /// Two GPT-NeoX configurations, and BLOOM (ALiBi with 6 heads, embedding layer norm, tied head).
    static let configurations = ["gpt_neox/parallel-rotary25", "gpt_neox/sequential-rotary100", "bloom", "llama", "qwen2", "mistral", "gpt2"]

    static func fixture(_ name: String) -> URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent(name)
    }

    /// max |a − b| / max |b|: the error relative to the tensor's scale.
    static func relativeError(_ a: UnsafePointer<Float>, _ b: [Float]) -> Double {
        var difference = 0.0, scale = 0.0
        for i in b.indices {
            difference = max(difference, Double(abs(a[i] - b[i])))
            scale = max(scale, Double(abs(b[i])))
        }
        return difference / max(scale, 1e-30)
    }

    struct Reference {
        let model: DecoderModel
        let file: SafeTensorsFile
        let sequences: [[Int]]

        init(_ name: String, precision: WeightPrecision = .float32) throws {
            let directory = DecoderReferenceTests.fixture(name)
            model = try DecoderModel(directory: directory, precision: precision)
            file = try SafeTensorsFile(url: directory.appendingPathComponent("reference.safetensors"))
            let tokens = try file.integers("tokens"), lengths = try file.integers("lengths")
            let width = try file.require("tokens").shape[1]
            sequences = lengths.enumerated().map { b, n in Array(tokens[(b * width)..<(b * width + n)]) }
        }
    }

    /// Both ways of holding the weights: Float32, and BF16 matrices kept 16-bit (llama, qwen2,
    /// mistral and gpt2 are stored BF16), same tolerances.
    static let precisions: [WeightPrecision] = [.float32, .stored]

    @Test(arguments: configurations, precisions)
    func logitsAndLossMatchTransformers(configuration: String, precision: WeightPrecision) throws {
        let reference = try Reference(configuration, precision: precision)
        let model = reference.model
        let batch = TokenBatch(sequences: reference.sequences)
        try model.validate(batch)
        let activations = DecoderActivations(hyperparameters: model.hyperparameters)
        model.forward(batch, activations)
        let expectedLogits = try reference.file.floats("logits")
        #expect(expectedLogits.count == batch.tokenCount * model.hyperparameters.vocabularySize)
        let logitError = Self.relativeError(activations.logits, expectedLogits)
        #expect(logitError < 1e-4, "logits differ by \(logitError) relative")

        let loss = CrossEntropy.summed(logits: activations.logits, targets: .nextToken(batch),
                                       vocabularySize: model.hyperparameters.vocabularySize,
                                       logitGradients: activations.logitGradients)
        let expectedLoss = try reference.file.doubles("loss")[0]
        #expect(abs(loss - expectedLoss) < 1e-4 * abs(expectedLoss), "loss \(loss) vs \(expectedLoss)")
    }

    @Test(arguments: configurations, precisions)
    func everyParameterGradientMatchesTransformers(configuration: String, precision: WeightPrecision) throws {
        let reference = try Reference(configuration, precision: precision)
        let model = reference.model
        let batch = TokenBatch(sequences: reference.sequences)
        let activations = DecoderActivations(hyperparameters: model.hyperparameters)
        model.forward(batch, activations)
        CrossEntropy.summed(logits: activations.logits, targets: .nextToken(batch),
                            vocabularySize: model.hyperparameters.vocabularySize, logitGradients: activations.logitGradients)
        let gradients = model.parameters.makeZeroedLike()
        model.backward(batch, activations, gradients: gradients)
        var compared = 0
        for entry in gradients.entries {
            var expected = try reference.file.floats("grad." + entry.name)
            #expect(expected.count == entry.count)
            if model.hyperparameters.names.isStoredTransposed(entry.name) {
                // transformers' Conv1D gradient is [in, out]; the decoder's weight is [out, in].
                let stored = expected
                stored.withUnsafeBufferPointer { transposeForTest($0.baseAddress!, rows: entry.shape[1], cols: entry.shape[0], into: &expected) }
            }
            let error = Self.relativeError(gradients.values + entry.offset, expected)
            #expect(error < 1e-3, "gradient of \(entry.name) differs by \(error) relative")
            compared += 1
        }
        // Every parameter transformers has was compared.
        let fixtureGradients = reference.file.names.filter { $0.hasPrefix("grad.") }.count
        #expect(compared == fixtureGradients)
    }

    @Test(arguments: configurations)
    func greedyGenerationMatchesTransformers(configuration: String) throws {
        let reference = try Reference(configuration)
        let prompt = Array(reference.sequences[0].prefix(4))
        let generated = try reference.model.greedyContinuation(of: prompt, maxNewTokens: 8)
        #expect(generated == (try reference.file.integers("generated")))
    }

    @Test func tokenLogProbabilitiesAreTheNegativeLoss() throws {
        let reference = try Reference("gpt_neox/parallel-rotary25")
        let logProbabilities = try reference.model.tokenLogProbabilities(reference.sequences)
        #expect(logProbabilities.map(\.count) == reference.sequences.map { $0.count - 1 })
        let total = logProbabilities.joined().reduce(0.0) { $0 - Double($1) }
        let expectedLoss = try reference.file.doubles("loss")[0]
        #expect(abs(total - expectedLoss) < 1e-4 * expectedLoss)
    }
}

/// out[c, r] = in[r, c].
func transposeForTest(_ input: UnsafePointer<Float>, rows: Int, cols: Int, into output: inout [Float]) {
    for r in 0..<rows { for c in 0..<cols { output[c * rows + r] = input[r * cols + c] } }
}
