import Checkpoints
import Curvature
import Foundation
import Models
import Numerics

/// TRAK (Park et al. 2023): for each model of an ensemble, each trained on a random subset of
/// the training data, the training set's projected loss gradients Φ (n × k,
/// `ProjectedGradients`) give the kernel ΦᵀΦ, and a query's attribution to a document is
/// φ(query)ᵀ (ΦᵀΦ + ρI)⁻¹ φ(document), averaged over the ensemble. Each model has its own
/// projection. ρ is `ridge` times the kernel's mean eigenvalue (only for round-off: k < n keeps
/// ΦᵀΦ invertible). The per-example output-function weights Q of the classification form are 1
/// here (a language model's loss is the output function), and no soft-thresholding is applied.
public final class TRAKScorer {
    struct Member {
        let model: DecoderModel
        let projection: ProjectedGradients
        let runner: GradientRunner
        /// (ΦᵀΦ + ρI)⁻¹, k × k.
        let inverseKernel: Matrix<Double>
    }

    let members: [Member]
    public let batchSize: Int
    /// The feature length k of every model's projection.
    public var dimension: Int { members.first?.projection.dimension ?? 0 }

    /// Featurises `training` under each of `models` (the one-time work), modules selected by
    /// `selection`; model i's projection is seeded with `seed + i`.
    ///
    /// With `store`, model i's (ΦᵀΦ + ρI)⁻¹ is read from `store/model-i.safetensors` when that
    /// file was made for the same model, `trainingIdentity` (what names the training data, such
    /// as its file digest), modules, dimension, seed and ridge, and written there otherwise.
    public init(models: [DecoderModel], training: [TokenizedExample], selection: ModuleSelection = .all, dimension: Int,
                seed: UInt64, ridge: Double = 1e-6, batchSize: Int = 8, store: URL? = nil, trainingIdentity: String = "",
                log: (String) -> Void = { _ in }) throws {
        guard !models.isEmpty else { throw InputError("trak: no models in the ensemble") }
        guard !training.isEmpty else { throw InputError("trak: no training sequences to featurise") }
        self.batchSize = batchSize
        if let store { try FileManager.default.createDirectory(at: store, withIntermediateDirectories: true) }
        members = try models.enumerated().map { i, model in
            let layouts = model.moduleLayouts(selection, attentionBlocks: .perHead, includeBias: false)
            let projection = ProjectedGradients(layouts: layouts, dimension: dimension, seed: seed &+ UInt64(i))
            let runner = GradientRunner(model: model, layouts: layouts)
            let identity = "model=\(model.fingerprint) data=\(trainingIdentity) sequences=\(training.count) modules=\(selection.rawValue) "
                + "features=\(projection.dimension) seed=\(seed &+ UInt64(i)) ridge=\(ridge)"
            let file = store?.appendingPathComponent("model-\(i).safetensors")
            if let file, FileManager.default.fileExists(atPath: file.path) {
                let inverse = try Self.readKernel(file, identity: identity, dimension: projection.dimension)
                log("trak: model \(i + 1) of \(models.count): read its kernel from \(file.path)")
                return Member(model: model, projection: projection, runner: runner, inverseKernel: inverse)
            }
            let phi = try Self.features(training, projection: projection, runner: runner, batchSize: batchSize)
            let k = projection.dimension
            if i == 0 && k > training.count {
                log("trak: \(k) features from \(training.count) sequences: ΦᵀΦ is singular and only the ridge inverts it (a --trak-dimension below the number of sequences avoids this)")
            }
            let kernel = Matrix<Double>(rows: k, cols: k)
            Double.syrk(.transposed, n: k, k: training.count, alpha: 1, a: phi.storage, lda: k, beta: 0, c: kernel.storage, ldc: k)
            kernel.symmetrizeFromUpper()
            let eigen = try SymmetricEigendecomposition(kernel)
            let mean = eigen.eigenvalues.reduce(0, +) / Double(k)
            let rho = ridge * max(mean, .leastNormalMagnitude)
            // (ΦᵀΦ + ρI)⁻¹ = V diag(1/(e + ρ)) Vᵀ.
            let scaled = eigen.eigenvectors.copy()
            for r in 0..<k {
                for c in 0..<k { scaled.storage[r * k + c] /= max(eigen.eigenvalues[c], 0) + rho }
            }
            let inverse = Matrix<Double>.product(scaled, eigen.eigenvectors, transposeB: .transposed)
            log(String(format: "trak: model %d of %d featurised (%d sequences, %d features; kernel eigenvalues %.3g to %.3g)",
                       i + 1, models.count, training.count, k, eigen.eigenvalues.first ?? 0, eigen.eigenvalues.last ?? 0))
            if let file {
                var writer = SafeTensorsWriter(metadata: ["format": "swift-influence trak kernel", "trak_identity": identity])
                writer.add("inverse_kernel", shape: [k, k], doubles: Array(UnsafeBufferPointer(start: inverse.storage, count: k * k)))
                try writer.write(to: file)
            }
            return Member(model: model, projection: projection, runner: runner, inverseKernel: inverse)
        }
    }

