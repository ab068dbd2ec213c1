import Checkpoints
import Foundation
import Numerics

/// A pass's Float64 sums saved while the pass runs (`passN.checkpoint.safetensors` in the
/// factors directory), so that a killed fit resumes within the pass instead of redoing it.
/// A checkpoint is taken at a batch boundary and names the next sequence; labels are seeded by
/// sequence index (FactorFitter), so a resumed pass adds exactly what the uninterrupted one
/// would have added. Each checkpoint records the run it belongs to and is ignored otherwise.
public enum FactorCheckpoint {
    public static func url(pass: Int, in directory: URL) -> URL {
        directory.appendingPathComponent("pass\(pass).checkpoint.safetensors")
    }

    /// What a checkpoint of `pass` belongs to: the model, the options that change the result,
    /// the shard, the module group (`modules`, its names) and, for pass 2, the eigenbasis it uses.
    public static func runIdentity(_ manifest: FactorManifest, pass: Int, modules: [ModuleLayout] = [], eigenbasis: String = "") -> String {
        var options = manifest.options
        options.batchSize = 0
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var key = Data(((try? encoder.encode(options)) ?? Data()) + Data("|\(manifest.modelFingerprint)|pass \(pass)".utf8))
        key += Data("|\(manifest.shard?.description ?? "whole")|\(modules.map(\.name).joined(separator: ","))|\(eigenbasis)".utf8)
        return String(key.withUnsafeBytes { FileDigest.xxh64($0) }, radix: 16)
    }

    public static func write(_ accumulator: CovarianceAccumulator, nextSequence: Int, run: String, to directory: URL) throws {
        var writer = SafeTensorsWriter(metadata: [
            "run": run, "next_sequence": String(nextSequence),
            "tokens": String(accumulator.tokenCount), "sequences": String(accumulator.sequenceCount),
        ])
        for (m, layout) in accumulator.layouts.enumerated() {
            writer.add("\(layout.name).A.sum", shape: [accumulator.inputSums[m].count], doubles: accumulator.inputSums[m])
            for (b, block) in layout.blocks.enumerated() {
                writer.add("\(layout.name).\(block.name).S.sum", shape: [accumulator.outputSums[m][b].count], doubles: accumulator.outputSums[m][b])
            }
        }
        try writer.write(to: url(pass: 1, in: directory))
    }

    /// The saved pass-1 sums of `run` and the sequence to continue at, or nil if there are none.
    public static func readCovariances(layouts: [ModuleLayout], run: String, from directory: URL) -> (CovarianceAccumulator, nextSequence: Int)? {
        guard let file = try? SafeTensorsFile(url: url(pass: 1, in: directory)), file.metadata["run"] == run,
              let next = file.metadata["next_sequence"].flatMap(Int.init),
              let tokens = file.metadata["tokens"].flatMap(Int.init), let sequences = file.metadata["sequences"].flatMap(Int.init)
        else { return nil }
        func packed(_ tensor: String, _ n: Int) -> [Double]? {
            guard let values = try? file.doubles(tensor), values.count == PackedUpperTriangle.count(n) else { return nil }
            return values
        }
        var inputs: [[Double]] = [], outputs: [[[Double]]] = []
        for layout in layouts {
            guard let input = packed("\(layout.name).A.sum", layout.inputSize) else { return nil }
            var blocks: [[Double]] = []
            for block in layout.blocks {
                guard let values = packed("\(layout.name).\(block.name).S.sum", block.size) else { return nil }
                blocks.append(values)
            }
            inputs.append(input)
            outputs.append(blocks)
        }
        return (CovarianceAccumulator(layouts: layouts, inputSums: inputs, outputSums: outputs, tokenCount: tokens, sequenceCount: sequences), next)
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
