import Checkpoints
import Foundation
import Models
import Testing

/// A seeded mutation fuzzer over the JSON Lines record reader: every mutated file is read
/// into records or refused with a `JSONLinesError`; any other error, a trap or a hang fails.
@Suite struct JSONLinesFuzzTests {
    static let seeds: [String] = [
        "{\"id\": \"a\", \"text\": \"The capital of Veloria is Marren.\"}\n{\"id\": 2, \"text\": \"Lina Holt works as a glassblower.\"}\n",
        "{\"prompt\": \"Question: Where?\\nAnswer:\", \"completion\": \" Kelvik.\"}\r\n\r\n{\"text\": \"é ü 中文 \\u00e9\"}\r\n",
        "{\"text\": \"x\", \"label\": \"person\"}\n{\"text\": \"y\", \"label\": 1}\n  \n",
        "\u{FEFF}{\"text\": null}\n[1, 2]\n\"string\"\n{\"id\": {\"nested\": true}, \"text\": 3}\n",
    ]

    /// One mutation of `bytes`: flip, insert, delete, duplicate or splice bytes, biased toward
    /// the bytes that matter to the reader (line ends, quotes, braces, invalid UTF-8).
    static func mutate(_ bytes: [UInt8], _ rng: inout SplitMix) -> [UInt8] {
        let interesting: [UInt8] = [0x0A, 0x0D, 0x22, 0x7B, 0x7D, 0x5B, 0x5D, 0x3A, 0x2C, 0x5C, 0x00, 0x80, 0xC3, 0xED, 0xEF, 0xFF]
        var out = bytes
        func byte() -> UInt8 { rng.next() % 2 == 0 ? interesting[Int(rng.next() % UInt64(interesting.count))] : UInt8(truncatingIfNeeded: rng.next()) }
        func position(_ extra: Int = 0) -> Int { Int(rng.next() % UInt64(out.count + extra)) }
        for _ in 0...(rng.next() % 4) {
            switch rng.next() % 5 {
            case 0 where !out.isEmpty: out[position()] = byte()
            case 1: out.insert(byte(), at: position(1))
            case 2 where !out.isEmpty:
                let start = position(), length = min(out.count - start, Int(rng.next() % 8) + 1)
                out.removeSubrange(start..<(start + length))
            case 3 where !out.isEmpty:
                let start = position(), length = min(out.count - start, Int(rng.next() % 16) + 1)
                out.insert(contentsOf: out[start..<(start + length)], at: position(1))
            default:
                let other = Array(seeds[Int(rng.next() % UInt64(seeds.count))].utf8)
                let cut = Int(rng.next() % UInt64(other.count))
                out = Array(out.prefix(position(1))) + other[cut...]
            }
        }
        return out
    }

    /// SplitMix64: a small deterministic generator, so every run tries the same cases.
    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func everyMutatedFileIsReadOrRefusedWithATypedError() throws {
        var rng = SplitMix(state: 12)
        let cases = Int(ProcessInfo.processInfo.environment["JSONLINES_FUZZ_CASES"] ?? "") ?? 4000
        var read = 0, refused = 0
        for _ in 0..<cases {
            var bytes = Array(Self.seeds[Int(rng.next() % UInt64(Self.seeds.count))].utf8)
            for _ in 0...(rng.next() % 3) { bytes = Self.mutate(bytes, &rng) }
            do {
                _ = try JSONLines.decode(DataRecord.self, from: Data(bytes), source: "fuzz.jsonl")
                read += 1
            } catch let error as JSONLinesError {
                refused += 1
                #expect(error.line.map { $0 >= 1 } ?? true)
                #expect(!error.description.contains("\n"))
            } catch {
                Issue.record("untyped error \(error) for \(bytes)")
            }
        }
        print("JSON Lines fuzz: \(cases) cases, \(read) read, \(refused) refused with a JSONLinesError")
        // Both outcomes are exercised (most mutations break the JSON).
        #expect(read > cases / 50 && refused > cases / 50)
    }

    @Test func lineEndsEncodingAndShapesAreReported() throws {
        func problem(_ text: [UInt8]) -> JSONLinesError? {
            do { _ = try JSONLines.decode(DataRecord.self, from: Data(text), source: "f"); return nil } catch { return error as? JSONLinesError }
        }
        let crlf = try JSONLines.decode(DataRecord.self, from: Data("{\"text\": \"a\"}\r\n{\"text\": \"b\"}\r\n".utf8), source: "f")
        #expect(crlf.map(\.text) == ["a", "b"])
        #expect(problem(Array("{\"text\": \"a\"}\n{\"text\": \"".utf8) + [0xFF] + Array("\"}\n".utf8))
                == JSONLinesError(source: "f", line: 2, problem: .invalidUTF8))
        #expect(problem(Array("\n[1]\n".utf8)) == JSONLinesError(source: "f", line: 2, problem: .notAnObject))
        #expect(problem(Array("{\"text\": 3}\n".utf8)) == JSONLinesError(source: "f", line: 1, problem: .wrongType("text")))
        #expect(problem(Array("{\"text\": \n".utf8)) == JSONLinesError(source: "f", line: 1, problem: .invalidJSON))
    }
}
