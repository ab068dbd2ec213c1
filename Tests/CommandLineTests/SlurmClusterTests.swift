import Checkpoints
import Curvature
import Foundation
import Testing

/// The Slurm recipes on a real one-node cluster (Tools/slurm/start-local-cluster.sh): a 4-task job
/// array of `fit --shard auto` per pass, a 4-task array of eigendecomposition parts
/// (`merge-factors --shard auto`), `merge-factors` after each, give the one-process fit's
/// covariance sums to Float64 rounding and its scores; a 4-task score array merged gives one
/// process's scores byte for byte. Runs only as root with the Slurm tools
/// installed (the cluster's daemons and config need root); INFLUENCE_SLURM_TESTS=0 skips it.
@Suite(.serialized) struct SlurmClusterTests {
    static let repository = CommandLineTests.repository
    static let recipes = repository.appendingPathComponent("Recipes/slurm")

    /// Whether a cluster is up to submit to, starting it if need be; says why not otherwise.
    static let clusterAvailable: Bool = {
        func skip(_ why: String) -> Bool {
            print("note: SlurmClusterTests skipped: \(why)")
            return false
        }
        if ProcessInfo.processInfo.environment["INFLUENCE_SLURM_TESTS"] == "0" { return skip("INFLUENCE_SLURM_TESTS=0") }
        guard getuid() == 0 else { return skip("not running as root (the local cluster needs root)") }
        for tool in ["sbatch", "sinfo", "slurmctld", "slurmd", "munged"] where which(tool) == nil {
            return skip("\(tool) not found (apt-get install slurm-wlm munge)")
        }
        guard let start = try? shell([repository.appendingPathComponent("Tools/slurm/start-local-cluster.sh").path], timeLimit: 120) else {
            return skip("could not run start-local-cluster.sh")
        }
        guard start.status == 0 else { return skip("start-local-cluster.sh failed: \(start.standardError)") }
        return true
    }()

    static func which(_ tool: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return (path.split(separator: ":").map(String.init) + ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]).map { "\($0)/\(tool)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs a program (found on PATH) with extra environment variables.
    static func shell(_ arguments: [String], environment extra: [String: String] = [:], timeLimit: TimeInterval = 300) throws -> ProcessOutcome {
        let program = arguments[0].contains("/") ? arguments[0] : (which(arguments[0]) ?? arguments[0])
        let environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        return try ProcessOutcome.run(Array(arguments.dropFirst()), timeLimit: timeLimit, environment: environment,
                                      executable: URL(fileURLWithPath: program))
    }

    /// One `sbatch --wait` of a recipe script; requires success.
    func submit(_ script: String, stage: String, array: Bool, work: URL, environment: [String: String],
                arguments: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let started = Date()
        var options = ["sbatch", "--wait", "--chdir=\(work.path)", "--output=\(work.path)/logs/\(stage)-%A_%a.log"]
        if array { options.append("--array=0-3") }
        let outcome = try Self.shell(options + [Self.recipes.appendingPathComponent(script).path] + arguments,
                                     environment: environment.merging(["INFLUENCE_STAGE": stage]) { $1 }, timeLimit: 180)
        let logs = (try? FileManager.default.contentsOfDirectory(atPath: work.appendingPathComponent("logs").path))?
            .filter { $0.hasPrefix(stage) }.compactMap { try? String(contentsOfFile: "\(work.path)/logs/\($0)", encoding: .utf8) } ?? []
        #expect(outcome.status == 0 && outcome.isClean, "sbatch \(script) \(stage): \(outcome.standardError)\n\(logs.joined(separator: "\n"))",
                sourceLocation: sourceLocation)
        print(String(format: "SlurmClusterTests: %@ %@ %.1f s", stage, array ? "(4-task array)" : "(one task)", Date().timeIntervalSince(started)))
    }

    func run(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> ProcessOutcome {
        let outcome = try ProcessOutcome.run(arguments)
        #expect(outcome.status == 0 && outcome.isClean, "influence \(arguments): \(outcome.standardError)", sourceLocation: sourceLocation)
        return outcome
    }

    /// The score matrix of a `score` output file (queries × training documents).
    func scores(_ path: String) throws -> [[Double]] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        return (object["scores"] as! [[NSNumber]]).map { $0.map(\.doubleValue) }
    }

