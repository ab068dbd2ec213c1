/// Per-token statistics of one tracked linear module on one batch (DESIGN §2).
///
/// For a module y = W a (+ b) with W ∈ ℝ^{dOut×dIn}, row t of `inputs` is aₜ and row t of
/// `outputGradients` is gₜ = ∂L/∂yₜ. Rows are the batch's packed tokens; `batch.sequenceStarts`
/// says which rows belong to which sequence. From these, a consumer can form everything
/// influence needs without the model materialising any dOut×dIn gradient it does not ask for:
///
/// * covariances A = Σ aₜaₜᵀ and S = Σ gₜgₜᵀ (EK-FAC pass 1),
/// * per-sequence gradients Gₙ = Σ_{t∈n} gₜaₜᵀ = g[n]ᵀ a[n] (one GEMM per sequence),
/// * inner products with a low-rank query, ⟨U Vᵀ, Gₙ⟩ = Σₜ (Uᵀgₜ)·(Vᵀaₜ),
/// * per-token contributions, ⟨Q, gₜaₜᵀ⟩ = gₜᵀ Q aₜ.
///
/// The pointers are valid only during the `observe` call; the observer copies what it keeps.
public struct LinearModuleTap {
    /// Index into the model's `trackedModules`.
    public let moduleIndex: Int
    public let inputs: UnsafePointer<Float>
    public let outputGradients: UnsafePointer<Float>
    public let inputSize: Int
    public let outputSize: Int
    public let batch: TokenBatch

    public var tokenCount: Int { batch.tokenCount }
}

/// Receives the taps of every tracked module during a backward pass, last layer first.
public protocol LinearModuleTapObserver: AnyObject {
    func observe(_ tap: LinearModuleTap)
}
