import Foundation
import Testing

/// `score --method cg|lissa|arnoldi`: estimators on the exact Gauss–Newton products of
/// `--curvature-data`, no factors. With a damping far above G's scale, (G + λI)⁻¹ ≈ I/λ, so
/// λ times CG's or LiSSA's scores is the gradient dot product (to about ‖G‖/λ); bad options
/// fail in one line.
@Suite struct ConjugateGradientScoreTests {
    typealias CLI = CommandLineTests

    static func score(_ extra: [String], out: String) throws -> CLI.Result {
        try CLI.run(["score", "--model", CLI.example, "--queries", "\(CLI.data)/queries.jsonl", "--train", "\(CLI.data)/train.jsonl",
                     "--out", out] + extra)
    }

    static func matrix(_ path: String) throws -> [[Double]] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        return (object["scores"] as! [[NSNumber]]).map { $0.map(\.doubleValue) }
    }

    @Test func largeDampingGivesTheGradientDotProductOverLambda() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cg = directory.appendingPathComponent("cg.json").path, gdp = directory.appendingPathComponent("gdp.json").path
        let solved = try Self.score(["--method", "cg", "--curvature-data", "\(CLI.data)/train.jsonl", "--damping", "100000"], out: cg)
        #expect(solved.status == 0, "\(solved.standardError)")
        #expect(solved.standardError.contains("cg: query 2 solved in"), "\(solved.standardError)")
        #expect(try Self.score(["--method", "gdp"], out: gdp).status == 0)
        let a = try Self.matrix(cg), b = try Self.matrix(gdp)
        #expect(a.count == 2 && a.allSatisfy { $0.count == 8 })
        let scale = b.joined().map(abs).max()!
        let worst = zip(a.joined(), b.joined()).map { abs(1e5 * $0 - $1) }.max()!
        // Measured: 1.1e-3 of the largest score.
        #expect(worst <= 1e-2 * scale, "λ·cg vs gdp: \(worst) of \(scale)")
    }

    @Test func lissaWithLargeDampingGivesTheGradientDotProductOverLambda() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let lissa = directory.appendingPathComponent("lissa.json").path, gdp = directory.appendingPathComponent("gdp.json").path
        let run = try Self.score(["--method", "lissa", "--curvature-data", "\(CLI.data)/train.jsonl", "--damping", "100000",
                                  "--lissa-scale", "200000", "--lissa-depth", "60"], out: lissa)
        #expect(run.status == 0, "\(run.standardError)")
        #expect(try Self.score(["--method", "gdp"], out: gdp).status == 0)
        let a = try Self.matrix(lissa), b = try Self.matrix(gdp)
        let scale = b.joined().map(abs).max()!
        let worst = zip(a.joined(), b.joined()).map { abs(1e5 * $0 - $1) }.max()!
        // Measured: 1.1e-3 of the largest score.
        #expect(worst <= 1e-2 * scale, "λ·lissa vs gdp: \(worst) of \(scale)")
    }

    @Test func arnoldiKeepsItsTopEigenpairs() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("arnoldi.json").path
        let run = try Self.score(["--method", "arnoldi", "--curvature-data", "\(CLI.data)/train.jsonl", "--damping", "0.1",
                                  "--arnoldi-iterations", "30", "--arnoldi-rank", "10"], out: out)
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardError.contains("arnoldi: 30 iterations, kept 10 eigenvalues from"), "\(run.standardError)")
        #expect(try Self.matrix(out).joined().allSatisfy(\.isFinite))
    }

    /// `--arnoldi-store`: the first run writes the eigenpairs, a second (at another damping)
    /// reads them instead of iterating and scores as a fresh run at that damping does; another
    /// rank is refused in one line naming the file.
    @Test func arnoldiEigenpairsAreStoredAndReused() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = directory.appendingPathComponent("eigenpairs.safetensors").path
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        let settings = ["--method", "arnoldi", "--curvature-data", "\(CLI.data)/train.jsonl", "--arnoldi-iterations", "20", "--arnoldi-rank", "8"]
        let first = try Self.score(settings + ["--damping", "0.1", "--arnoldi-store", store], out: path("first.json"))
        #expect(first.status == 0 && first.standardError.contains("arnoldi: wrote 8 eigenpairs to"), "\(first.standardError)")
        let reused = try Self.score(settings + ["--damping", "0.5", "--arnoldi-store", store], out: path("reused.json"))
        #expect(reused.status == 0 && reused.standardError.contains("arnoldi: read 8 eigenpairs from"), "\(reused.standardError)")
        #expect(!reused.standardError.contains("iterations, kept"))
        let fresh = try Self.score(settings + ["--damping", "0.5"], out: path("fresh.json"))
        #expect(fresh.status == 0)
        #expect(try Self.matrix(path("reused.json")) == Self.matrix(path("fresh.json")))
        let other = try Self.score(["--method", "arnoldi", "--curvature-data", "\(CLI.data)/train.jsonl", "--arnoldi-iterations", "20",
                                    "--arnoldi-rank", "6", "--damping", "0.1", "--arnoldi-store", store], out: path("other.json"))
        let errors = other.standardError.split(separator: "\n").filter { $0.hasPrefix("Error") }
        #expect(other.status != 0 && errors.count == 1 && errors[0].contains(store), "\(other.standardError)")
    }

    @Test func ckaScoresAreSimilaritiesInTheUnitInterval() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("cka.json").path
        let run = try Self.score(["--method", "cka", "--per-module"], out: out)
        #expect(run.status == 0, "\(run.standardError)")
        let scores = try Self.matrix(out)
        #expect(scores.count == 2 && scores.allSatisfy { $0.count == 8 })
        #expect(scores.joined().allSatisfy { $0 >= -1e-9 && $0 <= 1 + 1e-9 } && scores.joined().contains { $0 > 0 })
    }

    @Test func badOptionsAreRefused() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("s.json").path
        let base = ["score", "--model", CLI.example, "--queries", "\(CLI.data)/queries.jsonl", "--train", "\(CLI.data)/train.jsonl",
                    "--method", "cg", "--out", out]
        let data = ["--curvature-data", "\(CLI.data)/train.jsonl"]
        try CLI().expectFailure(base + data + ["--damping", "0.1x"], ["--method cg needs an absolute --damping"])
        try CLI().expectFailure(base + ["--damping", "0.1"], ["--method cg needs --curvature-data"])
        try CLI().expectFailure(base + data + ["--damping", "0.001", "--cg-iterations", "1"],
                                ["cg did not converge within 1 iterations: relative residual"])
        try CLI().expectFailure(base + data + ["--cg-tolerance", "2"], ["--cg-tolerance 2.0: expected a relative residual in (0, 1)"])
        try CLI().expectFailure(["score", "--model", CLI.example, "--queries", "\(CLI.data)/queries.jsonl", "--train", "\(CLI.data)/train.jsonl",
                                 "--method", "gdp"] + data, ["--curvature-data is for --method cg"])
        try CLI().expectFailure(base.map { $0 == "cg" ? "lissa" : $0 } + data + ["--damping", "0.1", "--lissa-scale", "20"],
                                ["lissa diverged at step", "--lissa-scale 20"])
        try CLI().expectFailure(base.map { $0 == "cg" ? "arnoldi" : $0 } + data + ["--damping", "0.1", "--arnoldi-iterations", "5", "--arnoldi-rank", "6"],
                                ["--arnoldi-rank 6 must be positive and at most --arnoldi-iterations 5"])
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}
