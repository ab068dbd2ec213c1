import Checkpoints
import Numerics

/// The GPT-NeoX decoder (Pythia, dolly-v2) with hand-written forward and backward passes.
///
/// BLOOM runs on the same code (`GPTNeoXHyperparameters.family`): ALiBi instead of rotary, a
/// layer norm after the embedding, sequential residuals, a tied head.
///
/// One token's path: embed_in → for each layer [ln1 → query_key_value → rotary → causal
/// attention → dense] and [ln2 → dense_h_to_4h → GELU → dense_4h_to_h], combined either in
/// parallel, x + attn(ln1(x)) + mlp(ln2(x)), or in sequence, h = x + attn(ln1(x));
/// h + mlp(ln2(h)) → final_layer_norm → embed_out → logits.
///
/// Every batch is packed (`TokenBatch`): N rows, one per real token. The forward pass keeps
/// the activations the backward pass needs in a `GPTNeoXActivations`; the backward pass
/// reports each tracked linear module's inputs and output gradients to an optional observer
/// and, optionally, accumulates parameter gradients.
public final class GPTNeoXModel: @unchecked Sendable {
    public let hyperparameters: GPTNeoXHyperparameters
    public let parameters: ParameterStore
    let attention: CausalSelfAttention
    private let weights: [LayerWeights]

    /// Raw pointers into `parameters` for one layer, resolved once by name.
    struct LayerWeights {
        let ln1Weight, ln1Bias, ln2Weight, ln2Bias: Int
        let qkvWeight, denseWeight, upWeight, upBias, downWeight, downBias: Int
        let qkvBias, denseBias: Int?
    }

    public init(hyperparameters: GPTNeoXHyperparameters, parameters: ParameterStore) {
        let h = hyperparameters
        self.hyperparameters = h
        self.parameters = parameters
        attention = CausalSelfAttention(
            headCount: h.headCount, headSize: h.headSize,
            rotary: RotaryEmbedding(dimensions: h.rotaryDimensions, base: h.rotaryBase, maxPositions: h.maxPositions),
            alibiSlopes: h.family == .bloom ? CausalSelfAttention.alibiSlopes(heads: h.headCount) : nil)
        func offset(_ name: String) -> Int {
            guard let entry = parameters.entry(name) else { preconditionFailure("parameter store lacks \(name)") }
            return entry.offset
        }
        let names = h.names
        weights = (0..<h.layerCount).map { l in
            let p = names.layer(l), a = p + names.attention
            return LayerWeights(
                ln1Weight: offset(p + "input_layernorm.weight"), ln1Bias: offset(p + "input_layernorm.bias"),
                ln2Weight: offset(p + "post_attention_layernorm.weight"), ln2Bias: offset(p + "post_attention_layernorm.bias"),
                qkvWeight: offset(a + "query_key_value.weight"), denseWeight: offset(a + "dense.weight"),
                upWeight: offset(p + "mlp.dense_h_to_4h.weight"), upBias: offset(p + "mlp.dense_h_to_4h.bias"),
                downWeight: offset(p + "mlp.dense_4h_to_h.weight"), downBias: offset(p + "mlp.dense_4h_to_h.bias"),
                qkvBias: h.attentionBias ? offset(a + "query_key_value.bias") : nil,
                denseBias: h.attentionBias ? offset(a + "dense.bias") : nil)
        }
    }

    /// A model with freshly initialised weights (normal, std `initializerRange`; layer norms
    /// at weight 1, bias 0; linear biases 0), as transformers initialises GPT-NeoX.
    public convenience init(hyperparameters: GPTNeoXHyperparameters, seed: UInt64, initializerRange: Float = 0.02) {
        let store = ParameterStore(layout: Self.parameterLayout(hyperparameters))
        var rng = RandomGenerator(seed: seed)
        for entry in store.entries {
            let p = UnsafeMutableBufferPointer(start: store.values + entry.offset, count: entry.count)
            if entry.shape.count == 1 && entry.name.hasSuffix(".weight") {   // every 1-D weight is a layer norm's
                p.update(repeating: 1)
            } else if entry.shape.count == 2 {
                rng.fillNormal(p, standardDeviation: initializerRange)
            }
        }
        self.init(hyperparameters: hyperparameters, parameters: store)
    }

