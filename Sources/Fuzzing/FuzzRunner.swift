import Foundation
import Numerics

/// Runs numbered cases of a target: case n mutates a seed input with a generator seeded by
/// (seed, n), so any case is replayed by its number alone. The first cases are the seeds
/// unmutated (they must succeed: a target whose seeds fail tests nothing).
public struct FuzzRunner {
    public let target: FuzzTarget
    public let seed: UInt64
    /// A case slower than this counts as a hang (a parser that is merely slow on a small
    /// input would be one on a large input).
    public let hangBudget: TimeInterval
    public let seedInputs: [Data]

    public init(target: FuzzTarget, seed: UInt64, hangBudget: TimeInterval = 2) throws {
        self.target = target
        self.seed = seed
        self.hangBudget = hangBudget
        seedInputs = try target.seeds()
        precondition(!seedInputs.isEmpty, "fuzz target \(target.name) has no seed inputs")
    }

    /// The input of case `number`.
    public func input(forCase number: Int) -> Data {
        if number < seedInputs.count { return seedInputs[number] }
        var rng = RandomGenerator(seed: seed, case: number)
        var bytes = [UInt8](rng.pick(seedInputs))
        // Mostly one mutation: each one risks making the input unparsable at its first layer.
        for _ in 0..<(rng.chance(0.5) ? 1 : 2 + rng.nextInt(below: 3)) { mutate(&bytes, using: &rng) }
        return Data(bytes)
    }

    private func mutate(_ bytes: inout [UInt8], using rng: inout RandomGenerator) {
        switch target.format {
        case .bytes:
            ByteMutator.mutate(&bytes, using: &rng)
        case .json:
            if rng.chance(0.1) || !JSONMutator.mutate(&bytes, using: &rng) { ByteMutator.mutate(&bytes, using: &rng) }
        case .safeTensors:
            guard rng.chance(0.75), let (header, data) = SafeTensorsLayout.split(bytes) else { return ByteMutator.mutate(&bytes, using: &rng) }
            var mutated = header
            if !JSONMutator.mutate(&mutated, using: &rng) { ByteMutator.mutate(&mutated, using: &rng) }
            bytes = SafeTensorsLayout.join(header: mutated, data: data)
        }
    }

    public enum Outcome: Equatable { case success, error(String), violation(String) }

    /// Runs one case, returning what it did and how long it took.
    public func run(case number: Int) -> (outcome: Outcome, seconds: TimeInterval) {
        let input = input(forCase: number)
        let started = Date()
        let outcome: Outcome
        do {
            try target.body(input)
            outcome = .success
        } catch let violation as FuzzContractViolation {
            outcome = .violation("\(violation)")
        } catch {
            outcome = .error("\(error)")
        }
        return (outcome, Date().timeIntervalSince(started))
    }

    /// Runs `cases`; `starting` is told each case number before it runs (so that a parent
    /// process can name the case that killed a child).
    public func run(cases: Range<Int>, starting: ((Int) -> Void)? = nil) -> FuzzReport {
        var report = FuzzReport(target: target.name)
        for number in cases {
            starting?(number)
            let (outcome, seconds) = run(case: number)
            report.record(number, outcome, seconds: seconds, hangBudget: hangBudget, isSeed: number < seedInputs.count)
        }
        return report
    }
}

/// The counts of a run.
public struct FuzzReport: Sendable {
    public let target: String
    public var cases = 0
    public var successes = 0
    public var errors = 0
    /// Case numbers over the hang budget.
    public var hangs: [Int] = []
    /// Case numbers that killed the process (only a parent process can see these).
    public var crashes: [Int] = []
    /// Seed cases that did not succeed, with their errors.
    public var failedSeeds: [String] = []
    /// Cases whose body reported a `FuzzContractViolation`, with it.
    public var violations: [String] = []
    public var slowestCase: (number: Int, seconds: TimeInterval) = (0, 0)

    public init(target: String) { self.target = target }

    mutating func record(_ number: Int, _ outcome: FuzzRunner.Outcome, seconds: TimeInterval, hangBudget: TimeInterval, isSeed: Bool) {
        cases += 1
        switch outcome {
        case .success: successes += 1
        case .error(let message):
            errors += 1
            if isSeed { failedSeeds.append("case \(number): \(message)") }
        case .violation(let message):
            violations.append("case \(number): \(message)")
        }
        if seconds > hangBudget { hangs.append(number) }
        if seconds > slowestCase.seconds { slowestCase = (number, seconds) }
    }

    /// Adds another run's counts (a later chunk of the same run).
    public mutating func merge(_ other: FuzzReport) {
        cases += other.cases
        successes += other.successes
        errors += other.errors
        hangs += other.hangs
        crashes += other.crashes
        failedSeeds += other.failedSeeds
        violations += other.violations
        if other.slowestCase.seconds > slowestCase.seconds { slowestCase = other.slowestCase }
    }

    public var summary: String {
        "\(target): cases \(cases), successes \(successes), errors \(errors), hangs \(hangs.count), crashes \(crashes.count)"
            + (hangs.isEmpty ? "" : " (hang cases \(hangs.prefix(20).map(String.init).joined(separator: ", ")))")
            + (violations.isEmpty ? "" : ", contract violations \(violations.count)")
            + (crashes.isEmpty ? "" : " (crash cases \(crashes.prefix(20).map(String.init).joined(separator: ", ")))")
            + String(format: "; slowest case %d took %.3f s", slowestCase.number, slowestCase.seconds)
    }
}

/// safetensors' framing, for header-aware mutation.
enum SafeTensorsLayout {
    static func split(_ bytes: [UInt8]) -> (header: [UInt8], data: [UInt8])? {
        guard bytes.count >= 8 else { return nil }
        let length = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard length <= UInt64(bytes.count - 8) else { return nil }
        return (Array(bytes[8..<8 + Int(length)]), Array(bytes[(8 + Int(length))...]))
    }

    static func join(header: [UInt8], data: [UInt8]) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: UInt64(header.count) >> (8 * UInt64($0))) } + header + data
    }
}
