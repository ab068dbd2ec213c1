import Curvature
import Foundation
import Influence
import Models
import Testing
import TestSupport

/// `FactorValidation`: a preconditioner compared with itself agrees perfectly (cosine 1 on every
/// module, Spearman 1, "good"); EK-FAC against CG gives correlations and cosines in range, and
/// the verdict follows the mean Spearman.
@Suite struct FactorValidationTests {
    @Test func aPreconditionerAgreesWithItself() throws {
        let model = microModel()
        let fitting = randomExamples(count: 6, lengths: 4...8, vocabulary: 11, seed: 40)
        let factors = try fitFactors(model, fitting, blocks: .fused)
        let layouts = factors.layouts
        let product = try GaussNewtonProduct(model: model, layouts: layouts, examples: fitting, batchSize: 3)
        let cg = try ConjugateGradientPreconditioner(product: product, damping: 0.1, tolerance: 1e-6)
        let queries = randomExamples(count: 2, lengths: 4...6, vocabulary: 11, seed: 41)
        let documents = randomExamples(count: 12, lengths: 3...7, vocabulary: 11, seed: 42)
        let same = try FactorValidation.compare(model: model, layouts: layouts, approximate: cg, exact: cg, queries: queries,
                                                documents: documents, damping: 0.1)
        #expect(same.modules.allSatisfy { abs($0.cosine - 1) < 1e-9 } && same.spearman.allSatisfy { abs($0 - 1) < 1e-12 })
        #expect(same.verdict.hasPrefix("good:"), "\(same.verdict)")

        let ekfac = PreconditionerMethod.ekfac.preconditioner(factors: factors, damping: .absolute(0.1))
        let report = try FactorValidation.compare(model: model, layouts: layouts, approximate: ekfac, exact: cg, queries: queries,
                                                  documents: documents, damping: 0.1)
        #expect(report.spearman.count == 2 && report.modules.count == layouts.count)
        #expect((report.spearman + report.pearson + report.modules.map(\.cosine)).allSatisfy { $0 >= -1 - 1e-12 && $0 <= 1 + 1e-12 })
        #expect(zip(report.modules, report.modules.dropFirst()).allSatisfy { $0.cosine <= $1.cosine })
        let expectedStart = report.meanSpearman >= 0.9 ? "good:" : report.meanSpearman >= 0.6 ? "fair:" : "poor:"
        #expect(report.verdict.hasPrefix(expectedStart), "\(report.verdict)")
    }
}
