import Checkpoints
import Curvature
import Foundation
import Influence
import Models
import Numerics
import Testing
import TestSupport

@Suite struct ScoringTests {
    /// (c) GDP scores equal the dot products of PyTorch's gradients (fixture written by
    /// Tools/reference/make_gdp_fixture.py).
    @Test func gradientDotProductsMatchPyTorch() throws {
        let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("gdp")
        let model = try DecoderModel(directory: directory)
        let reference = try SafeTensorsFile(url: directory.appendingPathComponent("reference.safetensors"))
        func sequences(_ prefix: String) throws -> [[Int]] {
            let tokens = try reference.integers("\(prefix)_tokens"), lengths = try reference.integers("\(prefix)_lengths")
            let width = try reference.require("\(prefix)_tokens").shape[1]
            return lengths.enumerated().map { Array(tokens[($0 * width)..<($0 * width + $1)]) }
        }
        let prompts = try reference.integers("query_prompt_lengths")
        let queries = try sequences("query").enumerated().map { TokenizedExample(tokens: $1, promptLength: prompts[$0]) }
        let documents = try sequences("train").map { TokenizedExample(tokens: $0) }
        let layouts = model.moduleLayouts(.all, attentionBlocks: .fused, includeBias: false)
        let scorer = try InfluenceScorer(model: model, layouts: layouts, queries: queries, preconditioners: [])
        let (total, perModule) = try scorer.score(model: model, documents: documents)
        let expected = try reference.doubles("scores"), expectedModules = try reference.doubles("module_scores")
        let Q = queries.count, D = documents.count
        #expect(relativeError(total.flatMap { $0 }, expected) < 1e-4)
        for m in layouts.indices {
            let slice = Array(expectedModules[(m * Q * D)..<((m + 1) * Q * D)])
            #expect(relativeError(perModule[m].flatMap { $0 }, slice) < 1e-3, "module \(layouts[m].name)")
        }
    }

    /// (d) Each module's scores and their total against an independent dense computation:
    /// raw query and document gradients, queries preconditioned with each block's explicit
    /// curvature matrix solved in Float64, plain dot products summed over modules.
    @Test(arguments: [PreconditionerMethod.ekfac, .kfac])
    func scoresEqualDenseSolvesSummedOverModules(method: PreconditionerMethod) throws {
        let model = microModel()
        let factors = try fitFactors(model, randomExamples(count: 16, lengths: 3...10, vocabulary: 11, seed: 30), blocks: .perHead)
        let damping = 3e-3
        let preconditioner = method.preconditioner(factors: factors, damping: .absolute(damping))
        let queries = randomExamples(count: 3, lengths: 5...9, vocabulary: 11, seed: 31, promptLength: 3)
        let documents = randomExamples(count: 9, lengths: 2...12, vocabulary: 11, seed: 32)
        let scores = try InfluenceScorer(model: model, layouts: factors.layouts, queries: queries, preconditioners: [preconditioner], batchSize: 2)
            .score(model: model, documents: documents)
        let runner = GradientRunner(model: model, layouts: factors.layouts)
        let preconditioned = try runner.moduleGradients(of: queries).map { modules in
            modules.enumerated().map { m, g in denseInverseProduct(g.map(Double.init), factors, module: m, damping: damping, method: method) }
        }
        let expected = denseScores(preconditioned, try runner.moduleGradients(of: documents))
        expectScoresClose(scores.total, expected.total, tolerance: 2e-3, "total")
        for m in factors.layouts.indices {
            expectScoresClose(scores.perModule[m], expected.perModule[m], tolerance: 2e-3, factors.layouts[m].name)
        }
    }

