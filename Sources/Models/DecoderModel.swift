import Checkpoints
import Numerics

/// A decoder-only transformer with hand-written forward and backward passes: one decoder for
/// every family (GPT-NeoX/Pythia, BLOOM, GPT-2, Llama/SmolLM2, Qwen2, Mistral), whose
/// `DecoderHyperparameters` say which part each family uses.
///
/// One token's path: embedding (+ learned positions, GPT-2; + a norm, BLOOM) → for each layer
/// [norm → q, k, v → rotary → causal attention → output projection] and [norm → MLP (GELU or
/// SwiGLU)], combined in parallel, x + attn(n1(x)) + mlp(n2(x)) (GPT-NeoX), or in sequence,
/// h = x + attn(n1(x)); h + mlp(n2(h)) → final norm → head → logits.
///
/// Every batch is packed (`TokenBatch`): N rows, one per real token. The forward pass keeps
/// the activations the backward pass needs in a `DecoderActivations`; the backward pass
/// reports each tracked linear module's inputs and output gradients to an optional observer
/// and, optionally, accumulates parameter gradients.
public final class DecoderModel: @unchecked Sendable {
    public let hyperparameters: DecoderHyperparameters
    public let parameters: ParameterStore
    private(set) var attention: CausalSelfAttention
    let layers: [LayerWeights]
    private let embedding: ParameterStore.Entry, positionEmbedding: ParameterStore.Entry?
    /// The output head (the embedding when tied).
    let head: ParameterStore.Entry
    /// The largest 16-bit linear matrix (0 when all are Float32).
    private let largestSixteenBitMatrix: Int
    let embeddingNorm: NormWeights?, finalNorm: NormWeights
    let slots: ModuleSlots

    /// One linear module's weight (Float32 or 16-bit) and the offset of its bias in `parameters`.
    struct LinearWeights { let weight: ParameterStore.Entry; let bias: Int? }
    /// Offsets of one norm (RMSNorm has no bias).
    struct NormWeights { let weight: Int; let bias: Int? }
    /// One layer's parameters, resolved once by name. `qkv` holds one fused projection or
    /// q, k and v.
    struct LayerWeights {
        let norm1, norm2: NormWeights
        let qkv: [LinearWeights]
        let output: LinearWeights
        let gate: LinearWeights?
        let up, down: LinearWeights
    }

    /// Where each tracked module of a layer sits among the layer's `modulesPerLayer`.
    struct ModuleSlots {
        let perLayer: Int, output: Int, gate: Int?, up: Int, down: Int

        init(_ h: DecoderHyperparameters) {
            perLayer = DecoderModel.modulesPerLayer(h)
            output = h.qkvProjection == .separate ? 3 : 1
            gate = h.feedForward == .swiGLU ? output + 1 : nil
            up = output + (h.feedForward == .swiGLU ? 2 : 1)
            down = up + 1
        }
    }