    static func readKernel(_ file: URL, identity: String, dimension k: Int) throws -> Matrix<Double> {
        let tensors: SafeTensorsFile
        do { tensors = try SafeTensorsFile(url: file) } catch { throw InputError("\(file.path): not a readable TRAK kernel (\(error))") }
        guard tensors.metadata["trak_identity"] == identity else {
            throw InputError("\(file.path): this kernel was made for another model, training data, module selection, dimension or seed; delete it or give another --trak-store")
        }
        let values = try tensors.doubles("inverse_kernel")
        guard values.count == k * k, values.allSatisfy(\.isFinite) else {
            throw InputError("\(file.path): \(values.count) kernel entries, expected \(k) × \(k) finite values")
        }
        return Matrix(rows: k, cols: k, values: values)
    }

    /// [sequence × k] projected gradients in Float64.
    static func features(_ examples: [TokenizedExample], projection: ProjectedGradients, runner: GradientRunner,
                         batchSize: Int) throws -> Matrix<Double> {
        let k = projection.dimension
        let out = Matrix<Double>(rows: examples.count, cols: k)
        for start in stride(from: 0, to: examples.count, by: batchSize) {
            let batch = Array(examples[start..<min(start + batchSize, examples.count)])
            for (i, row) in try projection.features(of: batch, runner: runner).enumerated() {
                for j in 0..<k { out.storage[(start + i) * k + j] = Double(row[j]) }
            }
        }
        return out
    }

    /// Each model's preconditioned query features φ(q)ᵀ(ΦᵀΦ + ρI)⁻¹, computed once for any
    /// number of document batches.
    public struct PreparedQueries {
        let perModel: [Matrix<Double>]
        public let count: Int
    }

    public func prepare(queries: [TokenizedExample]) throws -> PreparedQueries {
        PreparedQueries(perModel: try members.map { member in
            let fq = try Self.features(queries, projection: member.projection, runner: member.runner, batchSize: batchSize)
            return Matrix<Double>.product(fq, member.inverseKernel)
        }, count: queries.count)
    }

    /// The ensemble's mean attribution of `documents` to the prepared queries, [query][document].
    public func scores(_ queries: PreparedQueries, documents: [TokenizedExample]) throws -> [[Double]] {
        var total = [[Double]](repeating: [Double](repeating: 0, count: documents.count), count: queries.count)
        for (member, preconditioned) in zip(members, queries.perModel) {
            let fd = try Self.features(documents, projection: member.projection, runner: member.runner, batchSize: batchSize)
            let s = Matrix<Double>.product(preconditioned, fd, transposeB: .transposed)
            for q in 0..<queries.count {
                for d in documents.indices { total[q][d] += s.storage[q * documents.count + d] / Double(members.count) }
            }
        }
        return total
    }

    /// The ensemble's mean attribution, [query][candidate].
    public func scores(queries: [TokenizedExample], candidates: [TokenizedExample]) throws -> [[Double]] {
        try scores(try prepare(queries: queries), documents: candidates)
    }
}
