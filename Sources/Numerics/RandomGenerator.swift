import Foundation

/// A seeded, reproducible random number generator: xoshiro256** seeded through SplitMix64.
///
/// Everything random in the project (weight initialisation, label sampling for the Fisher,
/// data shuffling, trial sampling) draws from this so that a seed reproduces a run bit for bit
/// on any machine. Uniform and normal draws are implemented here, not taken from the standard
/// library, whose algorithms may change between Swift releases.
public struct RandomGenerator: RandomNumberGenerator, Sendable {
    private var s0, s1, s2, s3: UInt64

    public init(seed: UInt64) {
        var state = seed
        func splitMix() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(); s1 = splitMix(); s2 = splitMix(); s3 = splitMix()
    }

    public mutating func next() -> UInt64 {
        let result = rotateLeft(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = rotateLeft(s3, 45)
        return result
    }

    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextUniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform integer in 0..<bound (Lemire's unbiased multiply-shift).
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        let b = UInt64(bound)
        var product = next().multipliedFullWidth(by: b)
        if product.low < b {
            let threshold = (0 &- b) % b
            while product.low < threshold { product = next().multipliedFullWidth(by: b) }
        }
        return Int(product.high)
    }

    /// Standard normal (Box–Muller; one of the pair is discarded to keep the state simple).
    public mutating func nextNormal() -> Double {
        let u1 = 1 - nextUniform()  // in (0, 1], so the log is finite
        let u2 = nextUniform()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }

    /// An index drawn from the categorical distribution `probabilities` (non-negative, summing to
    /// about one; the last index with positive mass absorbs rounding).
    public mutating func nextCategorical(_ probabilities: UnsafeBufferPointer<Float>) -> Int {
        let u = Float(nextUniform())
        var cumulative: Float = 0
        var lastPositive = 0
        for (i, p) in probabilities.enumerated() where p > 0 {
            cumulative += p
            lastPositive = i
            if u < cumulative { return i }
        }
        return lastPositive
    }

    /// Fills `buffer` with normal draws of the given standard deviation.
    public mutating func fillNormal(_ buffer: UnsafeMutableBufferPointer<Float>, standardDeviation: Float) {
        for i in buffer.indices { buffer[i] = Float(nextNormal()) * standardDeviation }
    }

    /// A Fisher–Yates shuffle of `array`.
    public mutating func shuffle<T>(_ array: inout [T]) {
        guard array.count > 1 else { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) {
            array.swapAt(i, nextInt(below: i + 1))
        }
    }
}
