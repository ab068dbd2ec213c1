import Foundation

/// When a fit saves a pass's progress: every `every` sequences, or every five minutes without
/// it; never after the last batch (the pass's own file follows at once).
public final class CheckpointSchedule {
    private let every: Int?
    private let total: Int
    private var lastSequence: Int
    private var lastTime = Date()

    public init(every: Int?, from first: Int, total: Int) {
        self.every = every
        self.total = total
        lastSequence = first
    }

    public func isDue(_ nextSequence: Int) -> Bool {
        guard nextSequence < total else { return false }
        let due = every.map { nextSequence - lastSequence >= $0 } ?? (Date().timeIntervalSince(lastTime) >= 300)
        if due { (lastSequence, lastTime) = (nextSequence, Date()) }
        return due
    }
}
