import Numerics
import Testing

@Suite struct CorrelationTests {
    @Test func knownValues() {
        // scipy.stats: pearsonr([1,2,3,4,5],[2,4,5,4,5]) = 0.7745966692414834; spearmanr = 0.7378647873726218
        #expect(abs(Correlation.pearson([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]) - 0.7745966692414834) < 1e-12)
        #expect(abs(Correlation.spearman([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]) - 0.7378647873726218) < 1e-12)
        #expect(Correlation.ranks([10, 20, 20, 5]) == [2, 3.5, 3.5, 1])
        #expect(Correlation.spearman([1, 2, 3], [30, 20, 10]) == -1)
        #expect(Correlation.pearson([1, 1, 1], [1, 2, 3]).isNaN && Correlation.pearson([1], [2]).isNaN)
    }
}
