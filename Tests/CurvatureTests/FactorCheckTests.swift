import Checkpoints
import Curvature
import Foundation
import Models
import Numerics
import Testing
import TestSupport

@Suite struct FactorCheckTests {
    /// Factors whose manifest says one thing and whose layouts another, or that belong to
    /// another model, are refused by the one check every command calls.
    @Test func factorsMustMatchTheModelModuleByModule() throws {
        let model = microModel()
        let fitting = randomExamples(count: 8, lengths: 3...9, vocabulary: 11, seed: 42)
        let factors = try fitFactors(model, fitting, blocks: .perHead, bias: true)
        func manifest(bias: Bool, blocks: AttentionBlocks, fingerprint: String) -> FactorManifest {
            let options = FactorManifest.Options(modules: .all, attentionBlocks: blocks, includeBias: bias, maxSequences: nil,
                                                 sequenceLength: 16, batchSize: 4, seed: 5, data: "fit.jsonl", dataFingerprint: "0")
            return FactorManifest(toolVersion: "test", modelType: "gpt_neox", modelPath: "micro", modelFingerprint: fingerprint,
                                  options: options, passesCompleted: 2, covarianceTokens: 1, covarianceSequences: 1,
                                  correctionSequences: 1, modules: factors.layouts)
        }
        let directory = URL(fileURLWithPath: "/tmp/factors")
        try FactorCompatibility.check(manifest(bias: true, blocks: .perHead, fingerprint: model.fingerprint), factors, model: model,
                                      modelPath: "micro", directory: directory)
        for wrong in [manifest(bias: false, blocks: .perHead, fingerprint: model.fingerprint),
                      manifest(bias: true, blocks: .fused, fingerprint: model.fingerprint),
                      manifest(bias: true, blocks: .perHead, fingerprint: microModel(seed: 99).fingerprint)] {
            #expect(throws: CheckpointError.self) {
                try FactorCompatibility.check(wrong, factors, model: model, modelPath: "micro", directory: directory)
            }
        }
        // A model of another width with the same weights' fingerprint cannot happen, but a layout
        // whose module is wider than the model's must still be caught.
        let wide = DecoderModel(hyperparameters: DecoderHyperparameters(
            vocabularySize: 11, hiddenSize: 12, headCount: 2, intermediateSize: 12, layerCount: 2, maxPositions: 16,
            rotaryFraction: 0.5, parallelResidual: true, activation: .exact, attentionBias: true), seed: 1)
        #expect(throws: CheckpointError.self) {
            try FactorCompatibility.check(manifest(bias: true, blocks: .perHead, fingerprint: wide.fingerprint), factors, model: wide,
                                          modelPath: "wide", directory: directory)
        }
    }

    @Test func dampingIsPositiveAndRelativeDampingIsWrittenWithAnX() {
        #expect(Damping("auto") == .automatic)
        #expect(Damping("1e-4") == .absolute(1e-4))
        #expect(Damping("0.001x") == .relative(0.001))
        #expect(Damping("0.001x")?.description == "0.001x")
        for bad in ["0", "-1", "-0.5x", "0x", "nan", "inf", "1e999", "x", "", "auto2"] {
            #expect(Damping(bad) == nil, "\(bad)")
        }
    }

    /// Relative damping: by default λ = c × the mean Λ over the whole module (all its blocks);
    /// with block scope, each block's own mean.
    @Test func relativeDampingIsPerModuleByDefault() throws {
        let model = microModel()
        let factors = try fitFactors(model, randomExamples(count: 10, lengths: 3...9, vocabulary: 11, seed: 43), blocks: .perHead)
        let perModule = EKFACPreconditioner(factors: factors, damping: .relative(0.01))
        let perBlock = EKFACPreconditioner(factors: factors, damping: .relative(0.01), scope: .block)
        let automatic = EKFACPreconditioner(factors: factors, damping: .automatic)
        for (m, layout) in factors.layouts.enumerated() {
            let all = factors.correctedEigenvalues[m].flatMap { $0.map(Double.init) }
            let moduleMean = all.reduce(0, +) / Double(all.count)
            for b in layout.blocks.indices {
                let block = factors.correctedEigenvalues[m][b].map(Double.init)
                let blockMean = block.reduce(0, +) / Double(block.count)
                #expect(abs(perModule.dampingValues[m][b] - 0.01 * moduleMean) <= 1e-12 * moduleMean)
                #expect(abs(perBlock.dampingValues[m][b] - 0.01 * blockMean) <= 1e-12 * max(blockMean, 1e-30))
                #expect(abs(automatic.dampingValues[m][b] - 0.1 * moduleMean) <= 1e-12 * moduleMean)
            }
        }
        // Q/K blocks have smaller Λ than V: block scope damps them less, module scope does not.
        let qkv = factors.layouts.firstIndex { $0.name.hasSuffix("query_key_value") }!
        #expect(Set(perModule.dampingValues[qkv]).count == 1)
        #expect(Set(perBlock.dampingValues[qkv]).count > 1)
    }
}
