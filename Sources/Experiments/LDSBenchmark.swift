import Checkpoints
import Curvature
import Foundation
import Models
import Numerics

/// The linear datamodeling score (Park et al. 2023), the field's standard ground truth: train
/// models on random α-fractions S_j of the training set, measure each query's loss under each,
/// and ask whether a method's summed attribution Σ_{i∈S_j} τ(q, i) predicts it. LDS(q) is the
/// Spearman correlation over the subsets between the summed attribution and −loss (a positive
/// score says a document lowers the query's loss), averaged over the queries.
///
/// The model, data and factors are the scalability benchmark's stages (`ScalabilityBenchmark`),
/// with every training document scored (the attribution covers the whole training set).
public final class LDSBenchmark {
    public struct Options: Sendable {
        /// The model, its data and the methods' settings; every training document is scored.
        public var base: ScalabilityBenchmark.Options
        public var subsets = 32
        public var fraction = 0.5
        /// Models trained per subset (different seeds), their losses averaged.
        public var seedsPerSubset = 2

        public init() {
            base = ScalabilityBenchmark.Options()
            base.trainingDocuments = 2000
            base.methods = [.ekfac, .ekfacMLP, .kfac, .gdp, .cka, .trak]
        }

        /// Under a minute.
        public static var quick: Options {
            var o = Options()
            o.base = .quick
            o.base.methods = [.ekfac, .kfac, .gdp, .cka, .cg]
            o.subsets = 8
            o.seedsPerSubset = 1
            return o
        }
    }

    public struct MethodResult: Sendable, Codable, Equatable {
        public let method: String
        public let title: String
        public let ldsMean: Double
        public let ldsStd: Double
        public let note: String
    }

    public struct Report: Sendable, Codable {
        public let trainingDocuments: Int
        public let queries: Int
        public let subsets: Int
        public let fraction: Double
        public let seedsPerSubset: Int
        public let damping: Double
        /// Mean over subsets and queries of the subset models' query loss, and of its spread
        /// across the subsets (how much there is for a method to predict).
        public let meanQueryLoss: Double
        public let queryLossSpread: Double
        public let results: [MethodResult]
        public let seconds: Double
    }

    public let options: Options
    public let directory: URL
    let log: (String) -> Void

    public init(options: Options, directory: URL, log: @escaping (String) -> Void) {
        self.options = options
        self.directory = directory
        self.log = log
    }

    public func run() throws -> Report {
        let start = Date()
        let o = options
        guard o.fraction > 0 && o.fraction < 1 else { throw InputError("bench lds: --fraction \(o.fraction): expected a number strictly between 0 and 1") }
        guard o.subsets >= 3 else { throw InputError("bench lds: --subsets \(o.subsets): a rank correlation over subsets needs at least 3") }
        var base = o.base
        // Every training document is scored; the curvature data are training documents too.
        base.candidates = max(0, base.trainingDocuments - base.curvatureSequences)
        let stages = ScalabilityBenchmark(options: base, directory: directory, log: log)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let data = try stages.prepareData()
        _ = try stages.trainModel(data)
        let fits = try stages.fitFactors()
        let methods = ScalabilityBenchmark.Method.allCases.filter { base.methods.contains($0) }
        let (matrices, timings) = try stages.scoreMethods(methods, fits: fits, candidates: "train.jsonl")
        let losses = try subsetLosses(stages)
        let n = try LoadedModel(url: stages.url("model")).tokenize(file: stages.url("train.jsonl").path, maxLength: base.contextLength,
                                                                  requireLabels: false).examples.count
        let memberships = Self.subsets(count: o.subsets, of: n, fraction: o.fraction, seed: base.seed)
        let results = methods.compactMap { method -> MethodResult? in
            // CG is the scalability benchmark's reference; here it is one more method.
            let title = method == .cg ? "CG (exact damped Gauss–Newton influence)" : method.title
            guard let scores = matrices[method] else {
                return timings[method].map { MethodResult(method: method.rawValue, title: title, ldsMean: .nan, ldsStd: .nan, note: $0.note) }
            }
            let lds = Self.lds(scores: scores, memberships: memberships, losses: losses)
            return MethodResult(method: method.rawValue, title: title, ldsMean: ScalabilityBenchmark.mean(lds),
                                ldsStd: ScalabilityBenchmark.std(lds), note: timings[method]?.note ?? "")
        }
        let flat = losses.flatMap { $0 }
        let spread = (0..<base.queries).map { q in ScalabilityBenchmark.std(losses.map { $0[q] }) }
        return Report(trainingDocuments: n, queries: base.queries, subsets: o.subsets, fraction: o.fraction, seedsPerSubset: o.seedsPerSubset,
                      damping: base.damping, meanQueryLoss: ScalabilityBenchmark.mean(flat), queryLossSpread: ScalabilityBenchmark.mean(spread),
                      results: results, seconds: Date().timeIntervalSince(start))
    }

