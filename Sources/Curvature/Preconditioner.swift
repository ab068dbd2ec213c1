import Numerics

/// An approximation of (G + λI)⁻¹ applied to module gradients (DESIGN §4): the strategy that
/// turns a gradient dot product into an influence score. Gradient dot product, K-FAC and
/// EK-FAC are types behind this protocol; scoring code only calls `apply`.
public protocol Preconditioner: AnyObject {
    /// The modules it covers, in order: `apply(module: m, …)` takes module `layouts[m]`.
    var layouts: [ModuleLayout] { get }
    /// Replaces the gradient (outputSize × inputSize, row-major) of module `m` by its
    /// preconditioned version, in place.
    func apply(module m: Int, to gradient: UnsafeMutablePointer<Float>)
    /// Replaces one query's gradient over every module at once (`gradients[m]` is module m's):
    /// module by module for the block-diagonal approximations; CG solves them jointly.
    func apply(toAll gradients: [UnsafeMutablePointer<Float>]) throws
}

extension Preconditioner {
    public func apply(toAll gradients: [UnsafeMutablePointer<Float>]) throws {
        for (m, gradient) in gradients.enumerated() { apply(module: m, to: gradient) }
    }
}

/// Which curvature approximation preconditions a gradient (the `--method` of `score`).
public enum PreconditionerMethod: String, Sendable, CaseIterable, Codable {
    /// Eigenvalue-corrected K-FAC: Λ fitted in the Kronecker eigenbasis (pass 2).
    case ekfac
    /// K-FAC: the Kronecker eigenvalues Λ_S ⊗ Λ_A in place of Λ.
    case kfac
    /// Gradient dot product: no preconditioner.
    case gdp
    /// Conjugate gradients with the exact Gauss–Newton products of a data set
    /// (`ConjugateGradientPreconditioner`): no factors, the ground truth.
    case cg
    /// LiSSA's stochastic Neumann series on the same products (`LiSSAPreconditioner`).
    case lissa
    /// The top eigenpairs of G from the Arnoldi process (`ArnoldiPreconditioner`).
    case arnoldi
    /// Not an influence: linear CKA between the query's and the document's gradients per
    /// module (`GradientCKA`), the paper's similarity baseline.
    case cka
    /// Not a preconditioner: TRAK (Park et al.), random projections of the gradients of an
    /// ensemble of models and their kernel regression (`TRAKScorer`).
    case trak

    /// Whether the method is built from curvature data and exact Gauss–Newton products.
    public var usesCurvatureData: Bool { self == .cg || self == .lissa || self == .arnoldi }

    /// Whether the method reads fitted factors (GDP and CG need none).
    public var needsFactors: Bool { self == .ekfac || self == .kfac }

    /// The preconditioner of this method over `factors`.
    public func preconditioner(factors: EKFACFactors, damping: Damping, scope: DampingScope = .module) -> Preconditioner {
        switch self {
        case .ekfac: EKFACPreconditioner(factors: factors, damping: damping, scope: scope)
        case .kfac: KFACPreconditioner(factors: factors, damping: damping, scope: scope)
        case .gdp, .cka, .trak: IdentityPreconditioner(layouts: factors.layouts)
        case .cg, .lissa, .arnoldi: preconditionFailure("\(rawValue) is built from curvature data (GaussNewtonProduct), not from factors")
        }
    }
}

/// The gradient dot product's "preconditioner": leaves gradients as they are.
public final class IdentityPreconditioner: Preconditioner {
    public let layouts: [ModuleLayout]
    public init(layouts: [ModuleLayout]) { self.layouts = layouts }
    public func apply(module m: Int, to gradient: UnsafeMutablePointer<Float>) {}
}

/// EK-FAC: the corrected eigenvalues Λ of pass 2 in the Kronecker eigenbasis.
public final class EKFACPreconditioner: Preconditioner {
    public let factors: EKFACFactors
    public let damping: Damping
    private let basis: DampedEigenbasis
    public var layouts: [ModuleLayout] { factors.layouts }
    /// Per module and block, the λ used.
    public var dampingValues: [[Double]] { basis.dampingValues }

    public init(factors: EKFACFactors, damping: Damping, scope: DampingScope = .module) {
        self.factors = factors
        self.damping = damping
        basis = DampedEigenbasis(factors: factors, eigenvalues: .corrected, damping: damping, scope: scope)
    }

    public func apply(module m: Int, to gradient: UnsafeMutablePointer<Float>) { basis.apply(module: m, to: gradient) }
}

/// K-FAC: the products of the Kronecker factors' eigenvalues, Λ_S ⊗ Λ_A, scaled to a
/// per-sequence curvature (the fit's mean tokens per sequence), in place of Λ.
public final class KFACPreconditioner: Preconditioner {
    public let factors: EKFACFactors
    public let damping: Damping
    private let basis: DampedEigenbasis
    public var layouts: [ModuleLayout] { factors.layouts }
    public var dampingValues: [[Double]] { basis.dampingValues }

    public init(factors: EKFACFactors, damping: Damping, scope: DampingScope = .module) {
        self.factors = factors
        self.damping = damping
        basis = DampedEigenbasis(factors: factors, eigenvalues: .kronecker(scale: factors.tokensPerSequence), damping: damping, scope: scope)
    }

