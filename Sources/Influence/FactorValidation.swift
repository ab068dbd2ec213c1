import Checkpoints
import Curvature
import Foundation
import Models
import Numerics

/// `influence validate`: how far an approximate preconditioner (EK-FAC's, by default) is from
/// exact influence with the same damping (CG on the exact Gauss–Newton products), on a sample
/// of queries and documents: per module the cosine between the two preconditioned query
/// gradients, per query the Spearman and Pearson correlation of the two methods' scores over
/// the documents, and a one-line verdict.
public struct FactorValidation {
    public struct ModuleAgreement: Sendable, Codable {
        public let module: String
        /// Mean over queries of cos(P_approx ∇f, P_exact ∇f) on this module's weights.
        public let cosine: Double
    }

    public struct Report: Sendable, Codable {
        public let queries: Int
        public let documents: Int
        public let damping: Double
        /// Per query: Spearman and Pearson of the approximate against the exact scores.
        public let spearman: [Double]
        public let pearson: [Double]
        /// Every module, worst agreement first.
        public let modules: [ModuleAgreement]
        public let verdict: String

        public var meanSpearman: Double { spearman.reduce(0, +) / Double(max(spearman.count, 1)) }
        public var meanPearson: Double { pearson.reduce(0, +) / Double(max(pearson.count, 1)) }
    }

    /// Compares `approximate` with `exact` (both over `layouts`) on `queries` against `documents`.
    public static func compare(model: DecoderModel, layouts: [ModuleLayout], approximate: Preconditioner, exact: Preconditioner,
                               queries: [TokenizedExample], documents: [TokenizedExample], damping: Double,
                               batchSize: Int = 8) throws -> Report {
        let runner = GradientRunner(model: model, layouts: layouts)
        var queryGradients: [[[Float]]] = []
        for start in stride(from: 0, to: queries.count, by: batchSize) {
            queryGradients += try runner.moduleGradients(of: Array(queries[start..<min(start + batchSize, queries.count)]))
        }
        func preconditioned(_ gradient: [[Float]], _ preconditioner: Preconditioner) throws -> [[Float]] {
            var copy = gradient
            try withMutablePointers(&copy) { try preconditioner.apply(toAll: $0) }
            return copy
        }
        let approximated = try queryGradients.map { try preconditioned($0, approximate) }
        let solved = try queryGradients.map { try preconditioned($0, exact) }
        var cosines = [Double](repeating: 0, count: layouts.count)
        for (a, b) in zip(approximated, solved) {
            for m in layouts.indices { cosines[m] += cosine(a[m], b[m]) / Double(queries.count) }
        }
        var documentGradients: [[[Float]]] = []
        for start in stride(from: 0, to: documents.count, by: batchSize) {
            documentGradients += try runner.moduleGradients(of: Array(documents[start..<min(start + batchSize, documents.count)]))
        }
        func scores(_ query: [[Float]]) -> [Double] {
            documentGradients.map { document in zip(query, document).reduce(0.0) { $0 + dot($1.0, $1.1) } }
        }
        var spearman: [Double] = [], pearson: [Double] = []
        for (a, b) in zip(approximated, solved) {
            let x = scores(a), y = scores(b)
            spearman.append(Correlation.spearman(x, y))
            pearson.append(Correlation.pearson(x, y))
        }
        let modules = zip(layouts, cosines).map { ModuleAgreement(module: $0.name, cosine: $1) }.sorted { $0.cosine < $1.cosine }
        let mean = spearman.reduce(0, +) / Double(max(spearman.count, 1))
        return Report(queries: queries.count, documents: documents.count, damping: damping, spearman: spearman, pearson: pearson,
                      modules: modules, verdict: verdict(meanSpearman: mean, worst: modules.first))
    }

    /// The one-line verdict from the mean Spearman correlation.
    static func verdict(meanSpearman: Double, worst: ModuleAgreement?) -> String {
        let rho = String(format: "%.2f", meanSpearman)
        let module = worst.map { String(format: "; least aligned module %@ (cosine %.2f)", $0.module, $0.cosine) } ?? ""
        if meanSpearman.isNaN { return "undetermined: the scores are constant on this sample" + module }
        if meanSpearman >= 0.9 { return "good: the rankings agree with exact influence (Spearman \(rho))" + module }
        if meanSpearman >= 0.6 {
            return "fair: the rankings roughly agree with exact influence (Spearman \(rho)); trust the top of a ranking, not its order" + module
        }
        return "poor: the rankings disagree with exact influence (Spearman \(rho)); raise the damping, fit on more data, or score with --method cg" + module
    }

    private static func dot(_ a: [Float], _ b: [Float]) -> Double {
        var total = 0.0
        for i in a.indices { total += Double(a[i]) * Double(b[i]) }
        return total
    }

    private static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        let denominator = (dot(a, a) * dot(b, b)).squareRoot()
        return denominator > 0 ? dot(a, b) / denominator : .nan
    }

    private static func withMutablePointers<R>(_ arrays: inout [[Float]], _ body: ([UnsafeMutablePointer<Float>]) throws -> R) throws -> R {
        func step(_ i: Int, _ collected: [UnsafeMutablePointer<Float>], _ arrays: inout [[Float]]) throws -> R {
            if i == arrays.count { return try body(collected) }
            var current = arrays[i]
            defer { arrays[i] = current }
            return try current.withUnsafeMutableBufferPointer { try step(i + 1, collected + [$0.baseAddress!], &arrays) }
        }
        return try step(0, [], &arrays)
    }
}
