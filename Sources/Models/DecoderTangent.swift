import Numerics

/// A direction in the tracked linear modules' weights, for forward-mode passes: per module
/// index (`LinearModuleTap.moduleIndex`), a row-major [outputSize × columns] matrix, whose last
/// column is the bias's direction when `includesBias` (the layout of `ModuleLayout`, the same
/// as the pseudo-gradients EK-FAC preconditions). Modules without an entry are held fixed.
public struct WeightDirection {
    public struct Matrix {
        public let values: UnsafePointer<Float>
        public let includesBias: Bool

        public init(values: UnsafePointer<Float>, includesBias: Bool) {
            self.values = values
            self.includesBias = includesBias
        }
    }

    public var matrices: [Int: Matrix]

    public init(_ matrices: [Int: Matrix] = [:]) { self.matrices = matrices }
}

/// The tangent buffers of one forward-mode pass (`DecoderModel.tangent`): the residual
/// stream's tangent and one layer's intermediate tangents at a time, and the logits' tangent.
public final class DecoderTangents {
    private let stream = FloatBuffer(), spare = FloatBuffer(), norm = FloatBuffer(), mlpInput = FloatBuffer()
    private let qkv = FloatBuffer(), attention = FloatBuffer(), projection = FloatBuffer()
    private let hidden = FloatBuffer(), up = FloatBuffer(), scratch = FloatBuffer()
    private let logitBuffer = FloatBuffer()

    public init() {}

    /// The logits' tangent [N, V] (or [sequences, labels] for a classifier) of the last pass.
    public var logits: UnsafeMutablePointer<Float> { logitBuffer.pointer }

    fileprivate func prepare(_ h: DecoderHyperparameters, _ batch: TokenBatch, scratch count: Int) {
        let N = batch.tokenCount, H = h.hiddenSize, I = h.intermediateSize
        for buffer in [stream, spare, norm, mlpInput, projection] { buffer.reserve(N * H) }
        qkv.reserve(N * h.qkvWidth)
        attention.reserve(N * h.attentionWidth)
        hidden.reserve(N * I)
        up.reserve(N * I)
        scratch.reserve(count)
        logitBuffer.reserve(h.classifierLabels == nil ? N * h.vocabularySize : batch.sequenceCount * h.outputWidth)
    }

    fileprivate var buffers: (stream: UnsafeMutablePointer<Float>, spare: UnsafeMutablePointer<Float>, norm: UnsafeMutablePointer<Float>,
                              mlpInput: UnsafeMutablePointer<Float>, qkv: UnsafeMutablePointer<Float>, attention: UnsafeMutablePointer<Float>,
                              projection: UnsafeMutablePointer<Float>, hidden: UnsafeMutablePointer<Float>, up: UnsafeMutablePointer<Float>,
                              scratch: UnsafeMutablePointer<Float>) {
        (stream.pointer, spare.pointer, norm.pointer, mlpInput.pointer, qkv.pointer, attention.pointer, projection.pointer,
         hidden.pointer, up.pointer, scratch.pointer)
    }
}

