import Foundation
import Numerics

/// Linear CKA (Kornblith et al. 2019) between a query's and a document's gradients, the
/// paper's similarity baseline "on query and training gradients": per tracked module, the
/// gradient matrix [outputSize × inputSize] is read as `outputSize` samples of `inputSize`
/// features, its columns centred, and CKA(X, Y) = ‖XᵀY‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) =
/// ⟨XXᵀ, YYᵀ⟩_F / (‖XXᵀ‖_F ‖YYᵀ‖_F), in [0, 1]. A pair's score is the mean over modules.
public enum GradientCKA {
    /// The centred, unit-Frobenius-norm Gram matrix XXᵀ [rows × rows] of one module's gradient
    /// (nil when the gradient is constant across rows: CKA is undefined).
    public static func normalizedGram(_ gradient: [Float], rows: Int, cols: Int) -> [Double]? {
        var centred = gradient.map(Double.init)
        for j in 0..<cols {
            var mean = 0.0
            for i in 0..<rows { mean += centred[i * cols + j] }
            mean /= Double(rows)
            for i in 0..<rows { centred[i * cols + j] -= mean }
        }
        var gram = [Double](repeating: 0, count: rows * rows)
        centred.withUnsafeBufferPointer { x in
            gram.withUnsafeMutableBufferPointer { g in
                Double.gemm(.none, .transposed, m: rows, n: rows, k: cols, alpha: 1, a: x.baseAddress!, lda: cols,
                            b: x.baseAddress!, ldb: cols, beta: 0, c: g.baseAddress!, ldc: rows)
            }
        }
        let size = gram.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard size > 0, size.isFinite else { return nil }
        return gram.map { $0 / size }
    }

    /// CKA from two normalised Grams: their Frobenius inner product (0 when either is undefined).
    public static func similarity(_ a: [Double]?, _ b: [Double]?) -> Double {
        guard let a, let b else { return 0 }
        var total = 0.0
        for i in a.indices { total += a[i] * b[i] }
        return total
    }
}