    public func apply(module m: Int, to gradient: UnsafeMutablePointer<Float>) { basis.apply(module: m, to: gradient) }
}

/// What K-FAC and EK-FAC share: (G + λI)⁻¹ V ≈ Q_S [(Q_Sᵀ V Q_A) ⊘ (Λ + λ)] Q_Aᵀ block by block,
/// given the eigenvalues Λ of each block in the Kronecker eigenbasis.
///
/// 1/(Λ + λ) is applied as it is needed rather than kept, so that the factors stay in their
/// memory-mapped files: a module's pages are released when preconditioning moves to another
/// module (queries are preconditioned module by module).
final class DampedEigenbasis {
    /// Where Λ comes from: EK-FAC's fitted Λ, or K-FAC's products Λ_S ⊗ Λ_A (token averages,
    /// scaled to a sequence).
    enum Eigenvalues { case corrected, kronecker(scale: Double) }

    let factors: EKFACFactors
    let eigenvalues: Eigenvalues
    /// Per module and block, the λ used.
    let dampingValues: [[Double]]
    private let scratchA = FloatBuffer(), scratchB = FloatBuffer()
    private var residentModule: Int?

    /// A relative damping is a multiple of the mean eigenvalue over the module (`scope`
    /// .module) or the block; negative round-off in an eigenvalue counts as 0.
    init(factors: EKFACFactors, eigenvalues: Eigenvalues, damping: Damping, scope: DampingScope) {
        self.factors = factors
        self.eigenvalues = eigenvalues
        dampingValues = factors.eigenbases.indices.map { m in
            guard let factor = damping.relativeFactor else { return factors.eigenbases[m].layout.blocks.map { _ in damping.absoluteValue! } }
            defer { factors.releasePages(module: m) }
            let blockSums = factors.eigenbases[m].layout.blocks.indices.map { b in Self.sum(factors, eigenvalues, module: m, block: b) }
            let counts = factors.eigenbases[m].layout.blocks.map { Double($0.size * factors.eigenbases[m].layout.inputSize) }
            let moduleMean = blockSums.reduce(0, +) / max(counts.reduce(0, +), 1)
            return zip(blockSums, counts).map { factor * (scope == .module ? moduleMean : $0 / max($1, 1)) }
        }
    }

    /// Σ max(Λ, 0) over one block, in Float64.
    private static func sum(_ factors: EKFACFactors, _ eigenvalues: Eigenvalues, module m: Int, block b: Int) -> Double {
        switch eigenvalues {
        case .corrected:
            let lambda = factors.lambdas[m][b]
            var total = 0.0
            for i in 0..<lambda.count { total += Double(max(lambda.storage[i], 0)) }
            return total
        case .kronecker(let scale):
            let basis = factors.eigenbases[m]
            let s = basis.outputEigenvalues[b].reduce(0) { $0 + max($1, 0) }, a = basis.inputEigenvalues.reduce(0) { $0 + max($1, 0) }
            return s * a * scale
        }
    }

    func apply(module m: Int, to gradient: UnsafeMutablePointer<Float>) {
        if let resident = residentModule, resident != m { factors.releasePages(module: resident) }
        residentModule = m
        let basis = factors.eigenbases[m]
        let width = basis.layout.inputSize
        let qA = basis.inputEigenvectors.storage
        for (b, block) in basis.layout.blocks.enumerated() {
            let d = block.size
            let v = gradient + block.rows.lowerBound * width
            let qS = basis.outputEigenvectors[b].storage
            scratchA.reserve(d * width)
            scratchB.reserve(d * width)
            // Rotate into the eigenbasis: Q_Sᵀ V Q_A.
            Float.gemm(.transposed, .none, m: d, n: width, k: d, alpha: 1, a: qS, lda: d, b: v, ldb: width,
                       beta: 0, c: scratchA.pointer, ldc: width)
            Float.gemm(.none, .none, m: d, n: width, k: width, alpha: 1, a: scratchA.pointer, lda: width, b: qA, ldb: width,
                       beta: 0, c: scratchB.pointer, ldc: width)
            // Divide by the damped eigenvalues.
            let lambda = dampingValues[m][b], rotated = scratchB.pointer
            switch eigenvalues {
            case .corrected:
                let values = factors.lambdas[m][b].storage
                for i in 0..<(d * width) { rotated[i] *= Float(1 / (Double(max(values[i], 0)) + lambda)) }
            case .kronecker(let scale):
                for i in 0..<d {
                    let s = max(basis.outputEigenvalues[b][i], 0)
                    for j in 0..<width {
                        rotated[i * width + j] *= Float(1 / (s * max(basis.inputEigenvalues[j], 0) * scale + lambda))
                    }
                }
            }
            // Rotate back: Q_S (·) Q_Aᵀ.
            Float.gemm(.none, .none, m: d, n: width, k: d, alpha: 1, a: qS, lda: d, b: scratchB.pointer, ldb: width,
                       beta: 0, c: scratchA.pointer, ldc: width)
            Float.gemm(.none, .transposed, m: d, n: width, k: width, alpha: 1, a: scratchA.pointer, lda: width, b: qA, ldb: width,
                       beta: 0, c: v, ldc: width)
        }
    }
}