extension DecoderModel {
    /// Forward mode (a Jacobian–vector product): the logits' tangent J·v for a move `direction`
    /// of the tracked modules' weights, written to `tangents.logits`. Reads the activations of
    /// the batch last run by `forward` (it must be this batch), which it leaves unchanged, and
    /// mirrors `forward` op by op: each linear map's tangent is dx·Wᵀ + x·dWᵀ + db, each norm's
    /// and activation's their Jacobian applied to dx, attention's `CausalSelfAttention.tangent`.
    /// Until the first module with a direction the stream's tangent is zero and is skipped.
    public func tangent(_ batch: TokenBatch, _ a: DecoderActivations, direction: WeightDirection, tangents t: DecoderTangents) {
        let h = hyperparameters
        let N = batch.tokenCount, H = h.hiddenSize, I = h.intermediateSize, A = h.attentionWidth
        let w = parameters.values
        t.prepare(h, batch, scratch: attention.scratchCount(batch))
        let buffers = t.buffers
        let (norm, mlpInputTangent, qkv, attentionTangent) = (buffers.norm, buffers.mlpInput, buffers.qkv, buffers.attention)
        let (projection, hidden, up, scratch) = (buffers.projection, buffers.hidden, buffers.up, buffers.scratch)
        // The stream's tangent and the next layer's swap buffers after each layer.
        var (stream, spare) = (buffers.stream, buffers.spare)

        /// out = dx·Wᵀ (with dx) + x·dWᵀ + db (with a direction); zero when neither. Whether it is nonzero.
        @discardableResult
        func linearTangent(_ weights: LinearWeights, module: Int, input x: UnsafePointer<Float>, inputTangent dx: UnsafePointer<Float>?,
                           output out: UnsafeMutablePointer<Float>, in inputSize: Int, out outputSize: Int) -> Bool {
            var beta: Float = 0
            if let dx {
                Float.gemm(.none, .transposed, m: N, n: outputSize, k: inputSize, alpha: 1, a: dx, lda: inputSize,
                           b: widened(weights.weight, a), ldb: inputSize, beta: 0, c: out, ldc: outputSize)
                beta = 1
            }
            if let matrix = direction.matrices[module] {
                let columns = inputSize + (matrix.includesBias ? 1 : 0)
                Float.gemm(.none, .transposed, m: N, n: outputSize, k: inputSize, alpha: 1, a: x, lda: inputSize,
                           b: matrix.values, ldb: columns, beta: beta, c: out, ldc: outputSize)
                beta = 1
                if matrix.includesBias {
                    for o in 0..<outputSize {
                        let bias = matrix.values[o * columns + inputSize]
                        for row in 0..<N { out[row * outputSize + o] += bias }
                    }
                }
            }
            if beta == 0 { out.update(repeating: 0, count: N * outputSize) }
            return beta != 0
        }
        func normTangent(_ x: UnsafePointer<Float>, _ weights: NormWeights, mean: UnsafePointer<Float>, reciprocalStd: UnsafePointer<Float>,
                         _ dx: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
            if weights.bias != nil {
                LayerNorm.tangent(input: x, weight: w + weights.weight, mean: mean, reciprocalStd: reciprocalStd, inputTangent: dx,
                                  outputTangent: out, rows: N, cols: H)
            } else {
                RMSNorm.tangent(input: x, weight: w + weights.weight, reciprocalRMS: reciprocalStd, inputTangent: dx,
                                outputTangent: out, rows: N, cols: H)
            }
        }
        func sum(_ parts: [UnsafePointer<Float>], into out: UnsafeMutablePointer<Float>) {
            out.update(from: parts[0], count: N * H)
            for part in parts.dropFirst() { add(out, part, into: out, count: N * H) }
        }

        // The embeddings are not tracked: the stream's tangent starts at zero (nil).
        var streamTangent: UnsafeMutablePointer<Float>? = nil
        for l in 0..<h.layerCount {
            let lw = layers[l], first = l * slots.perLayer
            let x = a.layerInput(l)
            // Attention half.
            let n1: UnsafePointer<Float>? = streamTangent.map { dx in
                normTangent(x, lw.norm1, mean: a.norm1Mean(l), reciprocalStd: a.norm1Rstd(l), dx, into: norm)
                return UnsafePointer(norm)
            }
            var attentionMoves = false
            if lw.qkv.count == 1 {
                attentionMoves = linearTangent(lw.qkv[0], module: first, input: a.norm1(l), inputTangent: n1, output: qkv,
                                               in: H, out: h.qkvWidth)
            } else {
                for (slot, (projectionWeights, (width, offset))) in zip(lw.qkv, separateProjections(tokens: N)).enumerated() {
                    attentionMoves = linearTangent(projectionWeights, module: first + slot, input: a.norm1(l), inputTangent: n1,
                                                   output: qkv + offset, in: H, out: width) || attentionMoves
                }
            }
            if attentionMoves {
                self.attention.tangent(qkvViews(a.qkv(l), tokens: N), statistics: a.attentionStatistics(l),
                                       tangents: qkvViews(qkv, tokens: N), outputTangent: attentionTangent, scratch: scratch, batch: batch)
            }
            let projectionMoves = linearTangent(lw.output, module: first + slots.output, input: a.attentionOutput(l),
                                                inputTangent: attentionMoves ? UnsafePointer(attentionTangent) : nil,
                                                output: projection, in: A, out: H)
            // The MLP's input stream: x in parallel mode, x + attention in sequential mode.
            let mlpInput = h.parallelResidual ? x : a.postAttention(l)
            var mlpInputMoves: UnsafePointer<Float>? = nil
            if h.parallelResidual {
                mlpInputMoves = streamTangent.map { UnsafePointer($0) }
            } else if streamTangent != nil || projectionMoves {
                sum((streamTangent.map { [UnsafePointer($0)] } ?? []) + (projectionMoves ? [UnsafePointer(projection)] : []),
                    into: mlpInputTangent)
                mlpInputMoves = UnsafePointer(mlpInputTangent)
            }
            // MLP half.
            let n2: UnsafePointer<Float>? = mlpInputMoves.map { dx in
                normTangent(mlpInput, lw.norm2, mean: a.norm2Mean(l), reciprocalStd: a.norm2Rstd(l), dx, into: norm)
                return UnsafePointer(norm)
            }
            var activatedMoves: Bool
            switch h.feedForward {
            case .gelu(let gelu):
                activatedMoves = linearTangent(lw.up, module: first + slots.up, input: a.norm2(l), inputTangent: n2, output: hidden,
                                               in: H, out: I)
                if activatedMoves { gelu.backward(input: a.mlpHidden(l), outputGradient: hidden, inputGradient: hidden, count: N * I) }
            case .swiGLU:
                let gateMoves = linearTangent(lw.gate!, module: first + slots.gate!, input: a.norm2(l), inputTangent: n2, output: hidden,
                                              in: H, out: I)
                let upMoves = linearTangent(lw.up, module: first + slots.up, input: a.norm2(l), inputTangent: n2, output: up, in: H, out: I)
                activatedMoves = gateMoves || upMoves
                if activatedMoves {
                    SwiGLU.tangent(gate: a.mlpHidden(l), up: a.mlpUp(l), gateTangent: hidden, upTangent: up, outputTangent: hidden, count: N * I)
                }
            }
            let mlpMoves = linearTangent(lw.down, module: first + slots.down, input: a.mlpActivated(l),
                                         inputTangent: activatedMoves ? UnsafePointer(hidden) : nil, output: spare, in: I, out: H)
            // next = mlp + x + attention (parallel) or mlp + (x + attention) (sequential).
            let others: [UnsafePointer<Float>] = h.parallelResidual
                ? (streamTangent.map { [UnsafePointer($0)] } ?? []) + (projectionMoves ? [UnsafePointer(projection)] : [])
                : (mlpInputMoves.map { [$0] } ?? [])
            if mlpMoves || !others.isEmpty {
                for part in others { add(spare, part, into: spare, count: N * H) }
                swap(&stream, &spare)
                streamTangent = stream
            }
        }

        let V = h.vocabularySize
        guard let finalTangent = streamTangent else {
            t.logits.update(repeating: 0, count: h.classifierLabels == nil ? N * V : batch.sequenceCount * h.outputWidth)
            return
        }
        normTangent(a.layerInput(h.layerCount), finalNorm, mean: a.finalMean, reciprocalStd: a.finalRstd, finalTangent, into: norm)
        if h.classifierLabels == nil {
            forEachHeadBlock(a) { rows, block in
                Float.gemm(.none, .transposed, m: N, n: rows.count, k: H, alpha: 1, a: norm, lda: H,
                           b: block, ldb: H, beta: 0, c: t.logits + rows.lowerBound, ldc: V)
            }
        } else {
            let weight = widened(head, a)
            for (s, row) in headRows(batch).enumerated() {
                Float.gemm(.none, .transposed, m: 1, n: h.outputWidth, k: H, alpha: 1, a: norm + row * H, lda: H,
                           b: weight, ldb: H, beta: 0, c: t.logits + s * h.outputWidth, ldc: h.outputWidth)
            }
        }
    }
}