    public init(hyperparameters: DecoderHyperparameters, parameters: ParameterStore) {
        let h = hyperparameters
        self.hyperparameters = h
        self.parameters = parameters
        attention = CausalSelfAttention(
            headCount: h.headCount, keyValueHeadCount: h.keyValueHeadCount, headSize: h.headSize,
            rotary: RotaryEmbedding(dimensions: h.positions == .rotary ? h.rotaryDimensions : 0, base: h.rotaryBase,
                                    maxPositions: h.maxPositions, scaling: h.rotaryScaling),
            alibiSlopes: h.positions == .alibi ? CausalSelfAttention.alibiSlopes(heads: h.headCount) : nil,
            window: h.attentionWindow)
        func entry(_ name: String) -> ParameterStore.Entry {
            guard let entry = parameters.entry(name) else { preconditionFailure("parameter store lacks \(name)") }
            return entry
        }
        // Norms and biases are always Float32: only matrices are kept in 16-bit.
        func offset(_ name: String) -> Int {
            let e = entry(name)
            precondition(e.isFloat32, "\(name) must be held as Float32")
            return e.offset
        }
        func linear(_ prefix: String, bias: Bool) -> LinearWeights {
            LinearWeights(weight: entry(prefix + ".weight"), bias: bias ? offset(prefix + ".bias") : nil)
        }
        func norm(_ prefix: String) -> NormWeights {
            NormWeights(weight: offset(prefix + ".weight"), bias: h.norm == .layerNorm ? offset(prefix + ".bias") : nil)
        }
        let names = h.names
        embedding = entry(names.embedding)
        positionEmbedding = h.positions == .learned ? entry(names.positionEmbedding) : nil
        let headName = h.classifierLabels != nil ? "score.weight" : h.tiedEmbeddings ? nil : names.unembedding
        head = headName.map(entry) ?? embedding
        embeddingNorm = h.embeddingNorm ? norm(names.embeddingNorm) : nil
        finalNorm = norm(names.finalNorm)
        slots = ModuleSlots(h)
        layers = (0..<h.layerCount).map { l in
            let p = names.layer(l), a = p + names.attention
            let qkv = names.fusedQKV.map { [linear(a + $0, bias: h.qkvBias)] }
                ?? ["q_proj", "k_proj", "v_proj"].map { linear(a + $0, bias: h.qkvBias) }
            return LayerWeights(
                norm1: norm(p + names.attentionNorm), norm2: norm(p + names.mlpNorm), qkv: qkv,
                output: linear(a + names.attentionOutput, bias: h.outputBias),
                gate: h.feedForward == .swiGLU ? linear(p + names.mlpGate, bias: h.mlpBias) : nil,
                up: linear(p + names.mlpUp, bias: h.mlpBias), down: linear(p + names.mlpDown, bias: h.mlpBias))
        }
        // The scratch holds the largest 16-bit linear matrix; the head's blocks fit in it too.
        let matrices = layers.flatMap { $0.qkv + [$0.output, $0.up, $0.down] + ($0.gate.map { [$0] } ?? []) }.map(\.weight)
        largestSixteenBitMatrix = matrices.filter { !$0.isFloat32 }.map(\.count).max() ?? 0
        headBlockRows = head.isFloat32 ? 0 : Self.headBlockRows(headRows: head.shape[0], largestMatrix: largestSixteenBitMatrix, hidden: h.hiddenSize)
    }

    /// Rows of a 16-bit head widened at a time (0 for a Float32 head). Any value gives the same
    /// logits and, to the order of one sum, the same gradients (tests vary it).
    public var headBlockRows: Int {
        didSet { headBlockRows = head.isFloat32 ? 0 : min(head.shape[0], max(1, headBlockRows)) }
    }

    /// Floats of the scratch a 16-bit matrix (or block of head rows) is widened into before its product.
    public var weightScratchFloats: Int { max(largestSixteenBitMatrix, headBlockRows * hyperparameters.hiddenSize) }

    /// Queries per block of each head's score matrix: attention computes only the blocks a
    /// causal mask (or window) leaves in use. Any value gives the same results (tests vary it).
    public var attentionBlockRows: Int {
        get { attention.blockRows }
        set { attention.blockRows = max(1, newValue) }
    }

    /// A model with freshly initialised weights (normal, std `initializerRange`; norms at
    /// weight 1, bias 0; linear biases 0), as transformers initialises these models.
    public convenience init(hyperparameters: DecoderHyperparameters, seed: UInt64, initializerRange: Float = 0.02) {
        let store = ParameterStore(layout: Self.parameterLayout(hyperparameters))
        var rng = RandomGenerator(seed: seed)
        for entry in store.entries {
            let p = UnsafeMutableBufferPointer(start: store.values + entry.offset, count: entry.count)
            if entry.shape.count == 1 && entry.name.hasSuffix(".weight") {   // every 1-D weight is a norm's
                p.update(repeating: 1)
            } else if entry.shape.count == 2 {
                rng.fillNormal(p, standardDeviation: initializerRange)
            }
        }
        self.init(hyperparameters: hyperparameters, parameters: store)
    }

