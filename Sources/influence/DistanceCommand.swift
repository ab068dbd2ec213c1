import Checkpoints
import ArgumentParser
import Foundation
import Models
import Training

struct Distance: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "How far fine-tuning moved the weights: ‖θ_ft − θ_pt‖ / ‖θ_pt‖ over MLP and attention weight matrices.")

    @Argument(help: "The pre-trained model: a Hugging Face directory or a .gguf file.")
    var pretrained: String

    @Argument(help: "The fine-tuned model: a Hugging Face directory or a .gguf file.")
    var finetuned: String

    @Option(parsing: .unconditional, help: "α of the proximity loss (α/2)‖θ_ft − θ_pt‖².")
    var alpha = 1.0

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        try OptionCheck.finite(alpha, "--alpha")
    }

    func run() throws {
        let pt = try DecoderModel(path: pretrained)
        let ft = try DecoderModel(path: finetuned)
        guard pt.trackedModules == ft.trackedModules else {
            throw InputError("\(finetuned): its backbone differs from the pre-trained model's (tracked modules or shapes)")
        }
        let distance = ParameterDistance(pretrained: pt, finetuned: ft)
        guard distance.proximityLoss(alpha: alpha).isFinite else {
            throw InputError("--alpha \(alpha): the proximity loss overflows (‖θ_ft − θ_pt‖² = \(distance.squaredDistance)); give a smaller α")
        }
        if json {
            let modules = distance.modules.map { ModuleDistance(name: $0.name, relative_distance: NullIfNotFinite($0.relativeDistance)) }
            print(try JSONOutput.string(DistanceReport(
                relative_distance: NullIfNotFinite(distance.relativeDistance), squared_distance: NullIfNotFinite(distance.squaredDistance),
                alpha: NullIfNotFinite(alpha), proximity_loss: NullIfNotFinite(distance.proximityLoss(alpha: alpha)), modules: modules)))
            return
        }
        let width = distance.modules.map(\.name.count).max() ?? 10
        for module in distance.modules {
            print(module.name.padding(toLength: width, withPad: " ", startingAt: 0) + String(format: "  %.6f", module.relativeDistance))
        }
        print("total".padding(toLength: width, withPad: " ", startingAt: 0) + String(format: "  %.6f", distance.relativeDistance))
        print(String(format: "proximity loss (α/2)‖θ_ft − θ_pt‖² with α = %g: %.6g", alpha, distance.proximityLoss(alpha: alpha)))
    }
}

/// `distance --json`'s report.
private struct DistanceReport: Encodable {
    let relative_distance, squared_distance, alpha, proximity_loss: NullIfNotFinite
    let modules: [ModuleDistance]
}

private struct ModuleDistance: Encodable {
    let name: String
    let relative_distance: NullIfNotFinite
}
