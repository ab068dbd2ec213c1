import Checkpoints
import Foundation
import Models
import Numerics
import Testing

/// BF16/F16 matrices kept 16-bit in memory (`WeightPrecision.stored`): the same model as the
/// Float32 load in half the matrix memory, giving the same logits and gradients (the head's
/// blocks change only the order of one sum in the backward pass).
@Suite struct SixteenBitWeightTests {
    static let bf16Fixtures = ["llama", "qwen2", "mistral", "gpt2"]

    func pass(_ model: DecoderModel, _ batch: TokenBatch, blockRows: Int? = nil) -> (logits: [Float], gradients: ParameterStore) {
        let activations = DecoderActivations(hyperparameters: model.hyperparameters)
        model.forward(batch, activations)
        let n = batch.tokenCount * model.hyperparameters.vocabularySize
        let logits = Array(UnsafeBufferPointer(start: activations.logits, count: n))
        CrossEntropy.summed(logits: activations.logits, targets: .nextToken(batch), vocabularySize: model.hyperparameters.vocabularySize,
                            logitGradients: activations.logitGradients)
        let gradients = model.parameters.makeZeroedLike()
        model.backward(batch, activations, gradients: gradients)
        return (logits, gradients)
    }

    @Test(arguments: bf16Fixtures)
    func sixteenBitMatricesGiveTheFloat32Results(fixture: String) throws {
        let directory = DecoderReferenceTests.fixture(fixture)
        let full = try DecoderModel(directory: directory), half = try DecoderModel(directory: directory, precision: .stored)
        // Every matrix is held in BF16, every 1-D parameter in Float32.
        for entry in half.parameters.entries {
            #expect(entry.precision == (entry.shape.count == 2 ? .bfloat16 : .float32), "\(entry.name)")
        }
        #expect(full.parameters.isAllFloat32 && !half.parameters.isAllFloat32)
        #expect(Double(half.weightBytes) < 0.6 * Double(full.weightBytes), "\(half.weightBytes) of \(full.weightBytes) bytes")
        #expect(half.fingerprint == full.fingerprint)

        let reference = try DecoderReferenceTests.Reference(fixture)
        let batch = TokenBatch(sequences: reference.sequences)
        let a = pass(full, batch), b = pass(half, batch)
        #expect(a.logits == b.logits, "forward passes differ")
        for entry in a.gradients.entries {
            let x = UnsafeBufferPointer(start: a.gradients.values + entry.offset, count: entry.count)
            let y = UnsafeBufferPointer(start: b.gradients.values + entry.offset, count: entry.count)
            let scale = x.map(abs).max() ?? 0
            let worst = zip(x, y).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-5 * max(scale, 1e-30), "\(entry.name): \(worst) of \(scale)")
        }
    }

    /// A head widened a few rows at a time gives the one-block result.
    @Test func theHeadInBlocksEqualsTheWholeHead() throws {
        let directory = DecoderReferenceTests.fixture("llama")
        let full = try DecoderModel(directory: directory)
        let h = full.hyperparameters
        // Only the head in 16-bit, widened a few rows at a time.
        let head = h.tiedEmbeddings ? h.names.embedding : h.names.unembedding
        let layout = DecoderModel.parameterLayout(h)
        let store = ParameterStore(layout: layout, reducedPrecision: [head: .bfloat16])
        for entry in store.entries {
            let source = full.parameters.entry(entry.name)!
            store.store(full.parameters.values + source.offset, into: entry)
        }
        let blocked = DecoderModel(hyperparameters: h, parameters: store)
        #expect(blocked.headBlockRows == h.vocabularySize)
        blocked.headBlockRows = 5   // 32 rows: six blocks of 5 and one of 2
        #expect(blocked.weightScratchFloats == 5 * h.hiddenSize)
        let reference = try DecoderReferenceTests.Reference("llama")
        let batch = TokenBatch(sequences: reference.sequences)
        let a = pass(full, batch), b = pass(blocked, batch)
        // Narrower products round their last bits differently (OpenBLAS's edge kernels).
        let logitScale = a.logits.map(abs).max()!
        #expect(zip(a.logits, b.logits).allSatisfy { abs($0 - $1) <= 1e-6 * logitScale })
        for entry in a.gradients.entries {
            let x = UnsafeBufferPointer(start: a.gradients.values + entry.offset, count: entry.count)
            let y = UnsafeBufferPointer(start: b.gradients.values + entry.offset, count: entry.count)
            let scale = x.map(abs).max() ?? 0
            #expect(zip(x, y).allSatisfy { abs($0 - $1) <= 1e-5 * max(scale, 1e-30) }, "\(entry.name)")
        }
    }

    @Test func aFloat32CheckpointStaysFloat32() throws {
        let model = try DecoderModel(directory: DecoderReferenceTests.fixture("gpt_neox/parallel-rotary25"), precision: .stored)
        #expect(model.parameters.isAllFloat32 && model.weightScratchFloats == 0)
    }
}