    /// The documents of each subset: `count` draws of round(fraction · n) distinct indices.
    static func subsets(count: Int, of n: Int, fraction: Double, seed: UInt64) -> [[Int]] {
        var random = RandomGenerator(seed: seed &+ 7_000)
        let size = max(1, min(n - 1, Int((fraction * Double(n)).rounded())))
        return (0..<count).map { _ in
            var order = Array(0..<n)
            random.shuffle(&order)
            return order.prefix(size).sorted()
        }
    }

    /// LDS per query: Spearman over the subsets of Σ_{i∈S_j} τ(q, i) against −loss_j(q).
    public static func lds(scores: [[Double]], memberships: [[Int]], losses: [[Double]]) -> [Double] {
        scores.indices.map { q in
            let predicted = memberships.map { subset in subset.reduce(0.0) { $0 + scores[q][$1] } }
            return Correlation.spearman(predicted, losses.map { -$0[q] })
        }
    }

    /// [subset][query]: each query's mean token loss under models trained on the subset (the
    /// mean over `seedsPerSubset` seeds), each subset's result cached in the work directory.
    func subsetLosses(_ stages: ScalabilityBenchmark) throws -> [[Double]] {
        let o = options, base = stages.options
        let main = try LoadedModel(url: stages.url("model"))
        let training = try main.tokenize(file: stages.url("train.jsonl").path, maxLength: base.contextLength, requireLabels: false).examples
        let queries = try main.tokenize(file: stages.url("queries.jsonl").path, maxLength: base.contextLength, requireLabels: false).examples
        let memberships = Self.subsets(count: o.subsets, of: training.count, fraction: o.fraction, seed: base.seed)
        try FileManager.default.createDirectory(at: stages.url("lds"), withIntermediateDirectories: true)
        return try memberships.enumerated().map { j, subset in
            let file = stages.url("lds/subset-\(j).json")
            let key = stages.modelKey + " lds subset=\(j) of \(o.subsets) fraction=\(o.fraction) seeds=\(o.seedsPerSubset)"
            if let cached = try? JSONDecoder().decode(CachedLosses.self, from: Data(contentsOf: file)), cached.key == key {
                return cached.losses
            }
            let examples = subset.map { training[$0] }
            var total = [Double](repeating: 0, count: queries.count)
            for s in 0..<o.seedsPerSubset {
                let model = try stages.train(main.model.hyperparameters, on: examples, seed: base.seed &+ 10_000 &+ UInt64(j * 100 + s))
                for (q, query) in queries.enumerated() { total[q] += model.meanLoss([query]) / Double(o.seedsPerSubset) }
            }
            try AtomicFile.write(try JSONEncoder().encode(CachedLosses(key: key, losses: total)), to: file)
            log(String(format: "LDS: subset %d of %d trained (%d documents, %d seeds); mean query loss %.3f", j + 1, o.subsets,
                       examples.count, o.seedsPerSubset, ScalabilityBenchmark.mean(total)))
            return total
        }
    }

    struct CachedLosses: Codable {
        let key: String
        let losses: [Double]
    }
}
