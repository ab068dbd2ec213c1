import Checkpoints
import Foundation
import Models

/// The one place that decides whether fitted factors may precondition a model's gradients.
///
/// Preconditioning sizes its buffers from the model (d_out × d_in per module, one more column
/// with a bias) and indexes the factors by module and block. If the two disagree anywhere (a
/// module's width, `--include-bias` on one stage only, another block layout) the products read
/// and write past a buffer's end, so every mismatch is an error before any arithmetic.
public enum FactorCompatibility {
    /// Checks that `factors` were fitted on `model`: the same weights (fingerprint), and every
    /// module's name, index, d_in, d_out, bias column and blocks exactly as the model gives them
    /// for the fit's options, with eigenbases and Λ of matching shapes.
    public static func check(_ manifest: FactorManifest, _ factors: EKFACFactors, model: DecoderModel, modelPath: String,
                             directory: URL, role: String = "the", otherFingerprint: String? = nil) throws {
        let url = FactorStore.manifestURL(directory)
        guard manifest.modelFingerprint == model.fingerprint else {
            let swapped = otherFingerprint == manifest.modelFingerprint ? " (they belong to the other model: are the factor directories swapped?)" : ""
            throw CheckpointError(url, "\(role) factors were fitted on another model (\(manifest.modelPath)), not \(modelPath)\(swapped)")
        }
        let options = manifest.options
        let expected = model.moduleLayouts(.all, attentionBlocks: options.attentionBlocks, includeBias: options.includeBias)
        let expectedByName = Dictionary(uniqueKeysWithValues: expected.map { ($0.name, $0) })
        for (m, basis) in factors.eigenbases.enumerated() {
            let layout = basis.layout
            guard let wanted = expectedByName[layout.name] else {
                throw CheckpointError(url, "module \(layout.name) is not a tracked module of \(modelPath)")
            }
            guard layout == wanted else {
                throw CheckpointError(url, "module \(layout.name) was fitted as \(describe(layout)), but \(modelPath) with these options gives \(describe(wanted))")
            }
            let w = layout.inputSize
            guard basis.inputEigenvectors.rows == w, basis.inputEigenvectors.cols == w, basis.inputEigenvalues.count == w,
                  basis.outputEigenvectors.count == layout.blocks.count, basis.outputEigenvalues.count == layout.blocks.count,
                  factors.lambdas.indices.contains(m), factors.lambdas[m].count == layout.blocks.count
            else {
                throw CheckpointError(url, "module \(layout.name): factor shapes disagree with its layout \(describe(layout))")
            }
            for (b, block) in layout.blocks.enumerated() {
                let q = basis.outputEigenvectors[b]
                guard q.rows == block.size, q.cols == block.size, basis.outputEigenvalues[b].count == block.size,
                      factors.lambdas[m][b].rows == block.size, factors.lambdas[m][b].cols == w
                else {
                    throw CheckpointError(url, "module \(layout.name) block \(block.name): factor shapes disagree with its \(block.size) rows × \(w) columns")
                }
            }
        }
    }

    /// Checks that two stages' factors cover the same modules with the same layouts, so that
    /// one query gradient can be preconditioned by both.
    public static func checkSameLayouts(_ first: [ModuleLayout], _ second: [ModuleLayout], firstName: String, secondName: String) throws {
        guard first != second else { return }
        let a = Dictionary(first.map { ($0.name, $0) }, uniquingKeysWith: { x, _ in x })
        let detail = second.first { a[$0.name] != $0 }.map { layout -> String in
            guard let other = a[layout.name] else { return "\(layout.name) is only in \(secondName)" }
            return "\(layout.name) is \(describe(other)) in \(firstName) but \(describe(layout)) in \(secondName)"
        } ?? "\(firstName) has modules that \(secondName) lacks"
        throw CheckpointError(URL(fileURLWithPath: secondName),
                              "covers other modules or options than \(firstName) (\(detail)); fit both with the same --modules, --attention-blocks and --include-bias")
    }

    /// "3072×768 + bias column, 36 blocks".
    public static func describe(_ layout: ModuleLayout) -> String {
        "\(layout.outputSize)×\(layout.module.inputSize)\(layout.includesBias ? " + bias column" : ""), \(layout.blocks.count) block\(layout.blocks.count == 1 ? "" : "s")"
    }
}

extension PreconditionerMethod {
    /// Loads the factors in `directory` for `model`, checks them with `FactorCompatibility`, and
    /// builds this method's preconditioner: what every command that preconditions a gradient calls.
    public func load(
        _ directory: URL, for model: DecoderModel, modelPath: String, selection: ModuleSelection = .all,
        damping: Damping, scope: DampingScope = .module,
        role: String = "the", otherFingerprint: String? = nil
    ) throws -> (manifest: FactorManifest, preconditioner: Preconditioner) {
        let (manifest, factors) = try FactorStore.readFactors(directory, selection: selection)
        try FactorCompatibility.check(manifest, factors, model: model, modelPath: modelPath, directory: directory, role: role,
                                      otherFingerprint: otherFingerprint)
        return (manifest, preconditioner(factors: factors, damping: damping, scope: scope))
    }
}
