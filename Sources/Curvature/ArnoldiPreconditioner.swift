import Checkpoints
import Foundation
import Numerics

/// Arnoldi influence (Schioppa et al. 2022): `iterations` steps of the Arnoldi process on G from
/// a random start (G is symmetric, so this is Lanczos with full re-orthogonalisation) give an
/// orthonormal Krylov basis and the projected matrix; its `rank` largest eigenpairs (λₖ, uₖ) are
/// kept, and a query gradient is preconditioned in their span: Σₖ uₖ⟨uₖ, q⟩ / (λₖ + λ). The
/// eigenpairs are computed once, when the preconditioner is made; directions outside their
/// span are dropped, as the method prescribes.
public final class ArnoldiPreconditioner: Preconditioner {
    public let product: GaussNewtonProduct
    public let damping: Double
    /// The kept eigenvalues of G (largest first) and their unit eigenvectors (flat).
    public let eigenvalues: [Double]
    public let eigenvectors: [[Double]]
    public var layouts: [ModuleLayout] { product.layouts }

    public init(product: GaussNewtonProduct, damping: Double, iterations: Int = 200, rank: Int = 50, seed: UInt64 = 0,
                log: (String) -> Void = { _ in }) throws {
        guard damping > 0, damping.isFinite else { throw InputError("arnoldi needs a positive absolute damping (such as --damping 0.01)") }
        guard iterations > 0, rank > 0, rank <= iterations else {
            throw InputError("arnoldi: --arnoldi-rank \(rank) must be positive and at most --arnoldi-iterations \(iterations)")
        }
        self.product = product
        self.damping = damping
        let n = product.parameterCount
        var rng = RandomGenerator(seed: seed)
        var start = (0..<n).map { _ in rng.nextNormal() }
        let startNorm = norm(start)
        start = start.map { $0 / startNorm }
        var basis: [[Double]] = [start]
        // The projected matrix Qᵀ G Q, its upper triangle filled column by column (entry j, k
        // is ⟨q_j, G q_k⟩ from the orthogonalisation's coefficients).
        var projected = [[Double]](repeating: [Double](repeating: 0, count: min(iterations, n)), count: min(iterations, n))
        var steps = 0
        for k in 0..<min(iterations, n) {
            var w = product.multiply(basis[k])
            // Full re-orthogonalisation, twice (Gram–Schmidt's loss of orthogonality).
            for _ in 0..<2 {
                for (j, q) in basis.enumerated() {
                    let c = dot(q, w)
                    projected[j][k] += c
                    for i in w.indices { w[i] -= c * q[i] }
                }
            }
            steps = k + 1
            let size = norm(w)
            // An invariant subspace: G's range within the Krylov space is exhausted.
            if size <= 1e-10 * max(abs(projected[k][k]), 1e-300) || k + 1 == min(iterations, n) { break }
            basis.append(w.map { $0 / size })
            if (k + 1) % 50 == 0 { log("arnoldi: \(k + 1) of \(iterations) iterations") }
        }
        let m = steps
        let symmetric = Matrix<Double>(rows: m, cols: m) { i, j in i <= j ? projected[i][j] : projected[j][i] }
        let eigen = try SymmetricEigendecomposition(symmetric)
        let kept = Array((0..<m).reversed().prefix(rank))
        eigenvalues = kept.map { eigen.eigenvalues[$0] }
        eigenvectors = kept.map { column in
            var u = [Double](repeating: 0, count: n)
            for j in 0..<m {
                let c = eigen.eigenvectors[j, column]
                for i in u.indices { u[i] += c * basis[j][i] }
            }
            return u
        }
        log(String(format: "arnoldi: %d iterations, kept %d eigenvalues from %.3g down to %.3g", m, kept.count,
                   eigenvalues.first ?? 0, eigenvalues.last ?? 0))
    }

    /// Eigenpairs read back from `save(to:identity:)`'s file: refused unless the file was made
    /// for `identity` (the model, the curvature data, the modules and the Arnoldi settings) and
    /// its vectors have the product's length. Eigenpairs do not depend on the damping.
    public init(loading url: URL, identity: String, product: GaussNewtonProduct, damping: Double) throws {
        guard damping > 0, damping.isFinite else { throw InputError("arnoldi needs a positive absolute damping (such as --damping 0.01)") }
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(url: url) } catch { throw InputError("\(url.path): not a readable Arnoldi store (\(error))") }
        guard file.metadata["arnoldi_identity"] == identity else {
            throw InputError("\(url.path): its eigenpairs were computed for another model, curvature data, module selection or Arnoldi setting; delete it or give another --arnoldi-store")
        }
        let values = try file.doubles("eigenvalues"), flat = try file.doubles("eigenvectors")
        let n = product.parameterCount
        guard !values.isEmpty, flat.count == values.count * n, values.allSatisfy(\.isFinite), flat.allSatisfy(\.isFinite) else {
            throw InputError("\(url.path): \(values.count) eigenvalues and \(flat.count) vector entries do not make eigenvectors of length \(n)")
        }
        self.product = product
        self.damping = damping
        eigenvalues = values
        eigenvectors = (0..<values.count).map { Array(flat[($0 * n)..<(($0 + 1) * n)]) }
    }

    /// Writes the eigenpairs atomically as safetensors (Float64), tagged with `identity`.
    public func save(to url: URL, identity: String) throws {
        var writer = SafeTensorsWriter(metadata: ["format": "swift-influence arnoldi eigenpairs", "arnoldi_identity": identity])
        writer.add("eigenvalues", shape: [eigenvalues.count], doubles: eigenvalues)
        writer.add("eigenvectors", shape: [eigenvectors.count, product.parameterCount], doubles: eigenvectors.flatMap { $0 })
        try writer.write(to: url)
    }

    public func apply(module m: Int, to gradient: UnsafeMutablePointer<Float>) {
        preconditionFailure("arnoldi couples the modules: precondition whole queries with apply(toAll:)")
    }

    public func apply(toAll gradients: [UnsafeMutablePointer<Float>]) throws {
        let q = product.flatten(gradients)
        var x = [Double](repeating: 0, count: q.count)
        for (value, u) in zip(eigenvalues, eigenvectors) {
            let c = dot(u, q) / (max(value, 0) + damping)
            for i in x.indices { x[i] += c * u[i] }
        }
        product.scatter(x, into: gradients)
    }
}