    /// Names and shapes of every parameter, as Hugging Face names them on disk.
    public static func parameterLayout(_ h: GPTNeoXHyperparameters) -> [(name: String, shape: [Int])] {
        let names = h.names
        var layout: [(String, [Int])] = [(names.embedding, [h.vocabularySize, h.hiddenSize])]
        if h.family == .bloom {
            layout += [(names.embeddingNorm + ".weight", [h.hiddenSize]), (names.embeddingNorm + ".bias", [h.hiddenSize])]
        }
        for l in 0..<h.layerCount {
            let p = names.layer(l), a = p + names.attention
            layout += [
                (p + "input_layernorm.weight", [h.hiddenSize]), (p + "input_layernorm.bias", [h.hiddenSize]),
                (p + "post_attention_layernorm.weight", [h.hiddenSize]), (p + "post_attention_layernorm.bias", [h.hiddenSize]),
                (a + "query_key_value.weight", [3 * h.hiddenSize, h.hiddenSize]),
            ]
            if h.attentionBias { layout.append((a + "query_key_value.bias", [3 * h.hiddenSize])) }
            layout.append((a + "dense.weight", [h.hiddenSize, h.hiddenSize]))
            if h.attentionBias { layout.append((a + "dense.bias", [h.hiddenSize])) }
            layout += [
                (p + "mlp.dense_h_to_4h.weight", [h.intermediateSize, h.hiddenSize]), (p + "mlp.dense_h_to_4h.bias", [h.intermediateSize]),
                (p + "mlp.dense_4h_to_h.weight", [h.hiddenSize, h.intermediateSize]), (p + "mlp.dense_4h_to_h.bias", [h.hiddenSize]),
            ]
        }
        layout += [(names.finalNorm + ".weight", [h.hiddenSize]), (names.finalNorm + ".bias", [h.hiddenSize])]
        if let labels = h.classifierLabels {
            layout.append(("score.weight", [labels, h.hiddenSize]))
        } else if !h.tiedEmbeddings {
            layout.append((names.unembedding, [h.vocabularySize, h.hiddenSize]))
        }
        return layout
    }

    /// The tracked linear modules (DESIGN §2), in the order taps report them within a layer.
    /// Index `layer * 4 + k` for k = query_key_value, dense, dense_h_to_4h, dense_4h_to_h.
    /// The fused `query_key_value` rows are ordered [head][q, k, v][head_dim], one row group each.
    public var trackedModules: [TrackedLinearModule] { Self.trackedModules(hyperparameters) }

    public static func trackedModules(_ h: GPTNeoXHyperparameters) -> [TrackedLinearModule] {
        (0..<h.layerCount).flatMap { l -> [TrackedLinearModule] in
            let p = h.names.layer(l), a = p + h.names.attention
            return [
                TrackedLinearModule(name: a + "query_key_value", kind: .attention, layer: l,
                                    inputSize: h.hiddenSize, outputSize: 3 * h.hiddenSize, hasBias: h.attentionBias,
                                    rowGroups: TrackedLinearModule.fusedQKVRowGroups(heads: h.headCount, headSize: h.headSize)),
                TrackedLinearModule(name: a + "dense", kind: .attention, layer: l,
                                    inputSize: h.hiddenSize, outputSize: h.hiddenSize, hasBias: h.attentionBias),
                TrackedLinearModule(name: p + "mlp.dense_h_to_4h", kind: .mlp, layer: l,
                                    inputSize: h.hiddenSize, outputSize: h.intermediateSize, hasBias: true),
                TrackedLinearModule(name: p + "mlp.dense_4h_to_h", kind: .mlp, layer: l,
                                    inputSize: h.intermediateSize, outputSize: h.hiddenSize, hasBias: true),
            ]
        }
    }

    /// The output head: the unembedding [V, H] of a language model, or a classifier's
    /// `score.weight` [labels, H].
    private var headOffset: Int {
        parameters.entry(headParameter ?? hyperparameters.names.embedding)!.offset
    }

    /// The output head's own parameter (`score.weight`, `embed_out.weight`), or nil when the
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

    // MARK: Forward

