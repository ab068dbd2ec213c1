import Curvature
import Foundation
import Influence
import Models
import Numerics
import Testing
import TestSupport

/// Fit and score on the other model families the tool reads, against exact expectations and
/// dense solves: BLOOM (ALiBi, embedding layer norm, tied head; the fixture is checked against
/// BloomForCausalLM in ModelsTests) and a GPT-NeoX sequence classifier (one label per sequence,
/// whose gradient reaches every row; checked against GPTNeoXForSequenceClassification in
/// TrainingTests).
@Suite struct FamilyInfluenceTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

    /// Fits per-head attention factors on copies of `fitting` (checking A, S and Λ of every
    /// block), then scores `queries` against `documents` and compares with dense Float64 solves
    /// of each block's explicit EK-FAC matrix.
    func fitAndScore(_ model: DecoderModel, fitting: [TokenizedExample], copies: Int, queries: [TokenizedExample],
                     documents: [TokenizedExample], modules: ModuleSelection = .attention,
                     sourceLocation: SourceLocation = #_sourceLocation) throws {
        let layouts = model.moduleLayouts(modules, attentionBlocks: .perHead, includeBias: false)
        let (factors, _) = try fitAgainstExactExpectations(model, layouts, fitting, copies: copies, sourceLocation: sourceLocation)
        let damping = 1e-3
        let scores = try InfluenceScorer(model: model, layouts: layouts, queries: queries,
                                         preconditioners: [EKFACPreconditioner(factors: factors, damping: .absolute(damping))])
            .score(model: model, documents: documents)
        let runner = GradientRunner(model: model, layouts: layouts)
        let preconditioned = try runner.moduleGradients(of: queries).map { modules in
            modules.enumerated().map { m, g in denseInverseProduct(g.map(Double.init), factors, module: m, damping: damping) }
        }
        let expected = denseScores(preconditioned, try runner.moduleGradients(of: documents))
        expectScoresClose(scores.total, expected.total, tolerance: 2e-3, "total", sourceLocation: sourceLocation)
        for m in layouts.indices {
            expectScoresClose(scores.perModule[m], expected.perModule[m], tolerance: 2e-3, layouts[m].name, sourceLocation: sourceLocation)
        }
    }

    @Test func bloomFitsAndScoresLikeTheDenseComputation() throws {
        let model = try DecoderModel(directory: Self.fixtures.appendingPathComponent("ModelsTests/Fixtures/bloom"))
        #expect(model.hyperparameters.family == .bloom && model.hyperparameters.tiedEmbeddings)
        let V = model.hyperparameters.vocabularySize
        try fitAndScore(model, fitting: [[5, 17, 40], [33, 2, 58]].map { TokenizedExample(tokens: $0) }, copies: 1500,
                        queries: randomExamples(count: 2, lengths: 5...8, vocabulary: V, seed: 80, promptLength: 3),
                        documents: randomExamples(count: 5, lengths: 3...9, vocabulary: V, seed: 81))
    }

    /// The Llama family's separate q/k/v projections with grouped-query attention (a block per
    /// query head in q_proj, per key/value head in k_proj and v_proj), its SwiGLU MLP, and
    /// GPT-2's fused [q | k | v] c_attn split by part and head.
    @Test(arguments: ["llama", "qwen2", "mistral", "gpt2"])
    func otherFamiliesFitAndScoreLikeTheDenseComputation(family: String) throws {
        let model = try DecoderModel(directory: Self.fixtures.appendingPathComponent("ModelsTests/Fixtures/" + family))
        let h = model.hyperparameters
        let layouts = model.moduleLayouts(.attention, attentionBlocks: .perHead, includeBias: false)
        // One block per head of every attention projection (GPT-2's c_attn: q, k and v heads).
        let expectedBlocks = h.qkvProjection == .separate ? h.headCount + 2 * h.keyValueHeadCount + 1 : 3 * h.headCount + 1
        let firstLayer = layouts.prefix(h.qkvProjection == .separate ? 4 : 2)
        #expect(firstLayer.map(\.blocks.count).reduce(0, +) == expectedBlocks)
        let V = h.vocabularySize
        try fitAndScore(model, fitting: [[5, 17, 30], [13, 2, 28]].map { TokenizedExample(tokens: $0) }, copies: 1500,
                        queries: randomExamples(count: 2, lengths: 5...8, vocabulary: V, seed: 85, promptLength: 3),
                        documents: randomExamples(count: 4, lengths: 3...9, vocabulary: V, seed: 86),
                        modules: family == "llama" ? .all : .attention)
    }

    @Test func classifierFitsAndScoresLikeTheDenseComputation() throws {
        let model = try DecoderModel(directory: Self.fixtures.appendingPathComponent("TrainingTests/Fixtures/classifier"))
        #expect(model.hyperparameters.classifierLabels == 3)
        let V = model.hyperparameters.vocabularySize
        try fitAndScore(model, fitting: labelledExamples(count: 4, lengths: 3...6, vocabulary: V, seed: 82), copies: 1500,
                        queries: labelledExamples(count: 2, lengths: 4...8, vocabulary: V, seed: 83),
                        documents: labelledExamples(count: 5, lengths: 3...9, vocabulary: V, seed: 84))
    }
}
