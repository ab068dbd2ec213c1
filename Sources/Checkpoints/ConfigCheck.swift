/// Range checks shared by every config.json decoder, so that nonsense fails with the field's
/// name instead of a trap, a hang or NaN far downstream.
enum ConfigCheck {
    /// The largest size accepted: any product of two sizes (a weight matrix's element count)
    /// then fits in Int, so layouts can be computed before the checkpoint is consulted.
    static let largestSize = Int(Int32.max)

    static func sizes(_ fields: [(String, Int)], _ source: String) throws {
        for (name, value) in fields {
            guard value > 0 else { throw CheckpointError(source, "\(name) must be positive, got \(value)") }
            guard value <= largestSize else {
                throw CheckpointError(source, "\(name) \(value) is implausibly large (at most \(largestSize))")
            }
        }
    }

    /// A layer norm's epsilon divides (as √(σ² + ε)); it must stay positive even in Float32.
    static func epsilon(_ name: String, _ value: Double, _ source: String) throws {
        guard value.isFinite, value > 0, Float(value) > 0, Float(value).isFinite else {
            throw CheckpointError(source, "\(name) must be a positive number representable in Float32, got \(value)")
        }
    }
}
