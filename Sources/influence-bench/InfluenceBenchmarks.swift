import ArgumentParser
import Curvature
import Influence
import Models
import Numerics

struct InfluenceBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "influence", abstract: "EK-FAC fitting and scoring throughput.")

    func run() throws { try benchmarkInfluence() }
}

/// EK-FAC fitting (both passes) and scoring throughput on a 70m-sized model with random
/// weights: tokens per second of each pass, and training documents scored per second.
func benchmarkInfluence() throws {
    let h = DecoderHyperparameters(vocabularySize: 50_304, hiddenSize: 512, headCount: 8, intermediateSize: 2048,
                                   layerCount: 6, maxPositions: 2048)
    let model = DecoderModel(hyperparameters: h, seed: 1)
    var rng = RandomGenerator(seed: 3)
    func examples(_ count: Int, length: Int, prompt: Int = 0) -> [TokenizedExample] {
        (0..<count).map { _ in TokenizedExample(tokens: (0..<length).map { _ in rng.nextInt(below: h.vocabularySize) }, promptLength: prompt) }
    }
    let fitting = examples(16, length: 256)
    print("EK-FAC on a 70m-sized GPT-NeoX (random weights), 16 sequences × 256 tokens, batch 8")
    for blocks in [AttentionBlocks.perHead, .fused] {
        let layouts = model.moduleLayouts(.all, attentionBlocks: blocks, includeBias: false)
        let fitter = FactorFitter(model: model, layouts: layouts, batchSize: 8, seed: 1)
        var covariances: CovarianceAccumulator!
        let pass1 = try bestTime(repetitions: 1) { covariances = try fitter.accumulateCovariances(fitting) }
        var bases: [ModuleEigenbasis] = []
        let eigen = try bestTime(repetitions: 1) { bases = try FactorFitter.eigenbases(covariances) }
        var factors: EKFACFactors!
        let pass2 = try bestTime(repetitions: 1) { factors = try fitter.correctEigenvalues(fitting, eigenbases: bases, covariances: covariances) }
        let tokens = Double(16 * 256)
        print(pad("  fit, \(blocks.rawValue) blocks", 30) + String(format: "pass 1 %.0f tok/s, eigendecomposition %.2f s, pass 2 %.0f tok/s; total %.1f s",
                                                            tokens / pass1, eigen, tokens / pass2, pass1 + eigen + pass2))
        guard blocks == .perHead else { continue }
        let preconditioner = EKFACPreconditioner(factors: factors, damping: .automatic)
        let queries = examples(8, length: 64, prompt: 32)
        let documents = examples(32, length: 256)
        for rank: Int? in [nil, 32] {
            var scorer: InfluenceScorer!
            let prepare = try bestTime(repetitions: 1) {
                scorer = try InfluenceScorer(model: model, layouts: layouts, queries: queries, preconditioners: [preconditioner], queryRank: rank)
            }
            let runner = GradientRunner(model: model, layouts: layouts)
            let scoring = try bestTime(repetitions: 1) {
                for start in stride(from: 0, to: documents.count, by: 8) {
                    _ = try scorer.score(model: model, documents: Array(documents[start..<(start + 8)]), runner: runner)
                }
            }
            print(pad("  score, query rank \(rank.map(String.init) ?? "full")", 30)
                  + String(format: "8 queries prepared in %.2f s; %.1f documents/s (256 tokens each) against all 8; 32 documents in %.1f s all told",
                           prepare, Double(documents.count) / scoring, prepare + scoring))
        }
    }
}
