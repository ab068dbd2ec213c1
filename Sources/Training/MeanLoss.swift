import Models

extension DecoderModel {
    /// Mean cross-entropy over every counted target of `examples` (batches of 16; a batch
    /// without counted targets adds nothing).
    public func meanLoss(_ examples: [TokenizedExample]) -> Double {
        let activations = DecoderActivations(hyperparameters: hyperparameters)
        var total = 0.0, count = 0
        for start in stride(from: 0, to: examples.count, by: 16) {
            let slice = Array(examples[start..<min(start + 16, examples.count)])
            let batch = TokenBatch(examples: slice)
            guard let targets = try? lossTargets(batch, examples: slice) else { continue }
            total += summedLoss(batch, targets: targets, activations)
            count += targets.countedPositions
        }
        return total / Double(max(count, 1))
    }
}
