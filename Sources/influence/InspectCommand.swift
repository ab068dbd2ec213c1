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
            print(jsonReport(description, checkpoint))
        } else {
            print(textReport(description, checkpoint))
        }
    }

    func jsonReport(_ d: ModelDescription, _ checkpoint: CheckpointDirectory) -> String {
        let families = ModelDescription.Family.allCases.map { "\"\($0.rawValue)\": \(d.parameterCount($0))" }.joined(separator: ", ")
        let modules = d.trackedModules.map {
            "{\"name\": \(jsonQuoted($0.name)), \"kind\": \"\($0.kind.rawValue)\", \"d_in\": \($0.inputSize), \"d_out\": \($0.outputSize), \"bias\": \($0.hasBias)}"
        }
        return """
            {"model_type": "\(d.modelType)", "architecture": "\(d.architecture)", "num_layers": \(d.layerCount), \
            "hidden_size": \(d.hiddenSize), "num_heads": \(d.headCount), "intermediate_size": \(d.intermediateSize), \
            "vocab_size": \(d.vocabularySize), "max_position_embeddings": \(d.maxPositions), "tied_embeddings": \(d.tiedEmbeddings), \
            "dtype": \(jsonQuoted(checkpoint.storedTypes.joined(separator: ","))), "files": \(checkpoint.files.count), \
            "parameters": \(d.parameterCount), "parameters_by_family": {\(families)}, "tracked_modules": [\(modules.joined(separator: ", "))]}
            """
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