    /// Runs the model on `batch` and leaves the logits [N, V] in `activations.logits`.
    /// Token ids and sequence lengths must have been validated (`validate(_:)`).
    public func forward(_ batch: TokenBatch, _ activations: GPTNeoXActivations) {
        let h = hyperparameters
        let N = batch.tokenCount, H = h.hiddenSize, I = h.intermediateSize
        let w = parameters.values
        activations.prepare(for: batch, attention: attention)
        let a = activations

        let embedding = w + parameters.entry(h.names.embedding)!.offset
        // BLOOM normalises the embeddings before the first layer.
        let embedded = h.family == .bloom ? a.embeddings : a.layerInput(0)
        for row in 0..<N {
            (embedded + row * H).update(from: embedding + Int(batch.tokens[row]) * H, count: H)
        }
        if h.family == .bloom {
            LayerNorm.forward(embedded, weight: w + parameters.entry(h.names.embeddingNorm + ".weight")!.offset,
                              bias: w + parameters.entry(h.names.embeddingNorm + ".bias")!.offset, a.layerInput(0),
                              mean: a.embeddingMean, reciprocalStd: a.embeddingRstd, rows: N, cols: H, epsilon: h.layerNormEpsilon)
        }
        for l in 0..<h.layerCount {
            let lw = weights[l]
            let x = a.layerInput(l)
            LayerNorm.forward(x, weight: w + lw.ln1Weight, bias: w + lw.ln1Bias, a.ln1(l), mean: a.ln1Mean(l),
                              reciprocalStd: a.ln1Rstd(l), rows: N, cols: H, epsilon: h.layerNormEpsilon)
            Linear.forward(input: a.ln1(l), weight: w + lw.qkvWeight, bias: lw.qkvBias.map { w + $0 },
                           output: a.qkv(l), rows: N, inputSize: H, outputSize: 3 * H)
            attention.forward(qkv: a.qkv(l), probabilities: a.probabilities(l), output: a.attentionOutput(l), batch: batch)
            let attentionProjection = a.scratchHidden
            Linear.forward(input: a.attentionOutput(l), weight: w + lw.denseWeight, bias: lw.denseBias.map { w + $0 },
                           output: attentionProjection, rows: N, inputSize: H, outputSize: H)
            // The MLP reads ln2(x) in parallel mode and ln2(x + attention) in sequential mode.
            let mlpInput: UnsafeMutablePointer<Float>
            if h.parallelResidual {
                mlpInput = x
            } else {
                mlpInput = a.postAttention(l)
                add(x, attentionProjection, into: mlpInput, count: N * H)
            }
            LayerNorm.forward(mlpInput, weight: w + lw.ln2Weight, bias: w + lw.ln2Bias, a.ln2(l), mean: a.ln2Mean(l),
                              reciprocalStd: a.ln2Rstd(l), rows: N, cols: H, epsilon: h.layerNormEpsilon)
            Linear.forward(input: a.ln2(l), weight: w + lw.upWeight, bias: w + lw.upBias, output: a.mlpHidden(l),
                           rows: N, inputSize: H, outputSize: I)
            h.activation.forward(a.mlpHidden(l), a.mlpActivated(l), count: N * I)
            let next = a.layerInput(l + 1)
            Linear.forward(input: a.mlpActivated(l), weight: w + lw.downWeight, bias: w + lw.downBias, output: next,
                           rows: N, inputSize: I, outputSize: H)
            // next = mlp + (x + attention) in both modes; in sequential mode that sum is mlpInput.
            if h.parallelResidual {
                add(next, x, into: next, count: N * H)
                add(next, attentionProjection, into: next, count: N * H)
            } else {
                add(next, mlpInput, into: next, count: N * H)
            }
        }
        let final = a.layerInput(h.layerCount)
        LayerNorm.forward(final, weight: w + parameters.entry(h.names.finalNorm + ".weight")!.offset,
                          bias: w + parameters.entry(h.names.finalNorm + ".bias")!.offset, a.finalNorm,
                          mean: a.finalMean, reciprocalStd: a.finalRstd, rows: N, cols: H, epsilon: h.layerNormEpsilon)
        if h.classifierLabels == nil {
            Float.gemm(.none, .transposed, m: N, n: h.vocabularySize, k: H, alpha: 1, a: a.finalNorm, lda: H,
                       b: w + headOffset, ldb: H, beta: 0, c: a.logits, ldc: h.vocabularySize)
        } else {
            // One row of logits per sequence, from its last token.
            for (s, row) in headRows(batch).enumerated() {
                Float.gemm(.none, .transposed, m: 1, n: h.outputWidth, k: H, alpha: 1, a: a.finalNorm + row * H, lda: H,
                           b: w + headOffset, ldb: H, beta: 0, c: a.logits + s * h.outputWidth, ldc: h.outputWidth)
            }
        }
    }

