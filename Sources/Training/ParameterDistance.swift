import Models

/// How far fine-tuning moved the weights (paper §5.2): ‖θ_ft − θ_pt‖ / ‖θ_pt‖ over the weight
/// matrices of the tracked MLP and attention modules, per module and in total.
public struct ParameterDistance: Sendable {
    public struct Module: Sendable {
        public let name: String
        public let relativeDistance: Double
        public let squaredDistance: Double
    }

    public let modules: [Module]
    public let relativeDistance: Double
    /// ‖θ_ft − θ_pt‖² over the same weights.
    public let squaredDistance: Double

    /// The proximity loss (α/2)‖θ_ft − θ_pt‖².
    public func proximityLoss(alpha: Double) -> Double { alpha / 2 * squaredDistance }

    /// The models must have the same backbone shape (checked by the caller).
    public init(pretrained: DecoderModel, finetuned: DecoderModel) {
        var modules: [Module] = []
        var totalDifference = 0.0, totalNorm = 0.0
        for module in pretrained.trackedModules {
            let name = module.name + ".weight"
            let a = pretrained.parameters.entry(name)!, b = finetuned.parameters.entry(name)!
            var difference = 0.0, norm = 0.0
            for i in 0..<a.count {
                let p = Double(pretrained.parameters.values[a.offset + i]), f = Double(finetuned.parameters.values[b.offset + i])
                difference += (f - p) * (f - p)
                norm += p * p
            }
            modules.append(Module(name: module.name, relativeDistance: (difference / max(norm, 1e-300)).squareRoot(), squaredDistance: difference))
            totalDifference += difference
            totalNorm += norm
        }
        self.modules = modules
        relativeDistance = (totalDifference / max(totalNorm, 1e-300)).squareRoot()
        squaredDistance = totalDifference
    }
}
