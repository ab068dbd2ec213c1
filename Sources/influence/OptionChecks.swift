import ArgumentParser

/// Up-front checks of numeric options, so that a bad value is a one-line error before any work
/// (never a trap in `stride(by: 0)`, an overflow, or an allocation of the value's size).
/// Numeric options are declared with `parsing: .unconditional` so that `--top-k -1` reaches
/// these checks instead of being read as a flag.
enum OptionCheck {
    /// The largest batch size, accumulation count, epoch count and similar multiplier: large
    /// enough for any real run, small enough that products of two of them cannot overflow.
    static let largestCount = 1 << 31 - 1

    /// `value` is in 1...`largest` (nil passes: the option was not given).
    static func positive(_ value: Int?, _ name: String, largest: Int = .max) throws {
        guard let value else { return }
        guard value >= 1 else { throw ValidationError("\(name) must be positive, not \(value)") }
        guard value <= largest else { throw ValidationError("\(name) must be at most \(largest), not \(value)") }
    }

    /// `value` is in `smallest`...`largest`.
    static func inRange(_ value: Int?, _ name: String, _ smallest: Int, _ largest: Int = .max) throws {
        guard let value else { return }
        guard value >= smallest, value <= largest else {
            throw ValidationError(largest == .max ? "\(name) must be at least \(smallest), not \(value)"
                                                  : "\(name) must be between \(smallest) and \(largest), not \(value)")
        }
    }

    /// `value` is finite and ≥ 0 (or > 0 with `positive`).
    static func finite(_ value: Double, _ name: String, positive: Bool = false) throws {
        guard value.isFinite else { throw ValidationError("\(name) must be a finite number, not \(value)") }
        if positive ? !(value > 0) : value < 0 {
            throw ValidationError("\(name) must be \(positive ? "positive" : "non-negative"), not \(value)")
        }
    }
}
