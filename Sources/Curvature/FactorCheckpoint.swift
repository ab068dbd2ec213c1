import Checkpoints
import Foundation

/// A pass's Float64 sums saved while the pass runs (`passN.checkpoint.safetensors` in the
/// factors directory), so that a killed fit resumes within the pass instead of redoing it.
/// A checkpoint is taken at a batch boundary and names the next sequence; labels are seeded by
/// sequence index (FactorFitter), so a resumed pass adds exactly what the uninterrupted one
/// would have added. Each checkpoint records the run it belongs to and is ignored otherwise.
public enum FactorCheckpoint {
    public static func url(pass: Int, in directory: URL) -> URL {
        directory.appendingPathComponent("pass\(pass).checkpoint.safetensors")
    }

    /// What a checkpoint of `pass` belongs to: the model, the options that change the result
    /// and, for pass 2, the covariances whose eigenbasis it uses.
    public static func runIdentity(_ manifest: FactorManifest, pass: Int) -> String {
        var options = manifest.options
        options.batchSize = 0
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var key = Data(((try? encoder.encode(options)) ?? Data()) + Data("|\(manifest.modelFingerprint)|pass \(pass)".utf8))
        if pass == 2 { key += Data((manifest.files?["covariances.safetensors"] ?? "").utf8) }
        return String(key.withUnsafeBytes { FileDigest.xxh64($0) }, radix: 16)
    }

    public static func write(_ accumulator: CovarianceAccumulator, nextSequence: Int, run: String, to directory: URL) throws {
        try FactorStore.writeSums(accumulator, to: url(pass: 1, in: directory),
                                  metadata: ["run": run, "next_sequence": String(nextSequence)])
    }

    /// The saved pass-1 sums of `run` and the sequence to continue at, or nil if there are none.
    public static func readCovariances(layouts: [ModuleLayout], run: String, from directory: URL) -> (CovarianceAccumulator, nextSequence: Int)? {
        guard let file = try? SafeTensorsFile(url: url(pass: 1, in: directory)), file.metadata["run"] == run,
              let next = file.metadata["next_sequence"].flatMap(Int.init),
              let accumulator = try? FactorStore.readSums(layouts: layouts, from: file)
        else { return nil }
        return (accumulator, next)
    }

    public static func write(_ accumulator: EigenvalueCorrectionAccumulator, nextSequence: Int, run: String, to directory: URL) throws {
        var writer = SafeTensorsWriter(metadata: [
            "run": run, "next_sequence": String(nextSequence), "sequences": String(accumulator.sequenceCount),
        ])
        for (m, basis) in accumulator.eigenbases.enumerated() {
            for (b, block) in basis.layout.blocks.enumerated() {
                writer.add("\(basis.layout.name).\(block.name).lambda.sum", shape: [block.size, basis.layout.inputSize],
                           doubles: accumulator.sums[m][b])
            }
        }
        try writer.write(to: url(pass: 2, in: directory))
    }

    /// The saved pass-2 sums of `run` and the sequence to continue at, or nil if there are none.
    public static func readCorrections(eigenbases: [ModuleEigenbasis], run: String, from directory: URL)
        -> (EigenvalueCorrectionAccumulator, nextSequence: Int)?
    {
        guard let file = try? SafeTensorsFile(url: url(pass: 2, in: directory)), file.metadata["run"] == run,
              let next = file.metadata["next_sequence"].flatMap(Int.init),
              let sequences = file.metadata["sequences"].flatMap(Int.init)
        else { return nil }
        var sums: [[[Double]]] = []
        for basis in eigenbases {
            var blocks: [[Double]] = []
            for block in basis.layout.blocks {
                guard let values = try? file.doubles("\(basis.layout.name).\(block.name).lambda.sum"),
                      values.count == block.size * basis.layout.inputSize
                else { return nil }
                blocks.append(values)
            }
            sums.append(blocks)
        }
        return (EigenvalueCorrectionAccumulator(eigenbases: eigenbases, sums: sums, sequenceCount: sequences), next)
    }

    /// Removes the checkpoints of both passes (after the pass they save has finished, or to start over).
    public static func removeAll(in directory: URL) {
        for pass in 1...2 { try? FileManager.default.removeItem(at: url(pass: pass, in: directory)) }
    }
}
