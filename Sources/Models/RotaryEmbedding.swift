import Foundation

/// Rotary position embedding on the first `dimensions` features of each head's query and key,
/// in Hugging Face's rotate-half convention (GPT-NeoX, Llama): features i and i + dimensions/2
/// form a pair rotated by the angle position · f_i, f_i = base^(−2i/dimensions), rescaled by
/// `scaling` for models trained to longer contexts.
public struct RotaryEmbedding: Sendable {
    let dimensions: Int
    /// base^(−2i/dimensions) for each pair i.
    private let inverseFrequencies: [Float]
    private let tabulatedPositions: Int
    private let cosines: [Float]  // [position][dimensions / 2]
    private let sines: [Float]

    /// Positions whose angles are tabulated ahead. config.json's max_position_embeddings can
    /// be 2^31 (tables of many gigabytes); later positions are computed when they come, by the
    /// same arithmetic, so the results do not depend on the cut.
    static let largestTable = 8192

    /// transformers' `rope_scaling` types (modeling_rope_utils).
    public enum Scaling: Sendable, Equatable {
        case none
        /// Every frequency divided by `factor` (positions interpolated).
        case linear(factor: Float)
        /// Llama 3.1: long wavelengths divided by `factor`, short ones kept, a smooth blend between.
        case llama3(factor: Float, lowFrequencyFactor: Float, highFrequencyFactor: Float, originalContext: Int)
        /// Frequency i divided by factors[i]: how GGUF files carry Llama 3.1's scaling
        /// (`rope_freqs.weight`, which llama.cpp's converter computes from the llama3 rule).
        case frequencyFactors([Float])

        /// Applies the scaling to inverse frequency `i`, in Float32 as transformers does.
        public func scaled(_ f: Float, index i: Int) -> Float {
            switch self {
            case .frequencyFactors(let factors): return f / factors[i]
            case .none: return f
            case .linear(let factor): return f / factor
            case .llama3(let factor, let low, let high, let original):
                let wavelength = 2 * Float.pi / f
                let lowFrequencyWavelength = Float(original) / low, highFrequencyWavelength = Float(original) / high
                if wavelength > lowFrequencyWavelength { return f / factor }
                if wavelength < highFrequencyWavelength { return f }
                let smooth = (Float(original) / wavelength - low) / (high - low)
                return (1 - smooth) * f / factor + smooth * f
            }
        }
    }

    init(dimensions: Int, base: Double, maxPositions: Int, scaling: Scaling = .none) {
        self.dimensions = dimensions
        let half = dimensions / 2
        // transformers computes the inverse frequencies and the angles in Float32; doing the
        // same keeps the angles bit-identical at large positions.
        inverseFrequencies = (0..<half).map { i in
            scaling.scaled(Float(1 / Foundation.pow(base, Double(Float(2 * i) / Float(dimensions)))), index: i)
        }
        tabulatedPositions = min(maxPositions, Self.largestTable)
        var cosines = [Float](repeating: 1, count: tabulatedPositions * half)
        var sines = [Float](repeating: 0, count: tabulatedPositions * half)
        for p in 0..<tabulatedPositions {
            for i in 0..<half {
                (cosines[p * half + i], sines[p * half + i]) = Self.cosineAndSine(position: p, inverseFrequency: inverseFrequencies[i])
            }
        }
        self.cosines = cosines
        self.sines = sines
    }

    @inline(__always)
    private static func cosineAndSine(position: Int, inverseFrequency: Float) -> (Float, Float) {
        let angle = Float(position) * inverseFrequency
        return (Float(Foundation.cos(Double(angle))), Float(Foundation.sin(Double(angle))))
    }

    /// Rotates `vector[0..<dimensions]` in place for `position`; `inverse` rotates back, which
    /// is the backward pass (a rotation's transpose is its inverse).
    @inline(__always)
    func rotate(_ vector: UnsafeMutablePointer<Float>, position: Int, inverse: Bool = false) {
        let half = dimensions / 2
        let sign: Float = inverse ? -1 : 1
        guard position < tabulatedPositions else {
            for i in 0..<half {
                let (c, s) = Self.cosineAndSine(position: position, inverseFrequency: inverseFrequencies[i])
                let x1 = vector[i], x2 = vector[i + half]
                vector[i] = x1 * c - sign * x2 * s
                vector[i + half] = x2 * c + sign * x1 * s
            }
            return
        }
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
