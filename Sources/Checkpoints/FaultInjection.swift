import Foundation

/// A test hook for fault-injection tests, inert unless its environment variable is set:
/// `INFLUENCE_TEST_KILL_AT=POINT[:N]` makes the process SIGKILL itself the N-th time (default
/// the first) it reaches `POINT`, as `kill -9` would at that moment; `INFLUENCE_TEST_STOP_AT`
/// stops it there (SIGSTOP) so a test can act while it holds its resources. Points are named
/// where they are reached, e.g. `pass1` (after each batch of a fit's pass 1) or
/// `rename:factors.json` (before an atomic write renames its file into place).
public enum FaultInjection {
    private struct Plan: Sendable {
        let point: String
        let occurrence: Int
        let signal: Int32

        init?(_ value: String?, signal: Int32) {
            guard let value, !value.isEmpty else { return nil }
            if let colon = value.lastIndex(of: ":"), let n = Int(value[value.index(after: colon)...]) {
                point = String(value[..<colon])
                occurrence = n
            } else {
                point = value
                occurrence = 1
            }
            self.signal = signal
        }
    }

    private static let plans: [Plan] = {
        let environment = ProcessInfo.processInfo.environment
        return [Plan(environment["INFLUENCE_TEST_KILL_AT"], signal: SIGKILL),
                Plan(environment["INFLUENCE_TEST_STOP_AT"], signal: SIGSTOP)].compactMap { $0 }
    }()
    nonisolated(unsafe) private static var reachedCounts: [String: Int] = [:]
    private static let lock = NSLock()

    /// Marks that the process has reached `point`.
    public static func reached(_ point: String) {
        guard !plans.isEmpty else { return }
        let count = lock.withLock {
            reachedCounts[point, default: 0] += 1
            return reachedCounts[point]!
        }
        for plan in plans where plan.point == point && plan.occurrence == count {
            kill(getpid(), plan.signal)
        }
    }
}
