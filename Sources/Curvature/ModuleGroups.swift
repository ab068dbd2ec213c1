/// How `--max-memory` and `--threads` cut a run's modules into consecutive ranges (fit's module
/// groups, score's module groups, windows of eigendecompositions).
public enum ModuleGroups {
    /// Consecutive ranges of `first ..< costs.count`, each as long as its costs fit in
    /// `capacity` (every single cost must fit; the caller checks and explains).
    public static func packed(_ costs: [Int], from first: Int = 0, capacity: Int) -> [Range<Int>] {
        guard first < costs.count else { return [] }
        var groups: [Range<Int>] = [], start = first, used = 0
        for m in first..<costs.count {
            if used + costs[m] > capacity {
                groups.append(start..<m)
                start = m
                used = 0
            }
            used += costs[m]
        }
        groups.append(start..<costs.count)
        return groups
    }

    /// `range` cut into consecutive windows of at most `size` (at least 1).
    public static func windows(of range: Range<Int>, size: Int) -> [Range<Int>] {
        let size = max(1, size)
        return stride(from: range.lowerBound, to: range.upperBound, by: size).map { $0..<min(range.upperBound, $0 + size) }
    }
}
