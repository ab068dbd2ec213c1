import Foundation
import Fuzzing
import Numerics
import Testing

/// A few thousand mutated inputs per parser: each must end in success or a thrown error. A
/// trap would kill this test process, which fails the suite; a case over the hang budget is
/// reported by number (replay it with `influence-fuzz TARGET --replay N --seed 12`).
@Suite struct ParserFuzzTests {
    #if DEBUG
    static let cases = 300
    #else
    static let cases = 4000
    #endif

    @Test(arguments: FuzzTarget.all.map(\.name))
    func everyCaseEndsInSuccessOrAnError(target name: String) throws {
        let runner = try FuzzRunner(target: FuzzTarget.named(name)!, seed: 12, hangBudget: 2)
        let report = runner.run(cases: 0..<Self.cases)
        #expect(report.failedSeeds.isEmpty, "\(report.failedSeeds)")
        #expect(report.hangs.isEmpty, "\(report.summary)")
        #expect(report.violations.isEmpty, "\(report.violations.prefix(5))")
        #expect(report.cases == Self.cases && report.successes + report.errors == report.cases)
        // Mutations that never get past the parser would test little: some cases must succeed
        // beyond the seeds, and many must fail.
        #expect(report.successes > runner.seedInputs.count && report.errors > Self.cases / 10, "\(report.summary)")
        print(report.summary)
    }

    @Test func aCaseReplaysFromItsNumberAlone() throws {
        let runner = try FuzzRunner(target: .tokenizer, seed: 5)
        #expect(runner.input(forCase: 77) == (try FuzzRunner(target: .tokenizer, seed: 5)).input(forCase: 77))
        #expect(runner.input(forCase: 77) != runner.input(forCase: 78))
        #expect(runner.input(forCase: 0) == runner.seedInputs[0])
    }
}

/// Crashes the fuzzer found in itself.
@Suite struct MutatorTests {
    /// Nudging a number negated Int64.min, which overflows.
    @Test func theSmallestIntegerCanBeNudged() {
        for seed in 0..<2000 {
            var rng = RandomGenerator(seed: UInt64(seed))
            var bytes = Array(#"{"a": -9223372036854775808}"#.utf8)
            JSONMutator.mutate(&bytes, using: &rng)
        }
    }

    @Test func mutationsOfEmptyAndTinyInputsStayInBounds() {
        for seed in 0..<2000 {
            var rng = RandomGenerator(seed: UInt64(seed))
            var bytes: [UInt8] = seed % 3 == 0 ? [] : [0x22]
            ByteMutator.mutate(&bytes, using: &rng)
            JSONMutator.mutate(&bytes, using: &rng)
        }
    }
}