    /// The output head's own parameter (`score.weight`, `lm_head.weight`), or nil when the
    /// head is tied to the input embedding and so belongs to the backbone.
    public var headParameter: String? {
        hyperparameters.classifierLabels != nil ? "score.weight"
            : hyperparameters.tiedEmbeddings ? nil : hyperparameters.names.unembedding
    }

    /// The rows the head reads: every token for a language model; each sequence's last token
    /// for a classifier (Hugging Face pools the last non-padding token).
    public func headRows(_ batch: TokenBatch) -> [Int] {
        hyperparameters.classifierLabels == nil ? Array(0..<batch.tokenCount)
            : (0..<batch.sequenceCount).map { batch.range(ofSequence: $0).upperBound - 1 }
    }

    /// Views of q, k and v in a layer's projection buffer (or its gradient): fused rows
    /// [head][q, k, v] or [q | k | v], or three matrices one after the other.
    func qkvViews(_ base: UnsafeMutablePointer<Float>, tokens N: Int) -> QKVViews {
        let h = hyperparameters, d = h.headSize, Q = h.qkvWidth, A = h.attentionWidth, KV = h.keyValueWidth
        switch h.qkvProjection {
        case .fusedPerHead:
            return QKVViews(queries: HeadView(base: base, rowStride: Q, headStride: 3 * d),
                            keys: HeadView(base: base + d, rowStride: Q, headStride: 3 * d),
                            values: HeadView(base: base + 2 * d, rowStride: Q, headStride: 3 * d))
        case .fusedByPart:
            return QKVViews(queries: HeadView(base: base, rowStride: Q, headStride: d),
                            keys: HeadView(base: base + A, rowStride: Q, headStride: d),
                            values: HeadView(base: base + A + KV, rowStride: Q, headStride: d))
        case .separate:
            return QKVViews(queries: HeadView(base: base, rowStride: A, headStride: d),
                            keys: HeadView(base: base + N * A, rowStride: KV, headStride: d),
                            values: HeadView(base: base + N * (A + KV), rowStride: KV, headStride: d))
        }
    }

    /// The separate projections' output widths and offsets in the qkv buffer (for N tokens).
    func separateProjections(tokens N: Int) -> [(width: Int, offset: Int)] {
        let A = hyperparameters.attentionWidth, KV = hyperparameters.keyValueWidth
        return [(A, 0), (KV, N * A), (KV, N * (A + KV))]
    }

    // MARK: Norms

    private func normalize(
        _ x: UnsafePointer<Float>, _ norm: NormWeights, _ out: UnsafeMutablePointer<Float>,
        mean: UnsafeMutablePointer<Float>, reciprocalStd: UnsafeMutablePointer<Float>, rows: Int
    ) {
        let w = parameters.values, H = hyperparameters.hiddenSize, epsilon = hyperparameters.normEpsilon
        if let bias = norm.bias {
            LayerNorm.forward(x, weight: w + norm.weight, bias: w + bias, out, mean: mean, reciprocalStd: reciprocalStd,
                              rows: rows, cols: H, epsilon: epsilon)
        } else {
            RMSNorm.forward(x, weight: w + norm.weight, out, reciprocalRMS: reciprocalStd, rows: rows, cols: H, epsilon: epsilon)
        }
    }

