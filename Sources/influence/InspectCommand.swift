import ArgumentParser
import Checkpoints
import Foundation
import Models

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a model: shape, storage (types, GGUF quantisation), parameter counts, tracked linear modules.")

    @Argument(help: "A Hugging Face model directory (config.json, model.safetensors or a sharded index) or a .gguf file.")
    var modelDirectory: String

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func run() throws {
        let url = URL(fileURLWithPath: modelDirectory)
        let description: ModelDescription, storage: String, summary: ModelSummary
        if LoadedModel.isGGUF(url) {
            let gguf = try GGUFCheckpoint(url: url)
            description = ModelDescription.decoder(gguf.hyperparameters)
            let counts = gguf.file.tensorTypeCounts
            storage = counts.map { "\($0.type) ×\($0.count)" }.joined(separator: ", ") + " in 1 GGUF v\(gguf.file.version) file"
            summary = ModelSummary(description, storedTypes: counts.map(\.type), files: 1,
                                   tensorTypes: Dictionary(uniqueKeysWithValues: counts.map { ($0.type, $0.count) }))
        } else {
            let checkpoint = try CheckpointDirectory(url: url)
            description = try ModelDescription(checkpoint: checkpoint)
            storage = "\(checkpoint.storedTypes.joined(separator: ", ")) in \(checkpoint.files.count) file\(checkpoint.files.count == 1 ? "" : "s")"
            summary = ModelSummary(description, storedTypes: checkpoint.storedTypes, files: checkpoint.files.count)
        }
        print(json ? try JSONOutput.string(summary) : textReport(description, name: url.lastPathComponent, storage: storage))
    }

    func textReport(_ d: ModelDescription, name: String, storage: String) -> String {
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
            "\(name): \(d.architecture) (model_type \(d.modelType))",
            "  layers \(d.layerCount), hidden \(d.hiddenSize), heads \(d.headCount)"
                + (d.keyValueHeadCount != d.headCount ? " (key/value heads \(d.keyValueHeadCount))" : "")
                + (d.headSize * d.headCount != d.hiddenSize ? ", head size \(d.headSize)" : "")
                + ", intermediate \(d.intermediateSize), "
                + "vocabulary \(d.vocabularySize), context \(d.maxPositions)\(d.tiedEmbeddings ? ", tied embeddings" : "")",
            "  on disk: \(storage)",
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
