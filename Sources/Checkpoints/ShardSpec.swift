import Foundation

/// One process's share of a job split into `count` shards: `index` of `count`, 0-based, as a
/// Slurm job array (`sbatch --array=0-3`) or a Kubernetes Indexed Job numbers its tasks.
///
/// Written `I/N` on the command line, or `auto` to read the task's place from the scheduler's
/// environment: Slurm's `SLURM_ARRAY_TASK_ID` (less `SLURM_ARRAY_TASK_MIN`) of
/// `SLURM_ARRAY_TASK_COUNT`, or Kubernetes' `JOB_COMPLETION_INDEX` of `INFLUENCE_SHARD_COUNT`
/// (an Indexed Job does not expose its completions, so the manifest sets it).
public struct ShardSpec: Sendable, Equatable, Codable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1 else { throw InputError("shard count \(count): must be at least 1") }
        guard (0..<count).contains(index) else {
            throw InputError("shard \(index)/\(count): the index must be in 0..<\(count) (shards are numbered from 0)")
        }
        self.index = index
        self.count = count
    }

    /// The whole job as one shard.
    public static let whole = try! ShardSpec(index: 0, count: 1)

    /// Parses `I/N`, or `auto` from `environment`.
    public init(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        if text == "auto" {
            self = try Self.fromEnvironment(environment)
            return
        }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]) else {
            throw InputError("shard \"\(text)\": expected I/N (such as 0/4) or auto")
        }
        try self.init(index: index, count: count)
    }

    /// The shard of a Slurm array task or a Kubernetes Indexed Job pod.
    public static func fromEnvironment(_ environment: [String: String]) throws -> ShardSpec {
        func number(_ name: String) throws -> Int? {
            guard let value = environment[name] else { return nil }
            guard let n = Int(value.trimmingCharacters(in: .whitespaces)) else {
                throw InputError("--shard auto: \(name)=\"\(value)\" is not a whole number")
            }
            return n
        }
        if let task = try number("SLURM_ARRAY_TASK_ID") {
            guard let count = try number("SLURM_ARRAY_TASK_COUNT") else {
                throw InputError("--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not (Slurm 18.08 or later sets it)")
            }
            let first = try number("SLURM_ARRAY_TASK_MIN") ?? 0
            return try ShardSpec(index: task - first, count: count)
        }
        if let index = try number("JOB_COMPLETION_INDEX") {
            guard let count = try number("INFLUENCE_SHARD_COUNT") else {
                throw InputError("--shard auto: JOB_COMPLETION_INDEX is set but INFLUENCE_SHARD_COUNT is not (set it to the Job's completions)")
            }
            return try ShardSpec(index: index, count: count)
        }
        throw InputError("--shard auto: neither SLURM_ARRAY_TASK_ID (a Slurm job array) nor JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is set")
    }

    /// This shard's contiguous part of `0..<total` items: shards differ in size by at most one,
    /// and the parts of shards 0..<count, in order, are the whole range.
    public func slice(of total: Int) -> Range<Int> {
        (index * total / count)..<((index + 1) * total / count)
    }

    /// This shard's documents of `total` scored in batches of `batchSize`: its `slice` of the
    /// batches, so that every shard cuts the same batches as one process would (and its
    /// results are bit-identical to that process's). Empty when there are fewer batches than shards.
    public func documents(of total: Int, batchSize: Int) -> Range<Int> {
        precondition(batchSize > 0)
        let batches = slice(of: (total + batchSize - 1) / batchSize)
        return min(batches.lowerBound * batchSize, total)..<min(batches.upperBound * batchSize, total)
    }

    public var isWhole: Bool { count == 1 }

    /// `I/N`, as written on the command line.
    public var description: String { "\(index)/\(count)" }
}
