import ArgumentParser
import Checkpoints
import Foundation
import Models

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a Hugging Face checkpoint: shape, parameter counts, tracked linear modules.")

    @Argument(help: "A model directory with config.json and model.safetensors (or a sharded index).")
    var modelDirectory: String

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func run() throws {
        let checkpoint = try CheckpointDirectory(url: URL(fileURLWithPath: modelDirectory))
        let description = try ModelDescription(checkpoint: checkpoint)
        if json {
            print(try JSONOutput.string(ModelSummary(description, checkpoint)))
        } else {
            print(textReport(description, checkpoint))
        }
    }

    func textReport(_ d: ModelDescription, _ checkpoint: CheckpointDirectory) -> String {
        func grouped(_ n: Int) -> String {
            let digits = String(n)
            var out = ""
            for (i, c) in digits.enumerated() {
                if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
                out.append(c)
            }
            return out
        }
        func padded(_ s: String, _ width: Int, right: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, width - s.count))
            return right ? fill + s : s + fill
        }
        var lines = [
            "\(checkpoint.url.lastPathComponent): \(d.architecture) (model_type \(d.modelType))",
            "  layers \(d.layerCount), hidden \(d.hiddenSize), heads \(d.headCount), intermediate \(d.intermediateSize), "
                + "vocabulary \(d.vocabularySize), context \(d.maxPositions)\(d.tiedEmbeddings ? ", tied embeddings" : "")",
            "  on disk: \(checkpoint.storedTypes.joined(separator: ", ")) in \(checkpoint.files.count) file\(checkpoint.files.count == 1 ? "" : "s")",
            "",
            "parameters  \(padded(grouped(d.parameterCount), 14, right: true))",
        ]
        for family in ModelDescription.Family.allCases {
            lines.append("  \(padded(family.rawValue, 10))\(padded(grouped(d.parameterCount(family)), 14, right: true))")
        }
        let width = max(4, d.trackedModules.map(\.name.count).max() ?? 0)
        lines += ["", "tracked linear modules (\(d.trackedModules.count))", "  \(padded("name", width))  kind         d_in   d_out"]
        for module in d.trackedModules {
            lines.append("  \(padded(module.name, width))  \(padded(module.kind.rawValue, 9))\(padded(String(module.inputSize), 8, right: true))\(padded(String(module.outputSize), 8, right: true))")
        }
        return lines.joined(separator: "\n")
    }
}