    /// Accumulates the norm's input gradient into `inputGradient` (+=), and its parameter
    /// gradients into `gradients` when given.
    private func normalizeBackward(
        input x: UnsafePointer<Float>, _ norm: NormWeights, mean: UnsafePointer<Float>, reciprocalStd: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>,
        gradients g: UnsafeMutablePointer<Float>?, discard: UnsafeMutablePointer<Float>, rows: Int
    ) {
        let w = parameters.values, H = hyperparameters.hiddenSize
        let weightGradient = g.map { $0 + norm.weight } ?? discard
        if let bias = norm.bias {
            LayerNorm.backward(input: x, weight: w + norm.weight, mean: mean, reciprocalStd: reciprocalStd,
                               outputGradient: outputGradient, inputGradient: inputGradient, weightGradient: weightGradient,
                               biasGradient: g.map { $0 + bias } ?? discard, rows: rows, cols: H)
        } else {
            RMSNorm.backward(input: x, weight: w + norm.weight, reciprocalRMS: reciprocalStd, outputGradient: outputGradient,
                             inputGradient: inputGradient, weightGradient: weightGradient, rows: rows, cols: H)
        }
    }

    // MARK: Forward

    /// Runs the model on `batch` and leaves the logits [N, V] in `activations.logits`.
    /// Token ids and sequence lengths must have been validated (`validate(_:)`).
    public func forward(_ batch: TokenBatch, _ activations: DecoderActivations) {
        let h = hyperparameters
        let N = batch.tokenCount, H = h.hiddenSize, I = h.intermediateSize, A = h.attentionWidth
        let w = parameters.values
        activations.prepare(for: batch, attention: attention, weightScratch: weightScratchFloats)
        let a = activations
        func matrix(_ weights: LinearWeights) -> UnsafePointer<Float> { widened(weights.weight, a) }

        // Embedding (+ learned positions; + BLOOM's norm).
        let embedded = embeddingNorm != nil ? a.embeddings : a.layerInput(0)
        for row in 0..<N {
            let token = Int(batch.tokens[row])
            parameters.readFloats(embedding, range: token * H..<(token + 1) * H, into: embedded + row * H)
        }
        if let positionEmbedding {
            let position = a.scratchHidden
            for s in 0..<batch.sequenceCount {
                for (t, row) in batch.range(ofSequence: s).enumerated() {
                    parameters.readFloats(positionEmbedding, range: t * H..<(t + 1) * H, into: position)
                    add(embedded + row * H, position, into: embedded + row * H, count: H)
                }
            }
        }
        if let embeddingNorm {
            normalize(embedded, embeddingNorm, a.layerInput(0), mean: a.embeddingMean, reciprocalStd: a.embeddingRstd, rows: N)
        }

        for l in 0..<h.layerCount {
            let lw = layers[l]
            let x = a.layerInput(l)
            // Attention half.
            normalize(x, lw.norm1, a.norm1(l), mean: a.norm1Mean(l), reciprocalStd: a.norm1Rstd(l), rows: N)
            if lw.qkv.count == 1 {
                Linear.forward(input: a.norm1(l), weight: matrix(lw.qkv[0]), bias: lw.qkv[0].bias.map { w + $0 },
                               output: a.qkv(l), rows: N, inputSize: H, outputSize: h.qkvWidth)
            } else {
                for (projection, (width, offset)) in zip(lw.qkv, separateProjections(tokens: N)) {
                    Linear.forward(input: a.norm1(l), weight: matrix(projection), bias: projection.bias.map { w + $0 },
                                   output: a.qkv(l) + offset, rows: N, inputSize: H, outputSize: width)
                }
            }
            attention.forward(qkvViews(a.qkv(l), tokens: N), statistics: a.attentionStatistics(l), output: a.attentionOutput(l),
                              scratch: a.attentionScratch, batch: batch)
            let attentionProjection = a.scratchHidden
            Linear.forward(input: a.attentionOutput(l), weight: matrix(lw.output), bias: lw.output.bias.map { w + $0 },
                           output: attentionProjection, rows: N, inputSize: A, outputSize: H)
            // The MLP reads n2(x) in parallel mode and n2(x + attention) in sequential mode.
            let mlpInput: UnsafeMutablePointer<Float>
            if h.parallelResidual {
                mlpInput = x
            } else {
                mlpInput = a.postAttention(l)
                add(x, attentionProjection, into: mlpInput, count: N * H)
            }
            // MLP half.
            normalize(mlpInput, lw.norm2, a.norm2(l), mean: a.norm2Mean(l), reciprocalStd: a.norm2Rstd(l), rows: N)
            switch h.feedForward {
            case .gelu(let gelu):
                Linear.forward(input: a.norm2(l), weight: matrix(lw.up), bias: lw.up.bias.map { w + $0 }, output: a.mlpHidden(l),
                               rows: N, inputSize: H, outputSize: I)
                gelu.forward(a.mlpHidden(l), a.mlpActivated(l), count: N * I)
            case .swiGLU:
                let gate = lw.gate!
                Linear.forward(input: a.norm2(l), weight: matrix(gate), bias: gate.bias.map { w + $0 }, output: a.mlpHidden(l),
                               rows: N, inputSize: H, outputSize: I)
                Linear.forward(input: a.norm2(l), weight: matrix(lw.up), bias: lw.up.bias.map { w + $0 }, output: a.mlpUp(l),
                               rows: N, inputSize: H, outputSize: I)
                SwiGLU.forward(gate: a.mlpHidden(l), up: a.mlpUp(l), a.mlpActivated(l), count: N * I)
            }
            let next = a.layerInput(l + 1)
            Linear.forward(input: a.mlpActivated(l), weight: matrix(lw.down), bias: lw.down.bias.map { w + $0 }, output: next,
                           rows: N, inputSize: I, outputSize: H)
            // next = mlp + (x + attention) in both modes; in sequential mode that sum is mlpInput.
            if h.parallelResidual {
                add(next, x, into: next, count: N * H)
                add(next, attentionProjection, into: next, count: N * H)
            } else {
                add(next, mlpInput, into: next, count: N * H)
            }
        }
        normalize(a.layerInput(h.layerCount), finalNorm, a.finalNorm, mean: a.finalMean, reciprocalStd: a.finalRstd, rows: N)
        if h.classifierLabels == nil {
            // logits[:, rows] = finalNorm · head[rows]ᵀ, a block of vocabulary rows at a time when 16-bit.
            forEachHeadBlock(a) { rows, block in
                Float.gemm(.none, .transposed, m: N, n: rows.count, k: H, alpha: 1, a: a.finalNorm, lda: H,
                           b: block, ldb: H, beta: 0, c: a.logits + rows.lowerBound, ldc: h.vocabularySize)
            }
        } else {
            // One row of logits per sequence, from its last token.
            let weight = widened(head, a)
            for (s, row) in headRows(batch).enumerated() {
                Float.gemm(.none, .transposed, m: 1, n: h.outputWidth, k: H, alpha: 1, a: a.finalNorm + row * H, lda: H,
                           b: weight, ldb: H, beta: 0, c: a.logits + s * h.outputWidth, ldc: h.outputWidth)
            }
        }
    }

