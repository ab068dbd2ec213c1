/// Pearson and Spearman correlation of paired samples (Spearman: Pearson of the ranks, ties
/// given their average rank). NaN when a side is constant or there are fewer than two pairs.
public enum Correlation {
    public static func pearson(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count)
        guard a.count >= 2 else { return .nan }
        let n = Double(a.count), ma = a.reduce(0, +) / n, mb = b.reduce(0, +) / n
        var covariance = 0.0, va = 0.0, vb = 0.0
        for i in a.indices {
            covariance += (a[i] - ma) * (b[i] - mb)
            va += (a[i] - ma) * (a[i] - ma)
            vb += (b[i] - mb) * (b[i] - mb)
        }
        return va > 0 && vb > 0 ? covariance / (va * vb).squareRoot() : .nan
    }

    public static func spearman(_ a: [Double], _ b: [Double]) -> Double { pearson(ranks(a), ranks(b)) }

    /// 1-based ranks, ties sharing the mean of the ranks they span.
    public static func ranks(_ x: [Double]) -> [Double] {
        let order = x.indices.sorted { x[$0] < x[$1] }
        var result = [Double](repeating: 0, count: x.count)
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && x[order[end + 1]] == x[order[start]] { end += 1 }
            let rank = Double(start + end) / 2 + 1
            for k in start...end { result[order[k]] = rank }
            start = end + 1
        }
        return result
    }
}
