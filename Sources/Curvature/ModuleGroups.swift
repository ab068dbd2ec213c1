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

    /// `parts` consecutive, non-empty ranges of the modules with about equal total `costs`
    /// (`parts` ≤ `costs.count`): each cut falls where the running total passes the next
    /// multiple of total ÷ parts, at the nearer module boundary.
    public static func balanced(_ costs: [Int], parts: Int) -> [Range<Int>] {
        precondition(parts >= 1 && parts <= costs.count)
        let total = Double(costs.reduce(0, +))
        var ranges: [Range<Int>] = [], start = 0, sum = 0.0
        for k in 1..<parts {
            let target = total * Double(k) / Double(parts)
            var end = start + 1
            sum += Double(costs[start])
            // Leave at least one module for each part still to come.
            while end < costs.count - (parts - k), sum + Double(costs[end]) / 2 <= target {
                sum += Double(costs[end])
                end += 1
            }
            ranges.append(start..<end)
            start = end
        }
        ranges.append(start..<costs.count)
        return ranges
    }
}
