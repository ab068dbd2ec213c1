import Foundation

/// Checks of a model's expected parameters against a checkpoint, made before a model is built
/// or described so that a config.json that disagrees with its weights fails with a message
/// instead of allocating terabytes or looping for ever.
extension CheckpointDirectory {
    /// Throws unless the checkpoint holds at least `layers` × `perLayer` + `others` tensors;
    /// run before a layout of `layers` layers is built (num_hidden_layers 2^31 would
    /// otherwise build billions of names first).
    public func requireTensorCount(layers: Int, perLayer: Int, others: Int) throws {
        let (layered, overflow) = layers.multipliedReportingOverflow(by: perLayer)
        let (needed, sumOverflow) = layered.addingReportingOverflow(others)
        guard !overflow, !sumOverflow, needed <= tensors.count else {
            throw CheckpointError(configURL, "\(layers) layers of \(perLayer) tensors each (and \(others) others) "
                                  + "need more tensors than the \(tensors.count) the checkpoint holds")
        }
    }

    /// Throws unless every parameter of `layout` is stored with exactly that shape.
    public func requireParameters(_ layout: [(name: String, shape: [Int])]) throws {
        for (name, shape) in layout {
            guard let info = info(name) else {
                throw CheckpointError(url, "checkpoint has no tensor \(name), which config.json implies")
            }
            guard info.shape == shape else {
                throw CheckpointError(url, "tensor \(name) has shape \(info.shape), but config.json implies \(shape)")
            }
        }
    }
}
