import Models
import Testing
import Training

/// `train --subset-fraction`'s draw: round(fraction · n) sequences, at least one, in their
/// original order, the same for the same seed.
@Suite struct SubsetTests {
    @Test func subsetsAreDeterministicFractionsInOrder() {
        let examples = (0..<10).map { TokenizedExample(tokens: [$0, $0 + 1], promptLength: 0) }
        let half = TrainingRun.subset(examples, fraction: 0.5, seed: 3)
        let firsts = half.map { $0.tokens[0] }
        #expect(half.count == 5 && firsts == TrainingRun.subset(examples, fraction: 0.5, seed: 3).map { $0.tokens[0] })
        #expect(firsts == firsts.sorted() && Set(firsts).count == 5)
        #expect(firsts != TrainingRun.subset(examples, fraction: 0.5, seed: 4).map { $0.tokens[0] })
        #expect(TrainingRun.subset(examples, fraction: nil, seed: 3).map { $0.tokens[0] } == Array(0..<10))
        #expect(TrainingRun.subset(examples, fraction: 0.01, seed: 3).count == 1)
    }
}
