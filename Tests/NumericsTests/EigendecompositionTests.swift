import Testing
import Numerics

private func randomSymmetric(_ n: Int, seed: UInt64) -> Matrix<Double> {
    var rng = RandomGenerator(seed: seed)
    let x = Matrix<Double>(rows: n, cols: n + 3) { _, _ in rng.nextNormal() }
    return Matrix<Double>.product(x, x, transposeB: .transposed)  // positive semi-definite, like A and S
}

/// max |M Q − Q Λ| / ‖M‖_max and max |QᵀQ − I|: the residuals that certify a decomposition.
private func residuals(_ m: Matrix<Double>, _ e: SymmetricEigendecomposition<Double>) -> (Double, Double) {
    residuals(m, eigenvalues: e.eigenvalues, eigenvectors: e.eigenvectors)
}

private func residuals(_ m: Matrix<Double>, eigenvalues: [Double], eigenvectors: Matrix<Double>) -> (Double, Double) {
    let e = (eigenvalues: eigenvalues, eigenvectors: eigenvectors)
    let n = m.rows
    let mq = Matrix<Double>.product(m, e.eigenvectors)
    let scale = m.values.map(abs).max()!
    var reconstruction = 0.0
    for i in 0..<n {
        for j in 0..<n {
            reconstruction = max(reconstruction, abs(mq[i, j] - e.eigenvectors[i, j] * e.eigenvalues[j]) / scale)
        }
    }
    let qtq = Matrix<Double>.product(e.eigenvectors, e.eigenvectors, transposeA: .transposed)
    var orthogonality = 0.0
    for i in 0..<n { for j in 0..<n { orthogonality = max(orthogonality, abs(qtq[i, j] - (i == j ? 1 : 0))) } }
    return (reconstruction, orthogonality)
}

@Suite struct EigendecompositionTests {
    @Test func twoByTwoHasTheTextbookAnswer() throws {
        let m = Matrix<Double>(rows: 2, cols: 2, values: [2, 1, 1, 2])
        let e = try SymmetricEigendecomposition(m)
        #expect(abs(e.eigenvalues[0] - 1) < 1e-14 && abs(e.eigenvalues[1] - 3) < 1e-14)
        // The eigenvector of 3 is (1, 1)/√2 up to sign.
        #expect(abs(abs(e.eigenvectors[0, 1]) - 0.5.squareRoot()) < 1e-14)
        #expect(abs(e.eigenvectors[0, 1] - e.eigenvectors[1, 1]) < 1e-14)
    }

    @Test(arguments: [1, 7, 64, 257])
    func doubleResidualsAreAtRoundoff(n: Int) throws {
        let m = randomSymmetric(n, seed: UInt64(n))
        let e = try SymmetricEigendecomposition(m)
        let (reconstruction, orthogonality) = residuals(m, e)
        #expect(reconstruction < 1e-12 * Double(n))
        #expect(orthogonality < 1e-12 * Double(n))
        #expect(zip(e.eigenvalues, e.eigenvalues.dropFirst()).allSatisfy { $0 <= $1 }, "ascending")
        #expect(e.eigenvalues.first! > -1e-9 * e.eigenvalues.last!, "PSD input has no negative eigenvalues")
    }

    @Test func traceAndDiagonalMatrixAreRecovered() throws {
        let values: [Double] = [5, -1, 3, 0.25]
        let m = Matrix<Double>(rows: 4, cols: 4) { r, c in r == c ? values[r] : 0 }
        let e = try SymmetricEigendecomposition(m)
        #expect(e.eigenvalues == values.sorted())
    }

    @Test func floatDecompositionHasSmallResiduals() throws {
        let m = randomSymmetric(96, seed: 3)
        let e = try SymmetricEigendecomposition(m.toFloat())
        let (reconstruction, orthogonality) = residuals(
            m, eigenvalues: e.eigenvalues.map(Double.init), eigenvectors: e.eigenvectors.toDouble())
        #expect(reconstruction < 1e-4)
        #expect(orthogonality < 1e-4)
    }

    @Test func zeroSizedMatrixIsFine() throws {
        let e = try SymmetricEigendecomposition(Matrix<Double>(rows: 0, cols: 0))
        #expect(e.eigenvalues.isEmpty)
    }

    @Test func nonFiniteInputIsAnErrorNotGarbage() {
        let m = Matrix<Double>(rows: 3, cols: 3, values: [1, 0, 0, 0, .nan, 0, 0, 0, 1])
        #expect(throws: LinearAlgebraError.self) { try SymmetricEigendecomposition(m) }
    }
}
