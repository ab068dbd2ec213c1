import Models

/// Which tracked modules enter influence.
public enum ModuleSelection: String, Sendable, CaseIterable, Codable {
    case all, mlp, attention

    public func includes(_ module: TrackedLinearModule) -> Bool {
        switch self {
        case .all: true
        case .mlp: module.kind == .mlp
        case .attention: module.kind == .attention
        }
    }
}

/// How the fused query/key/value weight is split into curvature blocks (DESIGN §4).
public enum AttentionBlocks: String, Sendable, CaseIterable, Codable {
    /// One block per head and per Q, K, V; all share the module's input covariance A.
    case perHead = "per-head"
    /// One block for the whole fused matrix, as Kronfluence does.
    case fused
}

/// A curvature block: a contiguous range of a tracked module's output rows. The blocks of a
/// module partition its rows and share its input covariance.
public struct CurvatureBlock: Sendable, Equatable, Codable {
    public let name: String
    public let rows: Range<Int>
    public var size: Int { rows.count }
}

/// The blocks of one tracked module.
public struct ModuleLayout: Sendable, Equatable, Codable {
    /// Index into the model's `trackedModules` (the taps' `moduleIndex`).
    public let moduleIndex: Int
    public let module: TrackedLinearModule
    /// Whether a constant 1 is appended to every input (`--include-bias`, DESIGN §8).
    public let includesBias: Bool
    public let blocks: [CurvatureBlock]

    public var name: String { module.name }
    /// Columns of the module's gradient: d_in, plus one for the bias.
    public var inputSize: Int { module.inputSize + (includesBias ? 1 : 0) }
    public var outputSize: Int { module.outputSize }
    /// Entries of the module's gradient, d_out × inputSize.
    public var parameterCount: Int { outputSize * inputSize }

    /// The layout of the selected tracked modules of a GPT-NeoX model. GPT-NeoX orders the
    /// rows of `query_key_value` as [head][q, k, v][head_dim], so each head's Q, K and V are
    /// contiguous row ranges.
    public static func gptNeoX(
        _ h: GPTNeoXHyperparameters, modules: ModuleSelection, attentionBlocks: AttentionBlocks, includeBias: Bool
    ) -> [ModuleLayout] {
        GPTNeoXModel.trackedModules(h).enumerated().compactMap { index, module in
            guard modules.includes(module) else { return nil }
            let isFusedQKV = module.name.hasSuffix("query_key_value")
            var blocks: [CurvatureBlock] = []
            if isFusedQKV && attentionBlocks == .perHead {
                let d = h.headSize
                for head in 0..<h.headCount {
                    for (j, part) in ["q", "k", "v"].enumerated() {
                        let start = (head * 3 + j) * d
                        blocks.append(CurvatureBlock(name: "head\(head).\(part)", rows: start..<(start + d)))
                    }
                }
            } else {
                blocks = [CurvatureBlock(name: "all", rows: 0..<module.outputSize)]
            }
            return ModuleLayout(moduleIndex: index, module: module, includesBias: includeBias && module.hasBias, blocks: blocks)
        }
    }
}