    // MARK: Backward

    /// Back-propagates `activations.logitGradients` ([N, V], or [sequences, labels] for a
    /// classifier; set by a loss) through the batch
    /// last run by `forward`. Reports every tracked module's (aₜ, gₜ) to `observer`, and adds
    /// parameter gradients to `gradients` when given (a store with the same layout).
    public func backward(
        _ batch: TokenBatch, _ activations: GPTNeoXActivations, gradients: ParameterStore? = nil,
        observer: LinearModuleTapObserver? = nil
    ) {
        let h = hyperparameters
        let N = batch.tokenCount, H = h.hiddenSize, I = h.intermediateSize, V = h.vocabularySize
        let w = parameters.values
        let a = activations
        let g = gradients?.values
        func gradient(_ offset: Int?) -> UnsafeMutablePointer<Float>? {
            guard let g, let offset else { return nil }
            return g + offset
        }

        // Output head and final layer norm.
        var residualGradient = a.residualGradientA, spare = a.residualGradientB
        if h.classifierLabels == nil {
            Float.gemm(.none, .none, m: N, n: H, k: V, alpha: 1, a: a.logitGradients, lda: V, b: w + headOffset,
                       ldb: H, beta: 0, c: a.scratchHidden, ldc: H)
            if let headGradient = gradient(headOffset) {
                Float.gemm(.transposed, .none, m: V, n: H, k: N, alpha: 1, a: a.logitGradients, lda: V, b: a.finalNorm,
                           ldb: H, beta: 1, c: headGradient, ldc: H)
            }
        } else {
            // Only the pooled rows receive a gradient from the classifier head.
            let L = h.outputWidth
            a.scratchHidden.update(repeating: 0, count: N * H)
            for (s, row) in headRows(batch).enumerated() {
                Float.gemm(.none, .none, m: 1, n: H, k: L, alpha: 1, a: a.logitGradients + s * L, lda: L, b: w + headOffset,
                           ldb: H, beta: 0, c: a.scratchHidden + row * H, ldc: H)
                if let headGradient = gradient(headOffset) {
                    Float.gemm(.transposed, .none, m: L, n: H, k: 1, alpha: 1, a: a.logitGradients + s * L, lda: L,
                               b: a.finalNorm + row * H, ldb: H, beta: 1, c: headGradient, ldc: H)
                }
            }
        }
        residualGradient.update(repeating: 0, count: N * H)
        let finalWeight = parameters.entry(h.names.finalNorm + ".weight")!.offset
        let finalBias = parameters.entry(h.names.finalNorm + ".bias")!.offset
        LayerNorm.backward(input: a.layerInput(h.layerCount), weight: w + finalWeight, mean: a.finalMean,
                           reciprocalStd: a.finalRstd, outputGradient: a.scratchHidden, inputGradient: residualGradient,
                           weightGradient: gradient(finalWeight) ?? a.discardH, biasGradient: gradient(finalBias) ?? a.discardH,
                           rows: N, cols: H)

        for l in stride(from: h.layerCount - 1, through: 0, by: -1) {
            let lw = weights[l]
            let moduleBase = 4 * l
            let x = a.layerInput(l)
            let mlpInput = h.parallelResidual ? x : a.postAttention(l)
            // MLP branch: its output gradient is the residual gradient.
            observer?.observe(LinearModuleTap(moduleIndex: moduleBase + 3, inputs: a.mlpActivated(l),
                                              outputGradients: residualGradient, inputSize: I, outputSize: H, batch: batch))
            Linear.backward(input: a.mlpActivated(l), weight: w + lw.downWeight, outputGradient: residualGradient,
                            inputGradient: a.mlpGradient, weightGradient: gradient(lw.downWeight),
                            biasGradient: gradient(lw.downBias), rows: N, inputSize: I, outputSize: H)
            h.activation.backward(input: a.mlpHidden(l), outputGradient: a.mlpGradient, inputGradient: a.mlpGradient, count: N * I)
            observer?.observe(LinearModuleTap(moduleIndex: moduleBase + 2, inputs: a.ln2(l),
                                              outputGradients: a.mlpGradient, inputSize: H, outputSize: I, batch: batch))
            Linear.backward(input: a.ln2(l), weight: w + lw.upWeight, outputGradient: a.mlpGradient,
                            inputGradient: a.scratchHidden, weightGradient: gradient(lw.upWeight),
                            biasGradient: gradient(lw.upBias), rows: N, inputSize: H, outputSize: I)
            // spare = gradient w.r.t. the MLP's input stream (x or x + attention), residual path included.
            spare.update(from: residualGradient, count: N * H)
            LayerNorm.backward(input: mlpInput, weight: w + lw.ln2Weight, mean: a.ln2Mean(l), reciprocalStd: a.ln2Rstd(l),
                               outputGradient: a.scratchHidden, inputGradient: spare,
                               weightGradient: gradient(lw.ln2Weight) ?? a.discardH,
                               biasGradient: gradient(lw.ln2Bias) ?? a.discardH, rows: N, cols: H)
            // The attention output's gradient: the layer output's in parallel mode, the
            // post-attention stream's in sequential mode.
            let attentionGradient = h.parallelResidual ? residualGradient : spare
            observer?.observe(LinearModuleTap(moduleIndex: moduleBase + 1, inputs: a.attentionOutput(l),
                                              outputGradients: attentionGradient, inputSize: H, outputSize: H, batch: batch))
            Linear.backward(input: a.attentionOutput(l), weight: w + lw.denseWeight, outputGradient: attentionGradient,
                            inputGradient: a.scratchHidden, weightGradient: gradient(lw.denseWeight),
                            biasGradient: gradient(lw.denseBias), rows: N, inputSize: H, outputSize: H)
            attention.backward(qkv: a.qkv(l), probabilities: a.probabilities(l), outputGradient: a.scratchHidden,
                               qkvGradient: a.qkvGradient, scratch: a.attentionScratch, batch: batch)
            observer?.observe(LinearModuleTap(moduleIndex: moduleBase, inputs: a.ln1(l),
                                              outputGradients: a.qkvGradient, inputSize: H, outputSize: 3 * H, batch: batch))
            Linear.backward(input: a.ln1(l), weight: w + lw.qkvWeight, outputGradient: a.qkvGradient,
                            inputGradient: a.scratchHidden, weightGradient: gradient(lw.qkvWeight),
                            biasGradient: gradient(lw.qkvBias), rows: N, inputSize: H, outputSize: 3 * H)
            // Gradient w.r.t. x: in parallel mode the residual + both branches' layer norms;
            // in sequential mode the post-attention stream's gradient + ln1's.
            if !h.parallelResidual { swap(&residualGradient, &spare) }
            let xGradient = h.parallelResidual ? spare : residualGradient
            LayerNorm.backward(input: x, weight: w + lw.ln1Weight, mean: a.ln1Mean(l), reciprocalStd: a.ln1Rstd(l),
                               outputGradient: a.scratchHidden, inputGradient: xGradient,
                               weightGradient: gradient(lw.ln1Weight) ?? a.discardH,
                               biasGradient: gradient(lw.ln1Bias) ?? a.discardH, rows: N, cols: H)
            if h.parallelResidual { swap(&residualGradient, &spare) }
        }
        if h.family == .bloom {
            // Through the embedding layer norm: residualGradient becomes ∂L/∂(raw embeddings).
            let normWeight = parameters.entry(h.names.embeddingNorm + ".weight")!.offset
            let normBias = parameters.entry(h.names.embeddingNorm + ".bias")!.offset
            spare.update(repeating: 0, count: N * H)
            LayerNorm.backward(input: a.embeddings, weight: w + normWeight, mean: a.embeddingMean, reciprocalStd: a.embeddingRstd,
                               outputGradient: residualGradient, inputGradient: spare,
                               weightGradient: gradient(normWeight) ?? a.discardH, biasGradient: gradient(normBias) ?? a.discardH,
                               rows: N, cols: H)
            swap(&residualGradient, &spare)
        }
        if let g {
            let embedding = g + parameters.entry(h.names.embedding)!.offset
            for row in 0..<N {
                let dst = embedding + Int(batch.tokens[row]) * H
                add(dst, residualGradient + row * H, into: dst, count: H)
            }
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
        for entry in parameters.entries {
            let p = parameters.values + entry.offset
            for i in 0..<entry.count where !p[i].isFinite {
                throw InputError("parameter \(entry.name) has a non-finite value (\(p[i])) at index \(i)")
            }
        }
    }
}

/// out = a + b, element-wise (any of the three may alias).
@inline(__always)
func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
    forEachChunk(count) { i, lanes in storeLanes(loadLanes(a + i, lanes) + loadLanes(b + i, lanes), out + i, lanes) }
}
