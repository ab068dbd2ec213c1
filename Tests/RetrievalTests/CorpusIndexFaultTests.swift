import Foundation
import Numerics
import Retrieval
import Testing

/// Partial and corrupt index files: refused with a CorpusError naming the file, never a trap.
@Suite struct CorpusIndexFaultTests {
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("index-faults-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func corpus(lines: Int, in directory: URL) throws -> URL {
        let url = directory.appendingPathComponent("corpus.txt")
        try (0..<lines).map { "Document \($0): the capital of Veloria is Marren, and Tomas plays the cello \($0 % 7) times." }
            .joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// A copy of the temporary file as an interrupted build leaves it (its first batch of
    /// windows committed, the completion marker not yet written) is refused.
    @Test func anInterruptedBuildsFileIsRefused() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("c.sqlite"), partial = directory.appendingPathComponent("partial.sqlite")
        _ = try CorpusIndex.build(from: try CorpusReader(url: Self.corpus(lines: 3000, in: directory)), to: url, windowWords: 64) { _ in
            guard !FileManager.default.fileExists(atPath: partial.path) else { return }
            let temporary = try! FileManager.default.contentsOfDirectory(atPath: directory.path).first { $0.hasPrefix(".c.sqlite.tmp-") }!
            try! FileManager.default.copyItem(at: directory.appendingPathComponent(temporary), to: partial)
        }
        #expect(try CorpusIndex(url: url).count == 3000)
        #expect { try CorpusIndex(url: partial) } throws: { "\($0)".contains("partial.sqlite: an incomplete corpus index") }
    }

    /// A build removes the temporary files of builds whose process has ended, and no others.
    @Test func aBuildRemovesTheTemporaryFilesOfDeadBuilds() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let dead = directory.appendingPathComponent(".c.sqlite.tmp-999999999"), live = directory.appendingPathComponent(".c.sqlite.tmp-1")
        let other = directory.appendingPathComponent(".d.sqlite.tmp-999999999")
        for file in [dead, live, other] { try Data("partial".utf8).write(to: file) }
        _ = try CorpusIndex.build(from: try CorpusReader(url: Self.corpus(lines: 3, in: directory)), to: directory.appendingPathComponent("c.sqlite"),
                                  windowWords: 64)
        #expect(!FileManager.default.fileExists(atPath: dead.path))
        #expect(FileManager.default.fileExists(atPath: live.path) && FileManager.default.fileExists(atPath: other.path))
    }

    /// More on demand: `INDEX_FUZZ_CASES=100000 swift test -c release --filter CorpusIndexFaultTests` (Tools/fuzz does it).
    static let cases = Int(ProcessInfo.processInfo.environment["INDEX_FUZZ_CASES"] ?? "") ?? 1500

    /// Seeded byte mutations of a small index (bit flips, overwritten and zeroed runs,
    /// truncation): opening and searching ends in results or a CorpusError.
    @Test func mutatedIndexesGiveResultsOrTypedErrors() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("c.sqlite")
        _ = try CorpusIndex.build(from: try CorpusReader(url: Self.corpus(lines: 40, in: directory)), to: url, windowWords: 8)
        let original = [UInt8](try Data(contentsOf: url))
        var generator = RandomGenerator(seed: 7)
        func random(_ bound: Int) -> Int { generator.nextInt(below: bound) }
        var searched = 0, refused = 0
        for _ in 0..<Self.cases {
            var bytes = original
            for _ in 0...random(8) {
                let at = random(bytes.count)
                switch random(5) {
                case 0: bytes[at] ^= UInt8(1 << random(8))
                case 1: bytes[at] = UInt8(random(256))
                case 2: for i in at..<min(bytes.count, at + 1 + random(64)) { bytes[i] = 0 }
                case 3: for i in at..<min(bytes.count, at + 4) { bytes[i] = 0xFF }
                default: if random(4) == 0 { bytes.removeSubrange(max(at, 1)...) }
                }
            }
            try Data(bytes).write(to: url)
            do {
                let index = try CorpusIndex(url: url)
                let hits = try index.searchBM25("capital of Veloria cello", limit: 5)
                _ = try index.entries(hits.map(\.row) + [1, 5_000_000])
                _ = index.metadata
                searched += 1
            } catch is CorpusError {
                refused += 1
            }
        }
        #expect(searched + refused == Self.cases && refused > 0)
        print("index fuzz: \(Self.cases) cases, \(searched) searched, \(refused) typed errors")
    }
}
