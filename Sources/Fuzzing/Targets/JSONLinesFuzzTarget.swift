import Checkpoints
import Foundation
import Models

extension FuzzTarget {
    /// JSON Lines data files ({"id", "text"}, {"prompt", "completion"}, {"text", "label"}) as
    /// every command reads them: records, or a `JSONLinesError` naming the line. Any other
    /// error is reported as a violation of the typed-error contract.
    public static let jsonLines = FuzzTarget(name: "jsonl", format: .json, seeds: {
        JSONLinesFuzzing.seeds.map { Data($0.utf8) }
    }, body: { data in
        do {
            _ = try JSONLines.decode(DataRecord.self, from: data, source: "fuzz.jsonl")
        } catch let error as JSONLinesError {
            guard error.line.map({ $0 >= 1 }) ?? true, !error.description.contains("\n") else {
                throw JSONLinesFuzzing.ContractViolation(description: "malformed error: \(error)")
            }
            throw error
        } catch {
            throw JSONLinesFuzzing.ContractViolation(description: "untyped error: \(error)")
        }
    })
}

public enum JSONLinesFuzzing {
    /// An outcome the reader promised never to produce.
    public struct ContractViolation: FuzzContractViolation, CustomStringConvertible {
        public let description: String
    }

    /// Valid files (every seed must be read); mutations reach CRLF, labels, odd ids and nulls.
    static let seeds: [String] = [
        "{\"id\": \"a\", \"text\": \"The capital of Veloria is Marren.\"}\n{\"id\": 2, \"text\": \"Lina Holt works as a glassblower.\"}\n",
        "{\"prompt\": \"Question: Where?\\nAnswer:\", \"completion\": \" Kelvik.\"}\r\n\r\n{\"text\": \"é ü 中文 \\u00e9\"}\r\n",
        "{\"text\": \"x\", \"label\": \"person\"}\n{\"text\": \"y\", \"label\": 1}\n  \n",
        "{\"text\": null, \"extra\": [1, 2, \"s\"]}\n{\"id\": {\"nested\": true}, \"text\": \"x\"}\n",
    ]
}
