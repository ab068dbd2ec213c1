/// The step every gradient in the tool starts from: forward, the summed cross-entropy of the
/// counted targets, backward. Training, EK-FAC fitting, scoring and the benchmarks all call it
/// instead of wiring the three together themselves.
extension DecoderModel {
    /// Forward pass of `batch`, the summed cross-entropy Σ_t w_t · (−log p(target_t)), and the
    /// backward pass into `gradients` (parameter gradients, added to) and/or `observer` (the
    /// tracked modules' taps). Returns the loss.
    @discardableResult
    public func forwardLossBackward(
        _ batch: TokenBatch, targets: LossTargets, _ activations: DecoderActivations,
        gradients: ParameterStore? = nil, observer: LinearModuleTapObserver? = nil
    ) -> Double {
        forward(batch, activations)
        return backpropagateLoss(batch, targets: targets, activations, gradients: gradients, observer: observer)
    }

    /// The loss and backward half of `forwardLossBackward`, on the logits of the forward pass
    /// just run: EK-FAC fitting samples its targets from those logits in between.
    @discardableResult
    public func backpropagateLoss(
        _ batch: TokenBatch, targets: LossTargets, _ activations: DecoderActivations,
        gradients: ParameterStore? = nil, observer: LinearModuleTapObserver? = nil
    ) -> Double {
        let loss = CrossEntropy.summed(logits: activations.logits, targets: targets, vocabularySize: hyperparameters.outputWidth,
                                       logitGradients: activations.logitGradients)
        backward(batch, activations, gradients: gradients, observer: observer)
        return loss
    }

    /// Forward and the summed cross-entropy only (evaluation).
    public func summedLoss(_ batch: TokenBatch, targets: LossTargets, _ activations: DecoderActivations) -> Double {
        forward(batch, activations)
        return CrossEntropy.summed(logits: activations.logits, targets: targets, vocabularySize: hyperparameters.outputWidth,
                                   logitGradients: nil)
    }
}
