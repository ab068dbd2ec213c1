import Checkpoints
import Foundation
import Models
import Testing

/// The JSON Lines record reader's errors. Mutated files are fuzzed by FuzzTests (target
/// `jsonl`), which fails on any error that is not a well-formed `JSONLinesError`.
@Suite struct JSONLinesFuzzTests {
    @Test func lineEndsEncodingAndShapesAreReported() throws {
        func problem(_ text: [UInt8]) -> JSONLinesError? {
            do { _ = try JSONLines.decode(DataRecord.self, from: Data(text), source: "f"); return nil } catch { return error as? JSONLinesError }
        }
        let crlf = try JSONLines.decode(DataRecord.self, from: Data("{\"text\": \"a\"}\r\n{\"text\": \"b\"}\r\n".utf8), source: "f")
        #expect(crlf.map(\.text) == ["a", "b"])
        #expect(problem(Array("{\"text\": \"a\"}\n{\"text\": \"".utf8) + [0xFF] + Array("\"}\n".utf8))
                == JSONLinesError(path: "f", line: 2, problem: .invalidUTF8))
        #expect(problem(Array("\n[1]\n".utf8)) == JSONLinesError(path: "f", line: 2, problem: .notAnObject))
        #expect(problem(Array("{\"text\": 3}\n".utf8)) == JSONLinesError(path: "f", line: 1, problem: .wrongType("text")))
        #expect(problem(Array("{\"text\": \n".utf8)) == JSONLinesError(path: "f", line: 1, problem: .invalidJSON))
    }
}
