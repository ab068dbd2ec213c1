import Checkpoints
import Foundation
import Fuzzing
import Models
import Testing

/// A seeded mutation fuzzer over the JSON Lines record reader: every mutated file is read
/// into records or refused with a `JSONLinesError`; any other error, a trap or a hang fails.
@Suite struct JSONLinesFuzzTests {
    /// The shared fuzzer's JSON Lines target (Sources/Fuzzing): each case is read or refused
    /// with a well-formed `JSONLinesError`; the target rethrows anything else as a
    /// `ContractViolation`, which this test counts as a failure.
    @Test func everyMutatedFileIsReadOrRefusedWithATypedError() throws {
        let runner = try FuzzRunner(target: .jsonLines, seed: 12)
        let cases = Int(ProcessInfo.processInfo.environment["JSONLINES_FUZZ_CASES"] ?? "") ?? 4000
        var read = 0, refused = 0
        for number in 0..<cases {
            let input = runner.input(forCase: number)
            do {
                try FuzzTarget.jsonLines.body(input)
                read += 1
            } catch is JSONLinesError {
                refused += 1
            } catch {
                Issue.record("case \(number): \(error)")
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
