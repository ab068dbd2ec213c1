import Numerics

/// A fully connected layer y = x Wᵀ + b on row-major activations, W stored [out, in] as
/// Hugging Face stores `nn.Linear` weights. Forward and backward side by side.
enum Linear {
    /// out[N, dOut] = input[N, dIn] · Wᵀ + bias.
    static func forward(
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        output: UnsafeMutablePointer<Float>, rows: Int, inputSize: Int, outputSize: Int
    ) {
        Float.gemm(
            .none, .transposed, m: rows, n: outputSize, k: inputSize, alpha: 1, a: input,
            lda: inputSize, b: weight, ldb: inputSize, beta: 0, c: output, ldc: outputSize)
        guard let bias else { return }
        for r in 0..<rows {
            let row = output + r * outputSize
            forEachChunk(outputSize) { i, lanes in
                storeLanes(loadLanes(row + i, lanes) + loadLanes(bias + i, lanes), row + i, lanes)
            }
        }
    }

    /// Given dOut = ∂L/∂out: inputGradient (=, or += with `accumulateInput`) dOut · W;
    /// when gradients are wanted, weightGradient += dOutᵀ · input and biasGradient += Σ_rows dOut.
    static func backward(
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        accumulateInput: Bool = false,
        weightGradient: UnsafeMutablePointer<Float>?, biasGradient: UnsafeMutablePointer<Float>?,
        rows: Int, inputSize: Int, outputSize: Int
    ) {
        if let inputGradient {
            Float.gemm(
                .none, .none, m: rows, n: inputSize, k: outputSize, alpha: 1, a: outputGradient,
                lda: outputSize, b: weight, ldb: inputSize, beta: accumulateInput ? 1 : 0,
                c: inputGradient, ldc: inputSize)
        }
        if let weightGradient {
            Float.gemm(
                .transposed, .none, m: outputSize, n: inputSize, k: rows, alpha: 1,
                a: outputGradient, lda: outputSize, b: input, ldb: inputSize, beta: 1,
                c: weightGradient, ldc: inputSize)
        }
        if let biasGradient {
            for r in 0..<rows {
                let row = outputGradient + r * outputSize
                forEachChunk(outputSize) { i, lanes in
                    storeLanes(loadLanes(biasGradient + i, lanes) + loadLanes(row + i, lanes), biasGradient + i, lanes)
                }
            }
        }
    }
}
