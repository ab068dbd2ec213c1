import Checkpoints
import Curvature
import Foundation
import Influence
import Models
import Numerics
import Testing
import TestSupport

/// What the scorer refuses and what its collector keeps.
@Suite struct ScorerCheckTests {
    /// Two stages fitted with and without bias columns have the same module names but other
    /// widths; scoring with both must be refused before any product runs past a buffer.
    @Test func stagesWithDifferentBiasColumnsAreRefused() throws {
        let model = microModel()
        let fitting = randomExamples(count: 8, lengths: 3...9, vocabulary: 11, seed: 40)
        let withBias = try fitFactors(model, fitting, blocks: .perHead, bias: true)
        let without = try fitFactors(model, fitting, blocks: .perHead, bias: false)
        #expect(withBias.layouts.map(\.name) == without.layouts.map(\.name))
        let queries = randomExamples(count: 2, lengths: 5...8, vocabulary: 11, seed: 41, promptLength: 2)
        let preconditioners = [EKFACPreconditioner(factors: withBias, damping: .automatic),
                               EKFACPreconditioner(factors: without, damping: .automatic)]
        #expect(throws: InputError.self) {
            try InfluenceScorer(model: model, layouts: withBias.layouts, queries: queries, preconditioners: preconditioners)
        }
        #expect(throws: CheckpointError.self) {
            try FactorCompatibility.checkSameLayouts(withBias.layouts, without.layouts, firstName: "ft", secondName: "pt")
        }
        try FactorCompatibility.checkSameLayouts(withBias.layouts, withBias.layouts, firstName: "ft", secondName: "pt")
    }

    /// With top-k, per-module contributions are kept for the kept entries only, and they equal
    /// the full matrix's; a non-finite score is an error naming its query and document.
    @Test func topKKeepsPerModuleValuesOnlyForKeptEntries() throws {
        let Q = 3, D = 200, M = 4, k = 5
        var rng = RandomGenerator(seed: 7)
        let perModule = (0..<M).map { _ in (0..<Q).map { _ in (0..<D).map { _ in rng.nextNormal() } } }
        let total = (0..<Q).map { q in (0..<D).map { d in perModule.reduce(0.0) { $0 + $1[q][d] } } }
        let queryIDs = (0..<Q).map { "q\($0)" }, documentIDs = (0..<D).map { "d\($0)" }
        var full = ScoreCollector(queryIDs: queryIDs, documentIDs: documentIDs, moduleCount: M, topK: nil, keepsModules: true)
        var best = ScoreCollector(queryIDs: queryIDs, documentIDs: documentIDs, moduleCount: M, topK: k, keepsModules: true)
        for start in stride(from: 0, to: D, by: 8) {
            let end = min(start + 8, D)
            let slice = total.map { Array($0[start..<end]) }, moduleSlice = perModule.map { $0.map { Array($0[start..<end]) } }
            try full.add(first: start, total: slice, perModule: moduleSlice)
            try best.add(first: start, total: slice, perModule: moduleSlice)
            #expect(best.heldModuleValues <= Q * k * M)
        }
        #expect(full.scores == total)
        for q in 0..<Q {
            let expected = (0..<D).sorted { total[q][$0] > total[q][$1] }.prefix(k)
            let kept = best.best![q].sorted
            #expect(kept.map(\.index) == Array(expected))
            for item in kept { #expect(item.details! == (0..<M).map { perModule[$0][q][item.index] }) }
        }
        var collector = ScoreCollector(queryIDs: ["a", "b"], documentIDs: ["x", "y"], moduleCount: 1, topK: 1, keepsModules: false)
        do {
            try collector.add(first: 0, total: [[1, 2], [3, .nan]], perModule: [[[1, 2], [3, .nan]]])
            Issue.record("a NaN score was accepted")
        } catch let error as NonFiniteScoreError {
            #expect(error.query == "b" && error.document == "y")
        }
    }
}