    @Test(.enabled(if: clusterAvailable)) func jobArrayShardsMergeToTheOneProcessFit() throws {
        // Under /tmp: slurmd (root here) reads and writes it.
        let work = URL(fileURLWithPath: "/tmp/slurm-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work.appendingPathComponent("logs"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let model = CommandLineTests.example, train = "\(CommandLineTests.data)/train.jsonl", queries = "\(CommandLineTests.data)/queries.jsonl"
        // 8 documents, 2 a batch: one batch a shard.
        let fitOptions = ["--batch-size", "2", "--seed", "3"]
        let environment = ["INFLUENCE_MODEL": model, "INFLUENCE_DATA": train, "INFLUENCE_QUERIES": queries,
                           "INFLUENCE_WORK": work.path, "INFLUENCE_BIN": CommandLineTests.executable.path, "INFLUENCE_SHARDS": "4"]

        let started = Date()
        try submit("influence.sbatch", stage: "fit1", array: true, work: work, environment: environment, arguments: fitOptions)
        // The eigendecompositions shared out among a 4-task array (merge-factors --shard auto), then assembled.
        try submit("merge.sbatch", stage: "eigen", array: true, work: work, environment: environment)
        #expect(FileManager.default.fileExists(atPath: work.appendingPathComponent("factors/eigen-parts/part-3-of-4/eigenbasis.safetensors").path))
        try submit("merge.sbatch", stage: "merge-factors", array: false, work: work, environment: environment)
        let mergeLogs = try FileManager.default.contentsOfDirectory(atPath: work.appendingPathComponent("logs").path)
            .filter { $0.hasPrefix("merge-factors") }.map { try String(contentsOfFile: "\(work.path)/logs/\($0)", encoding: .utf8) }
        #expect(mergeLogs.contains { $0.contains("assembled the eigenbasis from 4 parts") }, "\(mergeLogs)")
        #expect(!FileManager.default.fileExists(atPath: work.appendingPathComponent("factors/eigen-parts").path))
        try submit("influence.sbatch", stage: "fit2", array: true, work: work, environment: environment, arguments: fitOptions)
        try submit("merge.sbatch", stage: "merge-factors", array: false, work: work, environment: environment)
        let merged = work.appendingPathComponent("factors")
        for i in 0..<4 {
            #expect(FileManager.default.fileExists(atPath: work.appendingPathComponent("shards/shard-\(i)/lambda-sums.safetensors").path))
        }

        let whole = work.appendingPathComponent("whole")
        _ = try run(["fit", model, "--data", train, "--out", whole.path] + fitOptions)

        // Float64 covariance sums: equal to rounding.
        let a = try SafeTensorsFile(url: FactorStore.covariancesURL(whole)), b = try SafeTensorsFile(url: FactorStore.covariancesURL(merged))
        #expect(a.tensors.map(\.name) == b.tensors.map(\.name) && !a.tensors.isEmpty)
        for tensor in a.tensors {
            let x = try a.doubles(tensor.name), y = try b.doubles(tensor.name)
            let scale = x.map(abs).max()!
            let worst = zip(x, y).map { abs($0 - $1) }.max()!
            #expect(x.count == y.count && worst <= 1e-10 * scale, "\(tensor.name): \(worst) of \(scale)")
        }

        // The merged factors score as the one-process factors: same ranking, values to Float32 rounding (the stored
        // eigenbases and Λ are Float32, and the merged Λ sums are added in another order; measured: 1.7e-6 of the largest).
        let wholeScores = work.appendingPathComponent("whole-scores.json").path, mergedScores = work.appendingPathComponent("merged-scores.json").path
        for (factors, out) in [(whole.path, wholeScores), (merged.path, mergedScores)] {
            _ = try run(["score", "--model", model, "--factors", factors, "--queries", queries, "--train", train, "--out", out])
        }
        let x = try scores(wholeScores), y = try scores(mergedScores)
        #expect(x.count == 2 && y.count == 2)
        for (p, q) in zip(x, y) {
            let scale = p.map(abs).max()!
            #expect(p.count == q.count && zip(p, q).allSatisfy { abs($0 - $1) <= 1e-5 * scale }, "\(p) vs \(q)")
            let rank = { (s: [Double]) in s.indices.sorted { s[$0] > s[$1] } }
            #expect(rank(p) == rank(q))
        }

        // Sharded scoring: a 4-task score array merged equals one process byte for byte.
        try submit("influence.sbatch", stage: "score", array: true, work: work, environment: environment)
        try submit("merge.sbatch", stage: "merge-scores", array: false, work: work, environment: environment)
        let one = work.appendingPathComponent("one-scores.jsonl").path
        _ = try run(["score", "--model", model, "--factors", merged.path, "--queries", queries, "--train", train, "--out", one])
        #expect(try Data(contentsOf: URL(fileURLWithPath: one)) == Data(contentsOf: work.appendingPathComponent("scores.jsonl")))
        print(String(format: "SlurmClusterTests: whole test %.1f s", Date().timeIntervalSince(started)))
    }
}
