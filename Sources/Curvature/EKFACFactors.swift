import Foundation
import Models
import Numerics

/// The Kronecker eigenbasis of one tracked module: A = Q_A Λ_A Q_Aᵀ shared by its blocks and
/// S_b = Q_S Λ_S Q_Sᵀ for each block b. Eigenvectors are columns, stored in Float32 for the
/// GEMMs that use them; eigenvalues are kept in Float64 as LAPACK returns them.
public struct ModuleEigenbasis: Sendable {
    public let layout: ModuleLayout
    public let inputEigenvectors: Matrix<Float>
    public let inputEigenvalues: [Double]
    public let outputEigenvectors: [Matrix<Float>]
    public let outputEigenvalues: [[Double]]

    public init(layout: ModuleLayout, inputEigenvectors: Matrix<Float>, inputEigenvalues: [Double],
                outputEigenvectors: [Matrix<Float>], outputEigenvalues: [[Double]]) {
        self.layout = layout
        self.inputEigenvectors = inputEigenvectors
        self.inputEigenvalues = inputEigenvalues
        self.outputEigenvectors = outputEigenvectors
        self.outputEigenvalues = outputEigenvalues
    }

    /// Eigendecomposes (Float64, LAPACK dsyevd) the covariances of pass 1.
    public init(layout: ModuleLayout, inputCovariance: Matrix<Double>, outputCovariances: [Matrix<Double>]) throws {
        let a = try SymmetricEigendecomposition(inputCovariance)
        let s = try outputCovariances.map { try SymmetricEigendecomposition($0) }
        self.init(layout: layout, inputEigenvectors: a.eigenvectors.toFloat(), inputEigenvalues: a.eigenvalues,
                  outputEigenvectors: s.map { $0.eigenvectors.toFloat() }, outputEigenvalues: s.map(\.eigenvalues))
    }

    /// Eigendecomposes pass 1's packed sums (`CovarianceAccumulator`) divided by `tokens`, one
    /// matrix at a time: A, then each block's S.
    public init(layout: ModuleLayout, packedInputSum: UnsafePointer<Double>, packedOutputSums: [UnsafePointer<Double>], tokens: Int) throws {
        let scale = 1 / Double(max(tokens, 1))
        let a = try SymmetricEigendecomposition.decompose(packedUpper: packedInputSum, size: layout.inputSize, scale: scale)
        let s = try zip(layout.blocks, packedOutputSums).map {
            try SymmetricEigendecomposition.decompose(packedUpper: $1, size: $0.size, scale: scale)
        }
        self.init(layout: layout, inputEigenvectors: a.eigenvectors, inputEigenvalues: a.eigenvalues,
                  outputEigenvectors: s.map(\.eigenvectors), outputEigenvalues: s.map(\.eigenvalues))
    }
}

/// Fitted EK-FAC factors for the selected modules of one model: eigenbases and, per block, the
/// corrected eigenvalues Λ[i, j] = Eₙ[(Q_Sᵀ Gₙ Q_A)[i, j]²] (size × inputSize).
///
/// Factors read from a factors directory are views into the memory-mapped files: nothing is
/// read until used, and `releasePages(module:)` lets a pass over the modules keep only the
/// current one resident (a 3B model's factors are several times its weights).
public struct EKFACFactors: Sendable {
    public let eigenbases: [ModuleEigenbasis]
    /// Per module and block, Λ as a size × inputSize matrix.
    public let lambdas: [[Matrix<Float>]]
    /// Curvature rows of pass 1 (`curvatureRows`) and sequences of pass 1 and pass 2.
    public let covarianceTokenCount: Int
    public let covarianceSequenceCount: Int
    public let correctionSequenceCount: Int
    /// Drops module m's resident pages (factors read from files; nil for factors in memory).
    private let release: (@Sendable (Int) -> Void)?

    public init(eigenbases: [ModuleEigenbasis], lambdas: [[Matrix<Float>]], covarianceTokenCount: Int,
                covarianceSequenceCount: Int, correctionSequenceCount: Int, release: (@Sendable (Int) -> Void)? = nil) {
        self.eigenbases = eigenbases
        self.lambdas = lambdas
        self.covarianceTokenCount = covarianceTokenCount
        self.covarianceSequenceCount = covarianceSequenceCount
        self.correctionSequenceCount = correctionSequenceCount
        self.release = release
    }

    /// Factors held in memory, with Λ given as arrays (block by block, row-major).
    public init(eigenbases: [ModuleEigenbasis], correctedEigenvalues: [[[Float]]], covarianceTokenCount: Int,
                covarianceSequenceCount: Int, correctionSequenceCount: Int) {
        let lambdas = zip(eigenbases, correctedEigenvalues).map { basis, blocks in
            zip(basis.layout.blocks, blocks).map { Matrix<Float>(rows: $0.size, cols: basis.layout.inputSize, values: $1) }
        }
        self.init(eigenbases: eigenbases, lambdas: lambdas, covarianceTokenCount: covarianceTokenCount,
                  covarianceSequenceCount: covarianceSequenceCount, correctionSequenceCount: correctionSequenceCount)
    }

    public var layouts: [ModuleLayout] { eigenbases.map(\.layout) }

    /// Λ as arrays (a copy of everything; for tests and small models).
    public var correctedEigenvalues: [[[Float]]] { lambdas.map { $0.map(\.values) } }

    /// Lets the pages of module m's factors go (they are read again if used).
    public func releasePages(module m: Int) { release?(m) }

    /// Mean curvature rows per sequence in pass 1. K-FAC's eigenvalues Λ_S ⊗ Λ_A are token
    /// averages, while Λ (and a sequence's gradient) sums over a sequence's tokens; with
    /// independent tokens E[vec Gₙ vec Gₙᵀ] ≈ T · S ⊗ A, so K-FAC is scaled by T to compare.
    public var tokensPerSequence: Double {
        Double(covarianceTokenCount) / Double(max(covarianceSequenceCount, 1))
    }
}
