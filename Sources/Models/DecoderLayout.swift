/// Hugging Face's parameter names for each family, and from them the decoder's parameter
/// layout and tracked modules: the one place that knows what a family's checkpoint calls things.
public struct ParameterNames: Sendable {
    public let family: DecoderHyperparameters.Family

    private var llamaLike: Bool { [.llama, .qwen2, .mistral].contains(family) }

    public var embedding: String {
        switch family {
        case .gptNeoX: "gpt_neox.embed_in.weight"
        case .bloom: "transformer.word_embeddings.weight"
        case .gpt2: "transformer.wte.weight"
        case .llama, .qwen2, .mistral: "model.embed_tokens.weight"
        }
    }
    /// GPT-2's learned position embeddings.
    public var positionEmbedding: String { "transformer.wpe.weight" }
    public var embeddingNorm: String { "transformer.word_embeddings_layernorm" }
    public var finalNorm: String {
        switch family {
        case .gptNeoX: "gpt_neox.final_layer_norm"
        case .bloom, .gpt2: "transformer.ln_f"
        case .llama, .qwen2, .mistral: "model.norm"
        }
    }
    public var unembedding: String { family == .gptNeoX ? "embed_out.weight" : "lm_head.weight" }
    public func layer(_ l: Int) -> String {
        switch family {
        case .gptNeoX: "gpt_neox.layers.\(l)."
        case .bloom, .gpt2: "transformer.h.\(l)."
        case .llama, .qwen2, .mistral: "model.layers.\(l)."
        }
    }
    public var attention: String {
        switch family {
        case .gptNeoX: "attention."
        case .bloom: "self_attention."
        case .gpt2: "attn."
        case .llama, .qwen2, .mistral: "self_attn."
        }
    }
    /// The norm before attention, and the one before the MLP (within a layer).
    public var attentionNorm: String { family == .gpt2 ? "ln_1" : "input_layernorm" }
    public var mlpNorm: String { family == .gpt2 ? "ln_2" : "post_attention_layernorm" }
    /// The fused q/k/v projection (within the attention prefix); nil when they are separate.
    public var fusedQKV: String? { llamaLike ? nil : family == .gpt2 ? "c_attn" : "query_key_value" }
    public var attentionOutput: String { llamaLike ? "o_proj" : family == .gpt2 ? "c_proj" : "dense" }
    /// The MLP's modules (within a layer): up (or GPT-2's c_fc), the gate (SwiGLU only), down.
    public var mlpUp: String { llamaLike ? "mlp.up_proj" : family == .gpt2 ? "mlp.c_fc" : "mlp.dense_h_to_4h" }
    public var mlpGate: String { "mlp.gate_proj" }
    public var mlpDown: String { llamaLike ? "mlp.down_proj" : family == .gpt2 ? "mlp.c_proj" : "mlp.dense_4h_to_h" }

    /// GPT-2 stores its linear weights as Conv1D, [in, out]; the decoder keeps every weight as
    /// [out, in], so these are transposed on load and on save.
    public func isStoredTransposed(_ name: String) -> Bool {
        family == .gpt2 && name.hasSuffix(".weight") && (name.contains(".attn.c_") || name.contains(".mlp.c_"))
    }
}

extension DecoderModel {
    /// Names and shapes of every parameter as Hugging Face names them (GPT-2's Conv1D weights
    /// as the decoder holds them, [out, in]; `ParameterNames.isStoredTransposed`).
    public static func parameterLayout(_ h: DecoderHyperparameters) -> [(name: String, shape: [Int])] {
        let names = h.names, H = h.hiddenSize, I = h.intermediateSize
        var layout: [(String, [Int])] = [(names.embedding, [h.vocabularySize, H])]
        if h.positions == .learned { layout.append((names.positionEmbedding, [h.maxPositions, H])) }
        func norm(_ prefix: String) -> [(String, [Int])] {
            h.norm == .layerNorm ? [(prefix + ".weight", [H]), (prefix + ".bias", [H])] : [(prefix + ".weight", [H])]
        }
        func linear(_ prefix: String, out: Int, in: Int, bias: Bool) -> [(String, [Int])] {
            [(prefix + ".weight", [out, `in`])] + (bias ? [(prefix + ".bias", [out])] : [])
        }
        if h.embeddingNorm { layout += norm(names.embeddingNorm) }
        for l in 0..<h.layerCount {
            let p = names.layer(l), a = p + names.attention
            layout += norm(p + names.attentionNorm)
            // GPT-NeoX and BLOOM list the second norm before the attention weights.
            if h.family == .gptNeoX || h.family == .bloom { layout += norm(p + names.mlpNorm) }
            if let fused = names.fusedQKV {
                layout += linear(a + fused, out: h.qkvWidth, in: H, bias: h.qkvBias)
            } else {
                layout += linear(a + "q_proj", out: h.attentionWidth, in: H, bias: h.qkvBias)
                layout += linear(a + "k_proj", out: h.keyValueWidth, in: H, bias: h.qkvBias)
                layout += linear(a + "v_proj", out: h.keyValueWidth, in: H, bias: h.qkvBias)
            }
            layout += linear(a + names.attentionOutput, out: H, in: h.attentionWidth, bias: h.outputBias)
            if !(h.family == .gptNeoX || h.family == .bloom) { layout += norm(p + names.mlpNorm) }
            if h.feedForward == .swiGLU { layout += linear(p + names.mlpGate, out: I, in: H, bias: h.mlpBias) }
            layout += linear(p + names.mlpUp, out: I, in: H, bias: h.mlpBias)
            layout += linear(p + names.mlpDown, out: H, in: I, bias: h.mlpBias)
        }
        layout += norm(names.finalNorm)
        if let labels = h.classifierLabels {
            layout.append(("score.weight", [labels, H]))
        } else if !h.tiedEmbeddings {
            layout.append((names.unembedding, [h.vocabularySize, H]))
        }
        return layout
    }

