import Checkpoints
import Curvature
import Foundation
import Models
import Numerics
import Testing
import TestSupport

/// Bounded-memory and sharded fits: module groups give the one-group factors bit for bit;
/// shards merged with `FactorMerge` give the one-process sums to Float64 rounding.
@Suite struct PartitionedFitTests {
    let model = microModel()
    let examples = randomExamples(count: 11, lengths: 3...9, vocabulary: 11, seed: 4, promptLength: 2)
    let options = FactorManifest.Options(
        modules: .all, attentionBlocks: .perHead, includeBias: true, maxSequences: nil, sequenceLength: 9, batchSize: 2,
        seed: 7, data: "micro.jsonl", dataFingerprint: "micro")

    func temporary(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
    }

    func job(_ directory: URL, maxMemory: Int? = nil, shard: ShardSpec = .whole, eigenbasis: URL? = nil) -> FactorFitJob {
        var job = FactorFitJob(model: model, modelPath: "micro", examples: examples, options: options, directory: directory, toolVersion: "test")
        job.maxMemory = maxMemory
        job.shard = shard
        job.eigenbasis = eigenbasis
        return job
    }

    func bytes(_ directory: URL, _ name: String) throws -> Data { try Data(contentsOf: directory.appendingPathComponent(name)) }

    @Test func moduleGroupsGiveTheSameFactorsBitForBit() throws {
        let whole = temporary("fit-whole"), grouped = temporary("fit-groups")
        defer { for d in [whole, grouped] { try? FileManager.default.removeItem(at: d) } }
        try job(whole).run()
        // A budget just above the fixed part: one module per group.
        let plan = job(grouped).memoryPlan()
        let budget = plan.fixedBytes + (plan.covarianceBytes + plan.correctionBytes + plan.eigenBytes).max()!
        var messages: [String] = []
        try job(grouped, maxMemory: budget).run(log: { messages.append($0) })
        #expect(messages.contains { $0.contains("pass 1: ") && $0.contains("module groups") && $0.contains("the data are read") }, "\(messages)")
        for name in ["covariances.safetensors", "eigenbasis.safetensors", "lambda.safetensors"] {
            #expect(try bytes(whole, name) == bytes(grouped, name), "\(name) differs")
        }
    }

