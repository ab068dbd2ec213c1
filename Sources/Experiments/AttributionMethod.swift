import Curvature

/// A way of scoring how much a sentence of the attribution set taught the answer to a
/// question: the rows of the fact-tracing benchmark's results.
public enum AttributionMethod: Sendable, Equatable {
    /// What BM25 is given of the query.
    public enum BM25Query: Sendable, Equatable { case questionAndAnswer, questionOnly }
    /// Under which model GDP takes the sentences' gradients (the question's is always the fine-tuned model's).
    public enum GradientModel: Sendable, Equatable { case fineTuned, acrossStages }

    case bm25(BM25Query)
    /// Cosine similarity of mean final hidden states.
    case repSim
    /// Gradient dot product, no curvature.
    case gdp(GradientModel)
    /// q ᵀ (G_ft + λ)⁻¹ ∇_ft(document).
    case singleStage(Damping)
    /// q ᵀ (G_ft + λ)⁻¹ (G_pt + λ)⁻¹ ∇_pt(document).
    case multiStage(Damping)
    /// q ᵀ (G_ft + λ)⁻¹ ∇_pt(document): multi-stage with the pre-training inverse left out.
    case multiStageWithoutPretrainedInverse(Damping)

    /// The method's name in the report.
    public var name: String {
        switch self {
        case .bm25(.questionAndAnswer): "BM25 (question + answer words)"
        case .bm25(.questionOnly): "BM25 (question words only)"
        case .repSim: "RepSim"
        case .gdp(.fineTuned): "GDP (fine-tuned)"
        case .gdp(.acrossStages): "GDP (across stages)"
        case .singleStage: "single-stage IF"
        case .multiStage: "multi-stage IF"
        case .multiStageWithoutPretrainedInverse: "multi-stage IF without (G_pt+λ)⁻¹"
        }
    }

    public var damping: Damping? {
        switch self {
        case .bm25, .repSim, .gdp: nil
        case .singleStage(let damping), .multiStage(let damping), .multiStageWithoutPretrainedInverse(let damping): damping
        }
    }

    /// The damping column of the report: "—" for methods without curvature.
    public var dampingLabel: String { damping?.description ?? "—" }

    /// The three influence variants at one damping, in the report's order.
    public static func influence(_ damping: Damping) -> [AttributionMethod] {
        [.singleStage(damping), .multiStage(damping), .multiStageWithoutPretrainedInverse(damping)]
    }
}
