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
}

/// Which curvature approximation preconditions a gradient (the `--method` of `score`).
public enum PreconditionerMethod: String, Sendable, CaseIterable, Codable {
    /// Eigenvalue-corrected K-FAC: Λ fitted in the Kronecker eigenbasis (pass 2).
    case ekfac
    /// K-FAC: the Kronecker eigenvalues Λ_S ⊗ Λ_A in place of Λ.
    case kfac
    /// Gradient dot product: no preconditioner.
    case gdp

    /// Whether the method reads fitted factors (GDP needs none).
    public var needsFactors: Bool { self != .gdp }

    /// The preconditioner of this method over `factors`.
    public func preconditioner(factors: EKFACFactors, damping: Damping, scope: DampingScope = .module) -> Preconditioner {
        switch self {
        case .ekfac: EKFACPreconditioner(factors: factors, damping: damping, scope: scope)
        case .kfac: KFACPreconditioner(factors: factors, damping: damping, scope: scope)
        case .gdp: IdentityPreconditioner(layouts: factors.layouts)
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
        let eigenvalues = factors.correctedEigenvalues.map { $0.map { $0.map(Double.init) } }
        basis = DampedEigenbasis(factors: factors, eigenvalues: eigenvalues, damping: damping, scope: scope)
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
        let scale = factors.tokensPerSequence
        let eigenvalues = factors.eigenbases.map { basis in
            basis.layout.blocks.indices.map { b in
                // Round-off can leave tiny negative eigenvalues of a PSD matrix; clamp them.
                basis.outputEigenvalues[b].flatMap { s in basis.inputEigenvalues.map { a in max(s, 0) * max(a, 0) * scale } }
            }
        }
        basis = DampedEigenbasis(factors: factors, eigenvalues: eigenvalues, damping: damping, scope: scope)
    }

    public func apply(module m: Int, to gradient: UnsafeMutablePointer<Float>) { basis.apply(module: m, to: gradient) }
}

/// What K-FAC and EK-FAC share: (G + λI)⁻¹ V ≈ Q_S [(Q_Sᵀ V Q_A) ⊘ (Λ + λ)] Q_Aᵀ block by block,
/// given the eigenvalues Λ of each block in the Kronecker eigenbasis.
final class DampedEigenbasis {
    let factors: EKFACFactors
    /// Per module and block, 1 / (Λ + λ) (size × inputSize).
    private let inverseEigenvalues: [[[Float]]]
    /// Per module and block, the λ used.
    let dampingValues: [[Double]]
    private let scratchA = FloatBuffer(), scratchB = FloatBuffer()

    /// `eigenvalues[m][b]`: block b of module m, size × inputSize. A relative damping is a
    /// multiple of the mean eigenvalue over the module (`scope` .module) or the block.
    init(factors: EKFACFactors, eigenvalues: [[[Double]]], damping: Damping, scope: DampingScope) {
        self.factors = factors
        var inverses: [[[Float]]] = [], dampings: [[Double]] = []
        for (m, basis) in factors.eigenbases.enumerated() {
            let moduleMean = Self.mean(eigenvalues[m].flatMap { $0 })
            var moduleInverses: [[Float]] = [], moduleDampings: [Double] = []
            for (b, blockEigenvalues) in eigenvalues[m].enumerated() {
                precondition(blockEigenvalues.count == basis.layout.blocks[b].size * basis.layout.inputSize)
                let lambda = damping.relativeFactor.map { $0 * (scope == .module ? moduleMean : Self.mean(blockEigenvalues)) }
                    ?? damping.absoluteValue!
                moduleDampings.append(lambda)
                moduleInverses.append(blockEigenvalues.map { Float(1 / (max($0, 0) + lambda)) })
            }
            inverses.append(moduleInverses)
            dampings.append(moduleDampings)
        }
        inverseEigenvalues = inverses
        dampingValues = dampings
    }

    private static func mean(_ values: [Double]) -> Double {
        values.reduce(0, +) / Double(max(values.count, 1))
    }

    func apply(module m: Int, to gradient: UnsafeMutablePointer<Float>) {
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
            inverseEigenvalues[m][b].withUnsafeBufferPointer { inverse in
                for i in 0..<(d * width) { scratchB.pointer[i] *= inverse[i] }
            }
            // Rotate back: Q_S (·) Q_Aᵀ.
            Float.gemm(.none, .none, m: d, n: width, k: d, alpha: 1, a: qS, lda: d, b: scratchB.pointer, ldb: width,
                       beta: 0, c: scratchA.pointer, ldc: width)
            Float.gemm(.none, .transposed, m: d, n: width, k: width, alpha: 1, a: scratchA.pointer, lda: width, b: qA, ldb: width,
                       beta: 0, c: v, ldc: width)
        }
    }
}