    @Test func tooSmallABudgetSaysTheMinimum() throws {
        let directory = temporary("fit-small")
        defer { try? FileManager.default.removeItem(at: directory) }
        let plan = job(directory).memoryPlan()
        #expect {
            try job(directory, maxMemory: plan.fixedBytes + 10).run()
        } throws: { error in
            let text = "\(error)"
            return text.contains("too small") && text.contains("give at least")
        }
    }

    @Test func shardsMergedEqualOneProcess() throws {
        let root = temporary("fit-shards")
        defer { try? FileManager.default.removeItem(at: root) }
        let whole = root.appendingPathComponent("whole"), merged = root.appendingPathComponent("merged")
        try job(whole).run()
        let shards = (0..<3).map { root.appendingPathComponent("shard-\($0)") }
        for (i, directory) in shards.enumerated() { try job(directory, shard: try ShardSpec(index: i, count: 3)).run() }
        // Shard order on the command line does not matter.
        try FactorMerge(shards: shards.reversed(), directory: merged, toolVersion: "test").run()
        #expect(throws: CheckpointError.self) { try FactorStore.readFactors(merged) }   // not finished yet
        for (i, directory) in shards.enumerated() {
            try job(directory, shard: try ShardSpec(index: i, count: 3), eigenbasis: merged).run()
        }
        try FactorMerge(shards: shards, directory: merged, toolVersion: "test").run()

        // Float64 sums equal to rounding.
        let a = try SafeTensorsFile(url: FactorStore.covariancesURL(whole)), b = try SafeTensorsFile(url: FactorStore.covariancesURL(merged))
        #expect(a.tensors.map(\.name) == b.tensors.map(\.name))
        for tensor in a.tensors {
            let x = try a.doubles(tensor.name), y = try b.doubles(tensor.name)
            let scale = x.map(abs).max()!
            let worst = zip(x, y).map { abs($0 - $1) }.max()!
            #expect(worst <= 1e-12 * scale, "\(tensor.name): \(worst) of \(scale)")
        }
        let (wholeManifest, wholeFactors) = try FactorStore.readFactors(whole)
        let (mergedManifest, mergedFactors) = try FactorStore.readFactors(merged)
        #expect(mergedManifest.covarianceTokens == wholeManifest.covarianceTokens)
        #expect(mergedManifest.covarianceSequences == wholeManifest.covarianceSequences)
        #expect(mergedManifest.correctionSequences == wholeManifest.correctionSequences && mergedManifest.mergedShards == 3)
        for (x, y) in zip(wholeFactors.correctedEigenvalues.joined(), mergedFactors.correctedEigenvalues.joined()) {
            let scale = x.map(abs).max()!
            #expect(zip(x, y).allSatisfy { abs($0 - $1) <= 1e-4 * scale })
        }
        for (x, y) in zip(wholeFactors.eigenbases, mergedFactors.eigenbases) {
            let relative = zip(x.inputEigenvalues, y.inputEigenvalues).map { abs($0 - $1) / max(abs($0), 1e-300) }
            #expect(relative.max()! <= 1e-10 || zip(x.inputEigenvalues, y.inputEigenvalues).allSatisfy { abs($0 - $1) <= 1e-12 })
        }

        // Rerunning a finished shard changes nothing; a merge again says it is complete.
        let before = try bytes(shards[1], "lambda-sums.safetensors")
        try job(shards[1], shard: try ShardSpec(index: 1, count: 3), eigenbasis: merged).run()
        #expect(try bytes(shards[1], "lambda-sums.safetensors") == before)
        var messages: [String] = []
        try FactorMerge(shards: shards, directory: merged, toolVersion: "test").run(log: { messages.append($0) })
        #expect(messages.last?.contains("is complete") == true)
    }

    /// `merge-factors --shard I/N` shares the eigendecompositions out by module: the parts,
    /// run in any order, assemble into the eigenbasis file the merge computes itself, byte for
    /// byte, and the finished factors are the same files. A missing, unfinished or foreign part is
    /// refused by name.
    @Test func eigendecompositionPartsAssembleToTheMergedEigenbasis() throws {
        let root = temporary("fit-eigen-parts")
        defer { try? FileManager.default.removeItem(at: root) }
        let shards = (0..<2).map { root.appendingPathComponent("shard-\($0)") }
        for (i, directory) in shards.enumerated() { try job(directory, shard: try ShardSpec(index: i, count: 2)).run() }
        let direct = root.appendingPathComponent("direct"), parted = root.appendingPathComponent("parted")
        try FactorMerge(shards: shards, directory: direct, toolVersion: "test").run()

        func part(_ index: Int, of count: Int, into out: URL = parted, log: @escaping (String) -> Void = { _ in }) throws {
            var merge = FactorMerge(shards: shards, directory: out, toolVersion: "test")
            merge.eigenPart = try ShardSpec(index: index, count: count)
            try merge.run(log: log)
        }
        try part(2, of: 3)
        try part(0, of: 3)
        #expect(performing: { try FactorMerge(shards: shards, directory: parted, toolVersion: "test").run() },
                throws: { "\($0)".contains("part 1/3 is missing") })
        var messages: [String] = []
        try part(1, of: 3, log: { messages.append($0) })
        #expect(messages.contains { $0.contains("part 1/3: modules ") }, "\(messages)")
        try FactorMerge(shards: shards, directory: parted, toolVersion: "test").run(log: { messages.append($0) })
        #expect(messages.contains { $0.contains("assembled the eigenbasis from 3 parts") }, "\(messages)")
        #expect(!FileManager.default.fileExists(atPath: parted.appendingPathComponent("eigen-parts").path))
        #expect(try bytes(direct, "eigenbasis.safetensors") == bytes(parted, "eigenbasis.safetensors"))
        #expect(try FactorStore.readManifest(direct).files == FactorStore.readManifest(parted).files)
        // A part task run again after the assembly has nothing to do.
        messages = []
        try part(1, of: 3, log: { messages.append($0) })
        #expect(messages.contains { $0.contains("nothing to do") })

        // More parts than modules, and a part of other shards, are refused.
        let modules = try FactorStore.readManifest(direct).modules.count
        #expect(performing: { try part(0, of: modules + 1, into: root.appendingPathComponent("many")) },
                throws: { "\($0)".contains("cannot be shared among \(modules + 1) parts") })
        let stale = root.appendingPathComponent("stale")
        try part(0, of: 2, into: stale)
        try part(1, of: 2, into: stale)
        let foreign = root.appendingPathComponent("foreign-shard")
        var otherOptions = options
        otherOptions.seed = 8
        var other = FactorFitJob(model: model, modelPath: "micro", examples: examples, options: otherOptions,
                                 directory: foreign, toolVersion: "test")
        other.shard = try ShardSpec(index: 0, count: 2)
        try other.run()
        var otherSecond = FactorFitJob(model: model, modelPath: "micro", examples: examples, options: otherOptions,
                                       directory: root.appendingPathComponent("foreign-shard-1"), toolVersion: "test")
        otherSecond.shard = try ShardSpec(index: 1, count: 2)
        try otherSecond.run()
        #expect(performing: {
            try FactorMerge(shards: [foreign, root.appendingPathComponent("foreign-shard-1")], directory: stale, toolVersion: "test").run()
        }, throws: { "\($0)".contains("holds factors of other shards") || "\($0)".contains("of another fit's shards") })
    }

    /// `--threads` gives each thread a batch, up to the batches there are; under a budget, a
    /// thread more that would cost more passes per thread is not taken.
    @Test func threadsRunAsManyBatchesAsPay() throws {
        var fit = job(temporary("fit-workers"))
        fit.threads = 4
        #expect(fit.passWorkers == 4)
        fit.threads = 10
        #expect(fit.passWorkers == 6)   // 11 sequences in batches of 2
        fit.maxMemory = 1 << 40
        #expect(fit.passWorkers == 6)
        // Room for two batches and every module: one pass each with two threads.
        fit.threads = 2
        let one = fit.memoryPlan(workers: 1), two = fit.memoryPlan(workers: 2)
        fit.maxMemory = two.onePassPeakBytes
        #expect(fit.passWorkers == 2)
        // Room for one batch and every module: a second thread would not fit or would need at
        // least two passes more (no fewer passes per thread), so one thread is taken.
        fit.maxMemory = one.onePassPeakBytes
        #expect(fit.passWorkers == 1)
    }

    /// The parts of N tasks are consecutive, non-empty and of about equal work.
    @Test func balancedPartsCoverEveryModule() {
        let costs = [8, 1, 1, 1, 8, 1, 1, 1, 8, 1]
        for parts in 1...costs.count {
            let ranges = ModuleGroups.balanced(costs, parts: parts)
            #expect(ranges.count == parts && ranges.first!.lowerBound == 0 && ranges.last!.upperBound == costs.count)
            #expect(ranges.allSatisfy { !$0.isEmpty } && zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        }
        // Totals 10, 11, 10 of 31 (cuts at the boundaries nearest 10.3 and 20.7).
        #expect(ModuleGroups.balanced(costs, parts: 3) == [0..<3, 3..<7, 7..<10])
        #expect(ModuleGroups.balanced([1, 1, 1, 1, 1, 1], parts: 2) == [0..<3, 3..<6])
    }

    @Test func mergeRefusesMissingDuplicateAndForeignShards() throws {
        let root = temporary("fit-bad-shards")
        defer { try? FileManager.default.removeItem(at: root) }
        let shards = (0..<2).map { root.appendingPathComponent("shard-\($0)") }
        for (i, directory) in shards.enumerated() { try job(directory, shard: try ShardSpec(index: i, count: 2)).run() }
        func refuses(_ directories: [URL], _ fragment: String) {
            #expect(performing: { try FactorMerge(shards: directories, directory: root.appendingPathComponent("out-\(UUID())"), toolVersion: "test").run() },
                    throws: { "\($0)".contains(fragment) })
        }
        refuses([shards[0]], "shard 1/2 is missing")
        refuses([shards[0], shards[0]], "given twice")
        let whole = root.appendingPathComponent("whole")
        try job(whole).run()
        refuses([shards[0], whole], "not a shard")
        var otherOptions = options
        otherOptions.seed = 8
        let foreign = root.appendingPathComponent("foreign")
        var other = FactorFitJob(model: model, modelPath: "micro", examples: examples, options: otherOptions, directory: foreign, toolVersion: "test")
        other.shard = try ShardSpec(index: 1, count: 2)
        try other.run()
        refuses([shards[0], foreign], "other options")
        let three = root.appendingPathComponent("three")
        try job(three, shard: try ShardSpec(index: 1, count: 3)).run()
        refuses([shards[0], three], "of 3 shards")
        // Pass 2 against an eigenbasis that is not the merge of these shards.
        #expect(performing: { try job(shards[0], shard: try ShardSpec(index: 0, count: 2), eigenbasis: whole).run() },
                throws: { "\($0)".contains("not the merged eigenbasis") })
    }

    @Test func shardsAreWholeBatchesCoveringEveryExample() throws {
        for examples in [0, 1, 7, 11, 40] {
            for count in 1...5 {
                let ranges = try (0..<count).map { try ShardSpec(index: $0, count: count).documents(of: examples, batchSize: 3) }
                #expect(ranges.first!.lowerBound == 0 && ranges.last!.upperBound == examples)
                for (a, b) in zip(ranges, ranges.dropFirst()) { #expect(a.upperBound == b.lowerBound && a.upperBound % 3 == 0 || a.upperBound == examples) }
            }
        }
    }
}