    // MARK: Backward

    /// Back-propagates `activations.logitGradients` ([N, V], or [sequences, labels] for a
    /// classifier; set by a loss) through the batch last run by `forward`. Reports every
    /// tracked module's (aₜ, gₜ) to `observer`, and adds parameter gradients to `gradients`
    /// when given (a store with the same layout).
    public func backward(
        _ batch: TokenBatch, _ activations: DecoderActivations, gradients: ParameterStore? = nil,
        observer: LinearModuleTapObserver? = nil
    ) {
        let h = hyperparameters
        let N = batch.tokenCount, H = h.hiddenSize, I = h.intermediateSize, V = h.vocabularySize, A = h.attentionWidth
        let a = activations
        let g = gradients?.values
        let headOffset = head.offset
        func gradient(_ offset: Int?) -> UnsafeMutablePointer<Float>? {
            guard let g, let offset else { return nil }
            return g + offset
        }
        func tap(_ slot: Int, layer l: Int, inputs: UnsafePointer<Float>, outputGradients: UnsafePointer<Float>, in inputSize: Int, out outputSize: Int) {
            observer?.observe(LinearModuleTap(moduleIndex: l * slots.perLayer + slot, inputs: inputs, outputGradients: outputGradients,
                                              inputSize: inputSize, outputSize: outputSize, batch: batch))
        }
        func linearBackward(_ weights: LinearWeights, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                            inputGradient: UnsafeMutablePointer<Float>, accumulate: Bool = false, in inputSize: Int, out outputSize: Int) {
            Linear.backward(input: input, weight: widened(weights.weight, a), outputGradient: outputGradient, inputGradient: inputGradient,
                            accumulateInput: accumulate, weightGradient: gradient(weights.weight.offset), biasGradient: gradient(weights.bias),
                            rows: N, inputSize: inputSize, outputSize: outputSize)
        }

        // Output head and final norm.
        var residualGradient = a.residualGradientA, spare = a.residualGradientB
        if h.classifierLabels == nil {
            // scratchHidden = logitGradients · head, summed over blocks of vocabulary rows when 16-bit.
            forEachHeadBlock(a) { rows, block in
                Float.gemm(.none, .none, m: N, n: H, k: rows.count, alpha: 1, a: a.logitGradients + rows.lowerBound, lda: V, b: block,
                           ldb: H, beta: rows.lowerBound == 0 ? 0 : 1, c: a.scratchHidden, ldc: H)
            }
            if let headGradient = gradient(headOffset) {
                Float.gemm(.transposed, .none, m: V, n: H, k: N, alpha: 1, a: a.logitGradients, lda: V, b: a.finalNorm,
                           ldb: H, beta: 1, c: headGradient, ldc: H)
            }
        } else {
            // Only the pooled rows receive a gradient from the classifier head.
            let L = h.outputWidth
            a.scratchHidden.update(repeating: 0, count: N * H)
            let weight = widened(head, a)
            for (s, row) in headRows(batch).enumerated() {
                Float.gemm(.none, .none, m: 1, n: H, k: L, alpha: 1, a: a.logitGradients + s * L, lda: L, b: weight,
                           ldb: H, beta: 0, c: a.scratchHidden + row * H, ldc: H)
                if let headGradient = gradient(headOffset) {
                    Float.gemm(.transposed, .none, m: L, n: H, k: 1, alpha: 1, a: a.logitGradients + s * L, lda: L,
                               b: a.finalNorm + row * H, ldb: H, beta: 1, c: headGradient, ldc: H)
                }
            }
        }
        residualGradient.update(repeating: 0, count: N * H)
        normalizeBackward(input: a.layerInput(h.layerCount), finalNorm, mean: a.finalMean, reciprocalStd: a.finalRstd,
                          outputGradient: a.scratchHidden, inputGradient: residualGradient, gradients: g, discard: a.discardH, rows: N)

        for l in stride(from: h.layerCount - 1, through: 0, by: -1) {
            let lw = layers[l]
            let x = a.layerInput(l)
            let mlpInput = h.parallelResidual ? x : a.postAttention(l)
            // MLP half: its output gradient is the residual gradient.
            tap(slots.down, layer: l, inputs: a.mlpActivated(l), outputGradients: residualGradient, in: I, out: H)
            linearBackward(lw.down, input: a.mlpActivated(l), outputGradient: residualGradient, inputGradient: a.mlpGradient, in: I, out: H)
            switch h.feedForward {
            case .gelu(let gelu):
                gelu.backward(input: a.mlpHidden(l), outputGradient: a.mlpGradient, inputGradient: a.mlpGradient, count: N * I)
                tap(slots.up, layer: l, inputs: a.norm2(l), outputGradients: a.mlpGradient, in: H, out: I)
                linearBackward(lw.up, input: a.norm2(l), outputGradient: a.mlpGradient, inputGradient: a.scratchHidden, in: H, out: I)
            case .swiGLU:
                // mlpGradient becomes the gate's output gradient, mlpUpGradient the up projection's.
                SwiGLU.backward(gate: a.mlpHidden(l), up: a.mlpUp(l), outputGradient: a.mlpGradient, gateGradient: a.mlpGradient,
                                upGradient: a.mlpUpGradient, count: N * I)
                tap(slots.up, layer: l, inputs: a.norm2(l), outputGradients: a.mlpUpGradient, in: H, out: I)
                linearBackward(lw.up, input: a.norm2(l), outputGradient: a.mlpUpGradient, inputGradient: a.scratchHidden, in: H, out: I)
                tap(slots.gate!, layer: l, inputs: a.norm2(l), outputGradients: a.mlpGradient, in: H, out: I)
                linearBackward(lw.gate!, input: a.norm2(l), outputGradient: a.mlpGradient, inputGradient: a.scratchHidden,
                               accumulate: true, in: H, out: I)
            }
            // spare = gradient w.r.t. the MLP's input stream (x or x + attention), residual path included.
            spare.update(from: residualGradient, count: N * H)
            normalizeBackward(input: mlpInput, lw.norm2, mean: a.norm2Mean(l), reciprocalStd: a.norm2Rstd(l),
                              outputGradient: a.scratchHidden, inputGradient: spare, gradients: g, discard: a.discardH, rows: N)
            // Attention half. The output projection's gradient: the layer output's in parallel
            // mode, the post-attention stream's in sequential mode.
            let projectionGradient = h.parallelResidual ? residualGradient : spare
            tap(slots.output, layer: l, inputs: a.attentionOutput(l), outputGradients: projectionGradient, in: A, out: H)
            linearBackward(lw.output, input: a.attentionOutput(l), outputGradient: projectionGradient,
                           inputGradient: a.attentionGradient, in: A, out: H)
            attention.backward(qkvViews(a.qkv(l), tokens: N), statistics: a.attentionStatistics(l), outputGradient: a.attentionGradient,
                               gradients: qkvViews(a.qkvGradient, tokens: N), scratch: a.attentionScratch, batch: batch)
            if lw.qkv.count == 1 {
                tap(0, layer: l, inputs: a.norm1(l), outputGradients: a.qkvGradient, in: H, out: h.qkvWidth)
                linearBackward(lw.qkv[0], input: a.norm1(l), outputGradient: a.qkvGradient, inputGradient: a.scratchHidden,
                               in: H, out: h.qkvWidth)
            } else {
                for (slot, (projection, (width, offset))) in zip(lw.qkv, separateProjections(tokens: N)).enumerated() {
                    tap(slot, layer: l, inputs: a.norm1(l), outputGradients: a.qkvGradient + offset, in: H, out: width)
                    linearBackward(projection, input: a.norm1(l), outputGradient: a.qkvGradient + offset,
                                   inputGradient: a.scratchHidden, accumulate: slot > 0, in: H, out: width)
                }
            }
            // Gradient w.r.t. x: in parallel mode the residual + both branches' norms; in
            // sequential mode the post-attention stream's gradient + n1's.
            if !h.parallelResidual { swap(&residualGradient, &spare) }
            let xGradient = h.parallelResidual ? spare : residualGradient
            normalizeBackward(input: x, lw.norm1, mean: a.norm1Mean(l), reciprocalStd: a.norm1Rstd(l),
                              outputGradient: a.scratchHidden, inputGradient: xGradient, gradients: g, discard: a.discardH, rows: N)
            if h.parallelResidual { swap(&residualGradient, &spare) }
        }
        if let embeddingNorm {
            // Through the embedding norm: residualGradient becomes ∂L/∂(raw embeddings).
            spare.update(repeating: 0, count: N * H)
            normalizeBackward(input: a.embeddings, embeddingNorm, mean: a.embeddingMean, reciprocalStd: a.embeddingRstd,
                              outputGradient: residualGradient, inputGradient: spare, gradients: g, discard: a.discardH, rows: N)
            swap(&residualGradient, &spare)
        }
        if let g {
            for row in 0..<N {
                let dst = g + embedding.offset + Int(batch.tokens[row]) * H
                add(dst, residualGradient + row * H, into: dst, count: H)
            }
            if let positionEmbedding {
                for s in 0..<batch.sequenceCount {
                    for (t, row) in batch.range(ofSequence: s).enumerated() {
                        let dst = g + positionEmbedding.offset + t * H
                        add(dst, residualGradient + row * H, into: dst, count: H)
                    }
                }
            }
        }
    }

