import Foundation

/// Linear warm-up from 0 to the peak rate, then cosine decay to `minimumFraction` × peak at the
/// last step (transformers' `get_cosine_schedule_with_warmup` when the fraction is 0). Stepped
/// once per optimizer step.
public struct LearningRateSchedule: Sendable, Codable, Equatable {
    public var peak: Double
    public var warmupSteps: Int
    public var totalSteps: Int
    public var minimumFraction: Double

    public init(peak: Double, warmupSteps: Int, totalSteps: Int, minimumFraction: Double = 0) {
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.minimumFraction = minimumFraction
    }

    /// The rate for optimizer step `step` (0-based).
    public func rate(atStep step: Int) -> Double {
        if step < warmupSteps { return peak * Double(step + 1) / Double(warmupSteps) }
        let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
        let cosine = 0.5 * (1 + Foundation.cos(Double.pi * min(1, progress)))
        return peak * (minimumFraction + (1 - minimumFraction) * cosine)
    }
}
