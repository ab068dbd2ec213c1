import Testing
import Numerics

/// Naive triple loop in Float64: the reference every GEMM result is checked against.
private func naiveProduct<E: BLASScalar>(
    _ a: Matrix<E>, _ ta: Transpose, _ b: Matrix<E>, _ tb: Transpose
) -> [Double] {
    let m = ta == .none ? a.rows : a.cols, k = ta == .none ? a.cols : a.rows
    let n = tb == .none ? b.cols : b.rows
    var c = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let x = ta == .none ? a[i, p] : a[p, i]
                let y = tb == .none ? b[p, j] : b[j, p]
                s += Double(x) * Double(y)
            }
            c[i * n + j] = s
        }
    }
    return c
}

private func randomMatrix<E: BLASScalar>(_ rows: Int, _ cols: Int, _ rng: inout RandomGenerator) -> Matrix<E> {
    Matrix(rows: rows, cols: cols) { _, _ in E(rng.nextNormal()) }
}

@Suite struct GEMMTests {
    static let transposes: [(Transpose, Transpose)] = [
        (.none, .none), (.none, .transposed), (.transposed, .none), (.transposed, .transposed),
    ]

    @Test(arguments: 0..<4)
    func floatGEMMMatchesNaiveForEveryTransposeCombination(combination: Int) {
        let (ta, tb) = Self.transposes[combination]
        var rng = RandomGenerator(seed: 7)
        let (m, k, n) = (37, 53, 29)  // odd sizes exercise the BLAS kernels' edge handling
        let a: Matrix<Float> = ta == .none ? randomMatrix(m, k, &rng) : randomMatrix(k, m, &rng)
        let b: Matrix<Float> = tb == .none ? randomMatrix(k, n, &rng) : randomMatrix(n, k, &rng)
        let c = Matrix<Float>.product(a, b, transposeA: ta, transposeB: tb)
        let expected = naiveProduct(a, ta, b, tb)
        #expect(c.rows == m && c.cols == n)
        for i in 0..<(m * n) {
            #expect(abs(Double(c.storage[i]) - expected[i]) <= 1e-4 * (1 + abs(expected[i])))
        }
    }

    @Test(arguments: 0..<4)
    func doubleGEMMMatchesNaiveForEveryTransposeCombination(combination: Int) {
        let (ta, tb) = Self.transposes[combination]
        var rng = RandomGenerator(seed: 8)
        let (m, k, n) = (19, 41, 23)
        let a: Matrix<Double> = ta == .none ? randomMatrix(m, k, &rng) : randomMatrix(k, m, &rng)
        let b: Matrix<Double> = tb == .none ? randomMatrix(k, n, &rng) : randomMatrix(n, k, &rng)
        let c = Matrix<Double>.product(a, b, transposeA: ta, transposeB: tb)
        let expected = naiveProduct(a, ta, b, tb)
        for i in 0..<(m * n) { #expect(abs(c.storage[i] - expected[i]) <= 1e-12 * (1 + abs(expected[i]))) }
    }

    @Test func alphaAndBetaScaleAndAccumulate() {
        var rng = RandomGenerator(seed: 9)
        let a: Matrix<Double> = randomMatrix(5, 6, &rng)
        let b: Matrix<Double> = randomMatrix(6, 4, &rng)
        let c: Matrix<Double> = randomMatrix(5, 4, &rng)
        let before = c.values
        c.multiply(a, b, alpha: 2, beta: -0.5)
        let ab = naiveProduct(a, .none, b, .none)
        for i in 0..<20 { #expect(abs(c.storage[i] - (2 * ab[i] - 0.5 * before[i])) < 1e-12) }
    }

    @Test func syrkComputesTheGramMatrix() {
        var rng = RandomGenerator(seed: 10)
        let a: Matrix<Double> = randomMatrix(31, 12, &rng)  // tokens × features
        let gram = Matrix<Double>(rows: 12, cols: 12)
        Double.syrk(.transposed, n: 12, k: 31, alpha: 1, a: a.storage, lda: 12, beta: 0, c: gram.storage, ldc: 12)
        gram.symmetrizeFromUpper()
        let expected = naiveProduct(a, .transposed, a, .none)
        for i in 0..<144 { #expect(abs(gram.storage[i] - expected[i]) < 1e-10) }
    }

    @Test func floatSyrkMatchesGEMMOnTheUpperTriangle() {
        var rng = RandomGenerator(seed: 11)
        let a: Matrix<Float> = randomMatrix(9, 40, &rng)  // rows are vectors: C = A Aᵀ
        let gram = Matrix<Float>(rows: 9, cols: 9)
        Float.syrk(.none, n: 9, k: 40, alpha: 1, a: a.storage, lda: 40, beta: 0, c: gram.storage, ldc: 9)
        gram.symmetrizeFromUpper()
        let expected = naiveProduct(a, .none, a, .transposed)
        for i in 0..<81 { #expect(abs(Double(gram.storage[i]) - expected[i]) < 1e-4 * (1 + abs(expected[i]))) }
    }
}
