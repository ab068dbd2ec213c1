import Checkpoints
import Foundation
import Testing

/// XXH64 of files, hashed in windows whose pages are dropped as it goes: the same digest as the
/// one-shot hash of the bytes, and XXH64's published values.
@Suite struct FileDigestTests {
    func write(_ bytes: [UInt8]) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("digest-\(UUID().uuidString)")
        try Data(bytes).write(to: url)
        return url
    }

    @Test func knownValues() throws {
        // xxhsum -H64 of "" and of "abc".
        for (text, expected) in [("", "xxh64:ef46db3751d8e999"), ("abc", "xxh64:44bc2cf5ad770999")] {
            let url = try write(Array(text.utf8))
            defer { try? FileManager.default.removeItem(at: url) }
            #expect(try FileDigest.of(url) == expected)
        }
    }

    /// Two windows and a ragged tail: the windowed file digest equals the one-shot hash.
    @Test func aFileLargerThanAWindowHashesAsOneBuffer() throws {
        var bytes = [UInt8](repeating: 0, count: (64 << 20) * 2 + 1_003)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for i in bytes.indices {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            bytes[i] = UInt8(truncatingIfNeeded: state >> 56)
        }
        let url = try write(bytes)
        defer { try? FileManager.default.removeItem(at: url) }
        var calls: [Int] = []
        let oneShot = bytes.withUnsafeBytes { FileDigest.xxh64($0) { calls.append($0) } }
        #expect(calls == [64 << 20, 128 << 20])
        #expect(try FileDigest.of(url) == "xxh64:" + String(oneShot, radix: 16).leftPaddedForTest(16))
    }
}

extension String {
    func leftPaddedForTest(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