    /// The tracked linear modules (DESIGN §2), `modulesPerLayer` per layer in forward order:
    /// [qkv, out, up, down] for a fused projection, [q, k, v, o, gate, up, down] for the Llama
    /// family. Attention projections carry one row group per head (queries, keys and values
    /// of a head are separate groups), so that curvature can give each head its own block.
    public var trackedModules: [TrackedLinearModule] { Self.trackedModules(hyperparameters) }

    public static func modulesPerLayer(_ h: DecoderHyperparameters) -> Int {
        (h.qkvProjection == .separate ? 4 : 2) + (h.feedForward == .swiGLU ? 3 : 2)
    }

    public static func trackedModules(_ h: DecoderHyperparameters) -> [TrackedLinearModule] {
        let names = h.names, H = h.hiddenSize, I = h.intermediateSize, d = h.headSize
        func heads(_ count: Int, offset: Int = 0, part: String? = nil) -> [TrackedLinearModule.RowGroup] {
            (0..<count).map { head in
                TrackedLinearModule.RowGroup(name: "head\(head)" + (part.map { ".\($0)" } ?? ""),
                                             rows: (offset + head * d)..<(offset + (head + 1) * d))
            }
        }
        return (0..<h.layerCount).flatMap { l -> [TrackedLinearModule] in
            let p = names.layer(l), a = p + names.attention
            func module(_ name: String, _ kind: TrackedLinearModule.Kind, out: Int, in: Int, bias: Bool,
                        groups: [TrackedLinearModule.RowGroup] = []) -> TrackedLinearModule {
                TrackedLinearModule(name: name, kind: kind, layer: l, inputSize: `in`, outputSize: out, hasBias: bias, rowGroups: groups)
            }
            var modules: [TrackedLinearModule] = []
            switch h.qkvProjection {
            case .fusedPerHead:
                modules.append(module(a + names.fusedQKV!, .attention, out: h.qkvWidth, in: H, bias: h.qkvBias,
                                      groups: TrackedLinearModule.fusedQKVRowGroups(heads: h.headCount, headSize: d)))
            case .fusedByPart:
                let groups = heads(h.headCount, part: "q") + heads(h.keyValueHeadCount, offset: h.attentionWidth, part: "k")
                    + heads(h.keyValueHeadCount, offset: h.attentionWidth + h.keyValueWidth, part: "v")
                modules.append(module(a + names.fusedQKV!, .attention, out: h.qkvWidth, in: H, bias: h.qkvBias, groups: groups))
            case .separate:
                modules.append(module(a + "q_proj", .attention, out: h.attentionWidth, in: H, bias: h.qkvBias, groups: heads(h.headCount)))
                modules.append(module(a + "k_proj", .attention, out: h.keyValueWidth, in: H, bias: h.qkvBias, groups: heads(h.keyValueHeadCount)))
                modules.append(module(a + "v_proj", .attention, out: h.keyValueWidth, in: H, bias: h.qkvBias, groups: heads(h.keyValueHeadCount)))
            }
            modules.append(module(a + names.attentionOutput, .attention, out: H, in: h.attentionWidth, bias: h.outputBias))
            if h.feedForward == .swiGLU { modules.append(module(p + names.mlpGate, .mlp, out: I, in: H, bias: h.mlpBias)) }
            modules.append(module(p + names.mlpUp, .mlp, out: I, in: H, bias: h.mlpBias))
            modules.append(module(p + names.mlpDown, .mlp, out: H, in: I, bias: h.mlpBias))
            return modules
        }
    }
}