    // MARK: 16-bit weights

    /// A weight matrix as Float32: in place, or widened into the activations' scratch when it is
    /// held in 16-bit (valid until the next widening).
    func widened(_ entry: ParameterStore.Entry, _ a: DecoderActivations) -> UnsafePointer<Float> {
        if entry.isFloat32 { return UnsafePointer(parameters.values + entry.offset) }
        parameters.readFloats(entry, into: a.weightScratch)
        return UnsafePointer(a.weightScratch)
    }

    /// Calls `body` with blocks of the head's rows as Float32: the whole head in place when it is
    /// Float32, else `headBlockRows` rows at a time widened into the scratch.
    func forEachHeadBlock(_ a: DecoderActivations, _ body: (Range<Int>, UnsafePointer<Float>) -> Void) {
        let V = head.shape[0], H = hyperparameters.hiddenSize
        if head.isFloat32 { return body(0..<V, UnsafePointer(parameters.values + head.offset)) }
        for start in stride(from: 0, to: V, by: headBlockRows) {
            let rows = start..<min(V, start + headBlockRows)
            parameters.readFloats(head, range: rows.lowerBound * H..<rows.upperBound * H, into: a.weightScratch)
            body(rows, UnsafePointer(a.weightScratch))
        }
    }

    // MARK: Validation

