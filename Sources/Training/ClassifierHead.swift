import Models

/// A sequence classifier made from a language model, for fine-tuning with `--task classify`.
public enum ClassifierHead {
    /// A classifier on `languageModel`'s backbone: every parameter copied except the
    /// unembedding, which a new head `score.weight` (normal, std 0.02) replaces.
    public static func classifier(from languageModel: DecoderModel, labels: Int, seed: UInt64) -> DecoderModel {
        var h = languageModel.hyperparameters
        h.classifierLabels = labels
        h.tiedEmbeddings = false
        let model = DecoderModel(hyperparameters: h, seed: seed)
        for entry in model.parameters.entries {
            guard let source = languageModel.parameters.entry(entry.name), source.shape == entry.shape else { continue }
            (model.parameters.values + entry.offset).update(from: languageModel.parameters.values + source.offset, count: entry.count)
        }
        return model
    }
}
