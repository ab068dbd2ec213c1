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

    /// The layouts of the selected `modules` (a model's `trackedModules`, in order, so that each
    /// layout's index is the taps' `moduleIndex`). Per-head attention blocks are the module's
    /// row groups, as the model defines them; a module without groups is one block.
    public static func of(
        _ modules: [TrackedLinearModule], selection: ModuleSelection, attentionBlocks: AttentionBlocks, includeBias: Bool
    ) -> [ModuleLayout] {
        modules.enumerated().compactMap { index, module in
            guard selection.includes(module) else { return nil }
            let blocks = attentionBlocks == .perHead && !module.rowGroups.isEmpty
                ? module.rowGroups.map { CurvatureBlock(name: $0.name, rows: $0.rows) }
                : [CurvatureBlock(name: "all", rows: 0..<module.outputSize)]
            return ModuleLayout(moduleIndex: index, module: module, includesBias: includeBias && module.hasBias, blocks: blocks)
        }
    }
}

extension DecoderModel {
    /// The layouts of this model's selected tracked modules (`ModuleLayout.of`).
    public func moduleLayouts(_ selection: ModuleSelection, attentionBlocks: AttentionBlocks, includeBias: Bool) -> [ModuleLayout] {
        ModuleLayout.of(trackedModules, selection: selection, attentionBlocks: attentionBlocks, includeBias: includeBias)
    }
}