    /// Checks a batch against the model: token ids in range, sequences non-empty and no longer
    /// than the model's context.
    public func validate(_ batch: TokenBatch) throws {
        let h = hyperparameters
        for s in 0..<batch.sequenceCount {
            let length = batch.range(ofSequence: s).count
            if length == 0 { throw InputError("sequence \(s) is empty") }
            if length > h.maxPositions {
                throw InputError("sequence \(s) has \(length) tokens; the model's context is \(h.maxPositions)")
            }
        }
        if let bad = batch.tokens.first(where: { $0 < 0 || Int($0) >= h.vocabularySize }) {
            throw InputError("token id \(bad) is outside the vocabulary (0..<\(h.vocabularySize))")
        }
    }

    /// Checks that every parameter is finite (NaN or ∞ in a checkpoint would silently poison
    /// every score).
    public func validateWeights() throws {
        let block = 1 << 16
        let scratch = FloatBuffer(capacity: block)
        for entry in parameters.entries {
            for start in stride(from: 0, to: entry.count, by: block) {
                let range = start..<min(entry.count, start + block)
                let p: UnsafePointer<Float>
                if entry.isFloat32 {
                    p = UnsafePointer(parameters.values + entry.offset + start)
                } else {
                    parameters.readFloats(entry, range: range, into: scratch.pointer)
                    p = UnsafePointer(scratch.pointer)
                }
                for i in 0..<range.count where !p[i].isFinite {
                    throw InputError("parameter \(entry.name) has a non-finite value (\(p[i])) at index \(start + i)")
                }
            }
        }
    }
}

/// out = a + b, element-wise (any of the three may alias).
@inline(__always)
func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
    forEachChunk(count) { i, lanes in storeLanes(loadLanes(a + i, lanes) + loadLanes(b + i, lanes), out + i, lanes) }
}
