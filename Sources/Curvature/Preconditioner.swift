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

/// The damping λ added to the curvature: always positive, so (G + λI) is invertible.
public enum Damping: Sendable, Equatable, CustomStringConvertible {
    /// λ itself.
    case absolute(Double)
    /// 0.1 × the mean eigenvalue (Grosse et al.); the same as `relative(0.1)`.
    case automatic
    /// A multiple of the mean eigenvalue, written `0.001x` on the command line.
    case relative(Double)

    /// Parses `auto`, a positive number (absolute), or a positive number followed by `x`
    /// (relative). Zero, negative and non-finite values are refused: λ = 0 turns a zero
    /// eigenvalue into a division by zero and scores into ∞ or NaN.
    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "auto" { self = .automatic; return }
        let isRelative = trimmed.hasSuffix("x") || trimmed.hasSuffix("×")
        guard let value = Double(isRelative ? String(trimmed.dropLast()) : trimmed), value > 0, value.isFinite else { return nil }
        self = isRelative ? .relative(value) : .absolute(value)
    }

    /// What the command line accepts, for error messages.
    public static let syntax = "a positive number (absolute λ), a positive multiple of the mean eigenvalue such as 0.001x, or auto (0.1x)"

    /// The multiple of the mean eigenvalue, or nil for an absolute damping.
    public var relativeFactor: Double? {
        switch self {
        case .absolute: nil
        case .automatic: 0.1
        case .relative(let factor): factor
        }
    }

    public var description: String {
        switch self {
        case .absolute(let value): "\(value)"
        case .automatic: "auto"
        case .relative(let factor): "\(factor)x"
        }
    }
}

/// Over which eigenvalues the mean of a relative damping is taken.
public enum DampingScope: String, Sendable, CaseIterable, Codable {
    /// The mean over all blocks of a module (Grosse et al., Kronfluence): per-head Q/K blocks,
    /// whose eigenvalues are small, get the same λ as the module's V blocks.
    case module
    /// The mean of each block separately.
    case block
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

    public init(factors: EKFACFactors, method: PreconditionerMethod, damping: Damping, scope: DampingScope = .module) {
        precondition(method != .gdp, "GDP needs no preconditioner")
        self.factors = factors
        self.method = method
        self.damping = damping
        var inverses: [[[Float]]] = []
        var dampings: [[Double]] = []
        for (m, basis) in factors.eigenbases.enumerated() {
            let width = basis.layout.inputSize
            let blockEigenvalues: [[Double]] = basis.layout.blocks.indices.map { b in
                switch method {
                case .ekfac:
                    return factors.correctedEigenvalues[m][b].map(Double.init)
                case .kfac:
                    let scale = factors.tokensPerSequence
                    let s = basis.outputEigenvalues[b], a = basis.inputEigenvalues
                    // Round-off can leave tiny negative eigenvalues of a PSD matrix; clamp them.
                    return s.flatMap { si in a.map { aj in max(si, 0) * max(aj, 0) * scale } }
                case .gdp:
                    fatalError("unreachable")
                }
            }
            let moduleMean = Self.mean(blockEigenvalues.flatMap { $0 })
            var moduleInverses: [[Float]] = [], moduleDampings: [Double] = []
            for (b, eigenvalues) in blockEigenvalues.enumerated() {
                precondition(eigenvalues.count == basis.layout.blocks[b].size * width)
                let lambda: Double
                switch damping {
                case .absolute(let value): lambda = value
                case .automatic, .relative: lambda = damping.relativeFactor! * (scope == .module ? moduleMean : Self.mean(eigenvalues))
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

    private static func mean(_ values: [Double]) -> Double {
        values.reduce(0, +) / Double(max(values.count, 1))
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
