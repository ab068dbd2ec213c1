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
}

/// Fitted EK-FAC factors for the selected modules of one model: eigenbases and, per block, the
/// corrected eigenvalues Λ[i, j] = Eₙ[(Q_Sᵀ Gₙ Q_A)[i, j]²] (size × inputSize).
public struct EKFACFactors: Sendable {
    public let eigenbases: [ModuleEigenbasis]
    public let correctedEigenvalues: [[[Float]]]
    /// Curvature rows of pass 1 (`curvatureRows`) and sequences of pass 1 and pass 2.
    public let covarianceTokenCount: Int
    public let covarianceSequenceCount: Int
    public let correctionSequenceCount: Int

    public init(eigenbases: [ModuleEigenbasis], correctedEigenvalues: [[[Float]]], covarianceTokenCount: Int,
                covarianceSequenceCount: Int, correctionSequenceCount: Int) {
        self.eigenbases = eigenbases
        self.correctedEigenvalues = correctedEigenvalues
        self.covarianceTokenCount = covarianceTokenCount
        self.covarianceSequenceCount = covarianceSequenceCount
        self.correctionSequenceCount = correctionSequenceCount
    }

    public var layouts: [ModuleLayout] { eigenbases.map(\.layout) }

    /// Mean curvature rows per sequence in pass 1. K-FAC's eigenvalues Λ_S ⊗ Λ_A are token
    /// averages, while Λ (and a sequence's gradient) sums over a sequence's tokens; with
    /// independent tokens E[vec Gₙ vec Gₙᵀ] ≈ T · S ⊗ A, so K-FAC is scaled by T to compare.
    public var tokensPerSequence: Double {
        Double(covarianceTokenCount) / Double(max(covarianceSequenceCount, 1))
    }
}
