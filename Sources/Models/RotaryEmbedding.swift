import Foundation

/// Rotary position embedding on the first `dimensions` features of each head's query and key,
/// in the rotate-half convention of GPT-NeoX: features i and i + dimensions/2 form a pair
/// rotated by the angle position · base^(−2i/dimensions).
struct RotaryEmbedding {
    let dimensions: Int
    private let cosines: [Float]  // [position][dimensions / 2]
    private let sines: [Float]

    init(dimensions: Int, base: Double, maxPositions: Int) {
        self.dimensions = dimensions
        let half = dimensions / 2
        var cosines = [Float](repeating: 1, count: maxPositions * half)
        var sines = [Float](repeating: 0, count: maxPositions * half)
        for i in 0..<half {
            // transformers computes the inverse frequencies and the angles in Float32; doing the
            // same keeps the angles bit-identical at large positions.
            let exponent = Float(2 * i) / Float(dimensions)
            let inverseFrequency = Float(1 / Foundation.pow(base, Double(exponent)))
            for p in 0..<maxPositions {
                let angle = Float(p) * inverseFrequency
                cosines[p * half + i] = Float(Foundation.cos(Double(angle)))
                sines[p * half + i] = Float(Foundation.sin(Double(angle)))
            }
        }
        self.cosines = cosines
        self.sines = sines
    }

    /// Rotates `vector[0..<dimensions]` in place for `position`; `inverse` rotates back, which
    /// is the backward pass (a rotation's transpose is its inverse).
    @inline(__always)
    func rotate(_ vector: UnsafeMutablePointer<Float>, position: Int, inverse: Bool = false) {
        let half = dimensions / 2
        let sign: Float = inverse ? -1 : 1
        cosines.withUnsafeBufferPointer { cosines in
            sines.withUnsafeBufferPointer { sines in
                let c = cosines.baseAddress! + position * half
                let s = sines.baseAddress! + position * half
                for i in 0..<half {
                    let x1 = vector[i], x2 = vector[i + half]
                    vector[i] = x1 * c[i] - sign * x2 * s[i]
                    vector[i + half] = x2 * c[i] + sign * x1 * s[i]
                }
            }
        }
    }
}
