/// GELU and its derivative, in the two forms Hugging Face configs name.
public enum GELU: String, Sendable, Codable {
    /// 0.5·x·(1 + erf(x/√2)): `gelu` in transformers (GPT-NeoX, BERT).
    case exact = "gelu"
    /// 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))): `gelu_new`, `gelu_pytorch_tanh`, `gelu_fast` (GPT-2).
    case tanhApproximation = "gelu_new"

    /// Maps a config's `hidden_act` / `activation_function` string, or nil when unsupported.
    /// The name config.json uses for this function.
    public var huggingFaceName: String {
        switch self {
        case .exact: "gelu"
        case .tanhApproximation: "gelu_new"
        }
    }

    public init?(huggingFaceName name: String) {
        switch name {
        case "gelu", "gelu_python": self = .exact
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .tanhApproximation
        default: return nil
        }
    }

    /// out[i] = gelu(x[i]). `out` may alias `x`.
    public func forward(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .exact:
            forEachChunk(count) { i, lanes in
                let v = loadLanes(x + i, lanes)
                storeLanes(0.5 * v * (1 + erf(v * 0.707_106_78)), out + i, lanes)
            }
        case .tanhApproximation:
            forEachChunk(count) { i, lanes in
                let v = loadLanes(x + i, lanes)
                let (onePlusTanh, _) = tanhTerms(0.797_884_56 * (v + 0.044_715 * v * v * v))
                storeLanes(0.5 * v * onePlusTanh, out + i, lanes)
            }
        }
    }

    /// dx[i] (+)= dout[i] · gelu'(x[i]), where `x` is the forward input. With `accumulate`
    /// the result is added to `dx`, as a backward pass accumulates gradients.
    public func backward(
        input x: UnsafePointer<Float>, outputGradient dout: UnsafePointer<Float>,
        inputGradient dx: UnsafeMutablePointer<Float>, count: Int, accumulate: Bool = false
    ) {
        switch self {
        case .exact:
            forEachChunk(count) { i, lanes in
                let v = loadLanes(x + i, lanes)
                // d/dx [x·Φ(x)] = Φ(x) + x·φ(x)
                let cdf = 0.5 * (1 + erf(v * 0.707_106_78))
                let pdf = 0.398_942_28 * exp(-0.5 * v * v)
                var g = loadLanes(dout + i, lanes) * (cdf + v * pdf)
                if accumulate { g += loadLanes(dx + i, lanes) }
                storeLanes(g, dx + i, lanes)
            }
        case .tanhApproximation:
            forEachChunk(count) { i, lanes in
                let v = loadLanes(x + i, lanes)
                let (onePlusTanh, oneMinusTanhSquared) = tanhTerms(0.797_884_56 * (v + 0.044_715 * v * v * v))
                let du = 0.797_884_56 * (1 + 3 * 0.044_715 * v * v)
                let local = 0.5 * onePlusTanh + 0.5 * v * oneMinusTanhSquared * du
                var g = loadLanes(dout + i, lanes) * local
                if accumulate { g += loadLanes(dx + i, lanes) }
                storeLanes(g, dx + i, lanes)
            }
        }
    }
}

/// (1 + tanh u, 1 − tanh² u) computed without cancellation: with e = e²ᵘ and s = 1/(e + 1),
/// 1 + tanh u = 2es and 1 − tanh² u = 4es². Forming 1 + t from t ≈ −1 would lose every
/// significant digit in the negative tail, where GELU and its derivative are small.
@inlinable @inline(__always)
public func tanhTerms(_ u: Float8) -> (onePlusTanh: Float8, oneMinusTanhSquared: Float8) {
    // tanh saturates in Float32 long before |u| = 20, and e⁴⁰ is still finite.
    let bounded = clamp(u, -20, 20)
    let e = exp(2 * bounded)
    let s = 1 / (e + 1)
    let es = e * s
    return (2 * es, 4 * es * s)
}

/// SwiGLU, the Llama family's gated activation: out = silu(gate) ⊙ up with
/// silu(x) = x·σ(x). Forward and backward side by side.
public enum SwiGLU {
    /// σ(x) = 1 / (1 + e⁻ˣ), computed without overflow for large |x|.
    @inlinable @inline(__always)
    static func sigmoid(_ x: Float8) -> Float8 { 1 / (1 + exp(-x)) }

    /// out[i] = silu(gate[i]) · up[i]. `out` may alias either input.
    public static func forward(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int) {
        forEachChunk(count) { i, lanes in
            let g = loadLanes(gate + i, lanes)
            storeLanes(g * sigmoid(g) * loadLanes(up + i, lanes), out + i, lanes)
        }
    }

    /// Given dout: dup = dout · silu(gate) and dgate = dout · up · silu'(gate), with
    /// silu'(x) = σ(x)(1 + x(1 − σ(x))). The gradients may alias `dout`, not the inputs.
    public static func backward(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, outputGradient dout: UnsafePointer<Float>,
        gateGradient: UnsafeMutablePointer<Float>, upGradient: UnsafeMutablePointer<Float>, count: Int
    ) {
        forEachChunk(count) { i, lanes in
            let g = loadLanes(gate + i, lanes), u = loadLanes(up + i, lanes), d = loadLanes(dout + i, lanes)
            let s = sigmoid(g)
            storeLanes(d * u * s * (1 + g * (1 - s)), gateGradient + i, lanes)
            storeLanes(d * g * s, upGradient + i, lanes)
        }
    }

    /// Forward mode: dout = dgate · up · silu'(gate) + dup · silu(gate). `outputTangent` may
    /// alias either tangent, not the inputs.
    public static func tangent(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, gateTangent: UnsafePointer<Float>, upTangent: UnsafePointer<Float>,
        outputTangent: UnsafeMutablePointer<Float>, count: Int
    ) {
        forEachChunk(count) { i, lanes in
            let g = loadLanes(gate + i, lanes), u = loadLanes(up + i, lanes)
            let s = sigmoid(g)
            let value = loadLanes(gateTangent + i, lanes) * u * s * (1 + g * (1 - s)) + loadLanes(upTangent + i, lanes) * g * s
            storeLanes(value, outputTangent + i, lanes)
        }
    }
}