    /// (d′) Scores do not depend on batch size or document order.
    @Test func scoresAreIndependentOfBatchingAndOrder() throws {
        let model = microModel()
        let fitting = randomExamples(count: 16, lengths: 3...10, vocabulary: 11, seed: 30)
        let factors = try fitFactors(model, fitting, blocks: .perHead)
        let preconditioner = EKFACPreconditioner(factors: factors, damping: .absolute(3e-3))
        let queries = randomExamples(count: 3, lengths: 5...9, vocabulary: 11, seed: 31, promptLength: 3)
        let documents = randomExamples(count: 9, lengths: 2...12, vocabulary: 11, seed: 32)
        let scorer = try InfluenceScorer(model: model, layouts: factors.layouts, queries: queries, preconditioners: [preconditioner], batchSize: 2)
        let all = try scorer.score(model: model, documents: documents)
        var oneByOne: [[Double]] = Array(repeating: [], count: queries.count)
        for document in documents {
            let single = try scorer.score(model: model, documents: [document]).total
            for q in queries.indices { oneByOne[q].append(single[q][0]) }
        }
        expectScoresClose(oneByOne, all.total, tolerance: 1e-5, "one by one")
        let order = [4, 0, 8, 2, 7, 1, 6, 3, 5]
        let shuffled = try scorer.score(model: model, documents: order.map { documents[$0] }).total
        expectScoresClose(shuffled, queries.indices.map { q in order.map { all.total[q][$0] } }, tolerance: 1e-5, "shuffled")
        // Queries are preconditioned the same however they are batched.
        let unbatched = try InfluenceScorer(model: model, layouts: factors.layouts, queries: queries, preconditioners: [preconditioner], batchSize: 1)
        expectScoresClose(try unbatched.score(model: model, documents: documents).total, all.total, tolerance: 1e-5, "unbatched queries")
    }

    @Test func topKKeepsTheBestInOrder() {
        var top = TopK(k: 3)
        for (i, s) in [0.5, -1, 3, 2, 2, 7, -4].enumerated() { top.insert(score: s, index: i) }
        #expect(top.sorted.map(\.index) == [5, 2, 3])
        #expect(top.sorted.map(\.score) == [7, 3, 2])
    }
}

@Suite struct LowRankTests {
    /// At full rank the low-rank path gives the exact scores; at lower rank it approximates them.
    @Test func lowRankQueriesReproduceExactScoresAtFullRank() throws {
        let model = microModel()
        let factors = try fitFactors(model, randomExamples(count: 10, lengths: 3...9, vocabulary: 11, seed: 50), blocks: .perHead)
        let preconditioner = EKFACPreconditioner(factors: factors, damping: .absolute(3e-3))
        let queries = randomExamples(count: 3, lengths: 5...9, vocabulary: 11, seed: 51, promptLength: 2)
        let documents = randomExamples(count: 6, lengths: 2...10, vocabulary: 11, seed: 52)
        let exact = try InfluenceScorer(model: model, layouts: factors.layouts, queries: queries, preconditioners: [preconditioner])
            .score(model: model, documents: documents)
        let full = try InfluenceScorer(model: model, layouts: factors.layouts, queries: queries, preconditioners: [preconditioner], queryRank: 12)
            .score(model: model, documents: documents)
        #expect(relativeError(full.total.flatMap { $0 }, exact.total.flatMap { $0 }) < 1e-4)
        for m in exact.perModule.indices {
            #expect(relativeError(full.perModule[m].flatMap { $0 }, exact.perModule[m].flatMap { $0 }) < 1e-4)
        }
        let rankOne = try InfluenceScorer(model: model, layouts: factors.layouts, queries: queries, preconditioners: [preconditioner], queryRank: 1)
            .score(model: model, documents: documents)
        let error = relativeError(rankOne.total.flatMap { $0 }, exact.total.flatMap { $0 })
        #expect(error > 1e-4 && error < 1, "rank-1 error \(error)")
    }
}

@Suite struct TokenContributionTests {
    @Test func tokenContributionsSumToTheScore() throws {
        let model = microModel()
        let factors = try fitFactors(model, randomExamples(count: 10, lengths: 3...9, vocabulary: 11, seed: 70), blocks: .perHead)
        let preconditioner = EKFACPreconditioner(factors: factors, damping: .absolute(3e-3))
        let queries = randomExamples(count: 2, lengths: 5...9, vocabulary: 11, seed: 71, promptLength: 2)
        let documents = randomExamples(count: 3, lengths: 4...10, vocabulary: 11, seed: 72)
        let scorer = try InfluenceScorer(model: model, layouts: factors.layouts, queries: queries, preconditioners: [preconditioner])
        let scores = try scorer.score(model: model, documents: documents).total
        let sums = try queries.indices.map { q in
            try documents.map { document in
                let contributions = try scorer.tokenContributions(model: model, document: document, query: q)
                #expect(contributions.count == document.tokens.count)
                return contributions.reduce(0, +)
            }
        }
        expectScoresClose(sums, scores, tolerance: 1e-4, "token contributions")
    }
}
