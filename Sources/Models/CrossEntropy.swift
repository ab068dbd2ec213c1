import Foundation
import Numerics

/// Cross-entropy losses on logits, forward and backward in one pass: the loss needs the
/// log-partition, and its gradient, softmax − one-hot, needs the same exponentials.
public enum CrossEntropy {
    /// Summed cross-entropy Σ_t w_t · (−log p(target_t)) over rows with non-zero weight.
    /// Writes ∂loss/∂logits to `logitGradients` (zero rows where the weight is zero) and, when
    /// given, each row's log p(target) to `tokenLogProbabilities`. Returns the loss in Float64.
    @discardableResult
    public static func summed(
        logits: UnsafePointer<Float>, targets: LossTargets, vocabularySize V: Int,
        logitGradients: UnsafeMutablePointer<Float>?, tokenLogProbabilities: UnsafeMutablePointer<Float>? = nil
    ) -> Double {
        var loss = 0.0
        for row in 0..<targets.targets.count {
            let weight = targets.weights[row]
            let rowLogits = logits + row * V
            let target = Int(targets.targets[row])
            if weight == 0 && tokenLogProbabilities == nil {
                logitGradients?.advanced(by: row * V).update(repeating: 0, count: V)
                continue
            }
            let (maximum, partition) = Softmax.shiftedExponentials(rowLogits, count: V, into: logitGradients.map { $0 + row * V })
            let logProbability = rowLogits[target] - maximum - Foundation.log(partition)
            tokenLogProbabilities?[row] = logProbability
            loss -= Double(weight) * Double(logProbability)
            if let logitGradients {
                let gradient = logitGradients + row * V
                let scale = weight / partition
                forEachChunk(V) { i, lanes in storeLanes(loadLanes(gradient + i, lanes) * scale, gradient + i, lanes) }
                gradient[target] -= weight
            }
        }
        return loss
    }

    /// Draws each counted row's target from the model's own predictive distribution,
    /// ŷ_t ~ softmax(logits_t) (the true Fisher, DESIGN §4). Rows with zero weight keep theirs.
    public static func sampleTargets(
        logits: UnsafePointer<Float>, targets: inout LossTargets, vocabularySize V: Int,
        scratch: UnsafeMutablePointer<Float>, using rng: inout RandomGenerator
    ) {
        for row in 0..<targets.targets.count where targets.weights[row] != 0 {
            Softmax.forward(logits + row * V, scratch, rows: 1, cols: V)
            targets.targets[row] = Int32(rng.nextCategorical(UnsafeBufferPointer(start: scratch, count: V)))
        }
    }
}
