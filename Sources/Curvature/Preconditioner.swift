import Numerics

/// Which curvature approximation preconditions a gradient.
public enum PreconditionerMethod: String, Sendable, CaseIterable, Codable {
    /// Eigenvalue-corrected K-FAC: Λ fitted in the Kronecker eigenbasis (pass 2).
    case ekfac
    /// K-FAC: the Kronecker eigenvalues Λ_S ⊗ Λ_A in place of Λ.
    case kfac
    /// Gradient dot product: no preconditioner.
    case gdp
}

/// The damping λ added to the curvature.
public enum Damping: Sendable, Equatable, CustomStringConvertible {
    case absolute(Double)
    /// 0.1 × the mean eigenvalue of each block (Grosse et al.).
    case automatic
    /// A multiple of the mean eigenvalue of each block (`automatic` is 0.1).
    case relative(Double)

    public init?(_ text: String) {
        if text == "auto" { self = .automatic } else if let value = Double(text), value >= 0, value.isFinite { self = .absolute(value) } else { return nil }
    }

    public var description: String {
        switch self {
        case .absolute(let value): "\(value)"
        case .automatic: "auto"
        case .relative(let factor): "\(factor)×mean"
        }
    }
}

/// Applies (G + λI)⁻¹ block by block (DESIGN §4):
/// (G + λI)⁻¹ V ≈ Q_S [(Q_Sᵀ V Q_A) ⊘ (Λ + λ)] Q_Aᵀ.
public final class Preconditioner: @unchecked Sendable {
    public let factors: EKFACFactors
    public let method: PreconditionerMethod
    public let damping: Damping
    /// Per module and block, 1 / (Λ + λ) (size × inputSize).
    private let inverseEigenvalues: [[[Float]]]
    /// Per module and block, the λ used.
    public let dampingValues: [[Double]]
    private let scratchA = FloatBuffer(), scratchB = FloatBuffer()

    public init(factors: EKFACFactors, method: PreconditionerMethod, damping: Damping) {
        precondition(method != .gdp, "GDP needs no preconditioner")
        self.factors = factors
        self.method = method
        self.damping = damping
        var inverses: [[[Float]]] = []
        var dampings: [[Double]] = []
        for (m, basis) in factors.eigenbases.enumerated() {
            var moduleInverses: [[Float]] = [], moduleDampings: [Double] = []
            let width = basis.layout.inputSize
            for b in basis.layout.blocks.indices {
                let eigenvalues: [Double]
                switch method {
                case .ekfac:
                    eigenvalues = factors.correctedEigenvalues[m][b].map(Double.init)
                case .kfac:
                    let scale = factors.tokensPerSequence
                    let s = basis.outputEigenvalues[b], a = basis.inputEigenvalues
                    // Round-off can leave tiny negative eigenvalues of a PSD matrix; clamp them.
                    eigenvalues = s.flatMap { si in a.map { aj in max(si, 0) * max(aj, 0) * scale } }
                case .gdp:
                    fatalError("unreachable")
                }
                precondition(eigenvalues.count == basis.layout.blocks[b].size * width)
                let lambda: Double
                switch damping {
                case .absolute(let value): lambda = value
                case .automatic: lambda = 0.1 * eigenvalues.reduce(0, +) / Double(max(eigenvalues.count, 1))
                case .relative(let factor): lambda = factor * eigenvalues.reduce(0, +) / Double(max(eigenvalues.count, 1))
                }
                moduleDampings.append(lambda)
                moduleInverses.append(eigenvalues.map { Float(1 / (max($0, 0) + lambda)) })
            }
            inverses.append(moduleInverses)
            dampings.append(moduleDampings)
        }
        inverseEigenvalues = inverses
        dampingValues = dampings
    }

    /// Replaces the module gradient `gradient` (outputSize × inputSize, row-major) of module
    /// `m` (index into `factors.layouts`) by its preconditioned version, block by block.
    public func apply(module m: Int, to gradient: UnsafeMutablePointer<Float>) {
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
