import Experiments
import Testing

/// The linear datamodeling score on hand-made cases: it rewards summed scores that order the
/// subsets as minus their losses do, whatever the scale.
@Suite struct LDSTests {
    @Test func ldsIsTheSpearmanOfSummedScoresAgainstMinusTheLoss() {
        // Three documents, four subsets; document 0 lowers the loss by 1, document 2 by 0.1.
        let memberships = [[0, 1], [1, 2], [0, 2], [1]]
        let losses = memberships.map { subset in [5 - subset.reduce(0.0) { $0 + [1.0, 0, 0.1][$1] }] }
        let exact = LDSBenchmark.lds(scores: [[1, 0, 0.1]], memberships: memberships, losses: losses)
        #expect(abs(exact[0] - 1) < 1e-12)
        // A positive rescaling changes nothing; a reversed sign gives −1.
        #expect(abs(LDSBenchmark.lds(scores: [[30, 0, 3]], memberships: memberships, losses: losses)[0] - 1) < 1e-12)
        #expect(abs(LDSBenchmark.lds(scores: [[-1, 0, -0.1]], memberships: memberships, losses: losses)[0] + 1) < 1e-12)
        // Ranking document 2 above document 0 swaps the middle subsets: Spearman 0.8 over the four.
        let swapped = LDSBenchmark.lds(scores: [[0.1, 0, 1]], memberships: memberships, losses: losses)
        #expect(abs(swapped[0] - 0.8) < 1e-12, "\(swapped[0])")
    }
}
