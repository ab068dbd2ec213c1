import Checkpoints
import Foundation
import Models
import Numerics

/// A factors directory (`influence fit --out`):
///
///     factors.json            manifest: model fingerprint, options, counts, module layouts,
///                             completed passes, tool version
///     covariances.safetensors pass 1: Σ a aᵀ per module and Σ g gᵀ per block (F64, upper
///                             triangles), so that an interrupted fit resumes after pass 1
///     factors.safetensors     Q_A, Λ_A per module; Q_S, Λ_S and Λ per block
///
/// Tensor names: `<module>.A.eigenvectors`, `<module>.A.eigenvalues`,
/// `<module>.<block>.S.eigenvectors`, `<module>.<block>.S.eigenvalues`, `<module>.<block>.lambda`.
public struct FactorManifest: Codable, Sendable, Equatable {
    public struct Options: Codable, Sendable, Equatable {
        public var modules: ModuleSelection
        public var attentionBlocks: AttentionBlocks
        public var includeBias: Bool
        public var maxSequences: Int?
        public var sequenceLength: Int
        public var batchSize: Int
        public var seed: UInt64
        public var data: String
        public var dataFingerprint: String

        public init(modules: ModuleSelection, attentionBlocks: AttentionBlocks, includeBias: Bool, maxSequences: Int?,
                    sequenceLength: Int, batchSize: Int, seed: UInt64, data: String, dataFingerprint: String) {
            self.modules = modules
            self.attentionBlocks = attentionBlocks
            self.includeBias = includeBias
            self.maxSequences = maxSequences
            self.sequenceLength = sequenceLength
            self.batchSize = batchSize
            self.seed = seed
            self.data = data
            self.dataFingerprint = dataFingerprint
        }

        /// Options that change the result (batch size does not).
        public func sameResult(as other: Options) -> Bool {
            var a = self, b = other
            a.batchSize = 0; b.batchSize = 0
            return a == b
        }
    }

    public var tool: String = "swift-influence"
    public var toolVersion: String
    public var modelType: String
    public var modelPath: String
    public var modelFingerprint: String
    public var options: Options
    public var passesCompleted: Int
    public var covarianceTokens: Int
    public var covarianceSequences: Int
    public var correctionSequences: Int
    public var modules: [ModuleLayout]

    public init(toolVersion: String, modelType: String, modelPath: String, modelFingerprint: String, options: Options,
                passesCompleted: Int, covarianceTokens: Int, covarianceSequences: Int, correctionSequences: Int,
                modules: [ModuleLayout]) {
        self.toolVersion = toolVersion
        self.modelType = modelType
        self.modelPath = modelPath
        self.modelFingerprint = modelFingerprint
        self.options = options
        self.passesCompleted = passesCompleted
        self.covarianceTokens = covarianceTokens
        self.covarianceSequences = covarianceSequences
        self.correctionSequences = correctionSequences
        self.modules = modules
    }

    enum CodingKeys: String, CodingKey {
        case tool, toolVersion = "tool_version", modelType = "model_type", modelPath = "model_path"
        case modelFingerprint = "model_fingerprint", options, passesCompleted = "passes_completed"
        case covarianceTokens = "covariance_tokens", covarianceSequences = "covariance_sequences"
        case correctionSequences = "correction_sequences", modules
    }
}

public enum FactorStore {
    public static func manifestURL(_ directory: URL) -> URL { directory.appendingPathComponent("factors.json") }
    public static func covariancesURL(_ directory: URL) -> URL { directory.appendingPathComponent("covariances.safetensors") }
    public static func factorsURL(_ directory: URL) -> URL { directory.appendingPathComponent("factors.safetensors") }

    public static func readManifest(_ directory: URL) throws -> FactorManifest {
        let url = manifestURL(directory)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw CheckpointError(url, "file not found (is \(directory.path) a factors directory written by `influence fit`?)")
        }
        do {
            return try JSONDecoder().decode(FactorManifest.self, from: data)
        } catch {
            throw CheckpointError(url, "not a factors manifest (\(error is DecodingError ? "missing or wrong fields" : "invalid JSON"))")
        }
    }

    public static func writeManifest(_ manifest: FactorManifest, to directory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(try encoder.encode(manifest), to: manifestURL(directory))
    }

    // MARK: Pass 1

    public static func writeCovariances(_ accumulator: CovarianceAccumulator, to directory: URL) throws {
        var writer = SafeTensorsWriter(metadata: [
            "tokens": String(accumulator.tokenCount), "sequences": String(accumulator.sequenceCount),
        ])
        for (m, layout) in accumulator.layouts.enumerated() {
            writer.add("\(layout.name).A.sum", shape: [layout.inputSize, layout.inputSize], doubles: accumulator.inputSums[m])
            for (b, block) in layout.blocks.enumerated() {
                writer.add("\(layout.name).\(block.name).S.sum", shape: [block.size, block.size], doubles: accumulator.outputSums[m][b])
            }
        }
        try writer.write(to: covariancesURL(directory))
    }

    public static func readCovariances(layouts: [ModuleLayout], from directory: URL) throws -> CovarianceAccumulator {
        let url = covariancesURL(directory)
        let file = try SafeTensorsFile(url: url)
        guard let tokens = file.metadata["tokens"].flatMap(Int.init), let sequences = file.metadata["sequences"].flatMap(Int.init) else {
            throw CheckpointError(url, "lacks token and sequence counts")
        }
        let inputs = try layouts.map { try file.doubles("\($0.name).A.sum") }
        let outputs = try layouts.map { layout in try layout.blocks.map { try file.doubles("\(layout.name).\($0.name).S.sum") } }
        return CovarianceAccumulator(layouts: layouts, inputSums: inputs, outputSums: outputs, tokenCount: tokens, sequenceCount: sequences)
    }

    // MARK: Factors

    public static func writeFactors(_ factors: EKFACFactors, to directory: URL) throws {
        var writer = SafeTensorsWriter()
        for (m, basis) in factors.eigenbases.enumerated() {
            let name = basis.layout.name, w = basis.layout.inputSize
            writer.add("\(name).A.eigenvectors", shape: [w, w], floats: basis.inputEigenvectors.values)
            writer.add("\(name).A.eigenvalues", shape: [w], doubles: basis.inputEigenvalues)
            for (b, block) in basis.layout.blocks.enumerated() {
                let prefix = "\(name).\(block.name)"
                writer.add("\(prefix).S.eigenvectors", shape: [block.size, block.size], floats: basis.outputEigenvectors[b].values)
                writer.add("\(prefix).S.eigenvalues", shape: [block.size], doubles: basis.outputEigenvalues[b])
                writer.add("\(prefix).lambda", shape: [block.size, w], floats: factors.correctedEigenvalues[m][b])
            }
        }
        try writer.write(to: factorsURL(directory))
    }

    /// Loads the factors of a finished fit, restricted to the modules `selection` picks.
    public static func readFactors(_ directory: URL, selection: ModuleSelection = .all) throws -> (FactorManifest, EKFACFactors) {
        let manifest = try readManifest(directory)
        guard manifest.passesCompleted >= 2 else {
            throw CheckpointError(manifestURL(directory), "the fit is unfinished (\(manifest.passesCompleted) of 2 passes); run `influence fit` again to resume")
        }
        let url = factorsURL(directory)
        let file = try SafeTensorsFile(url: url)
        var bases: [ModuleEigenbasis] = []
        var lambdas: [[[Float]]] = []
        for layout in manifest.modules where selection.includes(layout.module) {
            let name = layout.name, w = layout.inputSize
            func matrix(_ tensor: String, _ n: Int) throws -> Matrix<Float> {
                let info = try file.require(tensor)
                guard info.shape == [n, n] else { throw CheckpointError(url, "tensor \(tensor) has shape \(info.shape), expected [\(n), \(n)]") }
                return Matrix(rows: n, cols: n, values: try file.floats(tensor))
            }
            func vector(_ tensor: String, _ n: Int) throws -> [Double] {
                let values = try file.doubles(tensor)
                guard values.count == n else { throw CheckpointError(url, "tensor \(tensor) has \(values.count) values, expected \(n)") }
                return values
            }
            var qS: [Matrix<Float>] = [], lS: [[Double]] = [], moduleLambdas: [[Float]] = []
            for block in layout.blocks {
                let prefix = "\(name).\(block.name)"
                qS.append(try matrix("\(prefix).S.eigenvectors", block.size))
                lS.append(try vector("\(prefix).S.eigenvalues", block.size))
                let lambda = try file.floats("\(prefix).lambda")
                guard lambda.count == block.size * w else { throw CheckpointError(url, "tensor \(prefix).lambda has the wrong size") }
                guard lambda.allSatisfy({ $0.isFinite && $0 >= 0 }) else { throw CheckpointError(url, "tensor \(prefix).lambda has negative or non-finite values") }
                moduleLambdas.append(lambda)
            }
            bases.append(ModuleEigenbasis(layout: layout, inputEigenvectors: try matrix("\(name).A.eigenvectors", w),
                                          inputEigenvalues: try vector("\(name).A.eigenvalues", w),
                                          outputEigenvectors: qS, outputEigenvalues: lS))
            lambdas.append(moduleLambdas)
        }
        if bases.isEmpty {
            throw CheckpointError(manifestURL(directory), "holds no \(selection.rawValue) modules (fitted with --modules \(manifest.options.modules.rawValue))")
        }
        return (manifest, EKFACFactors(eigenbases: bases, correctedEigenvalues: lambdas, covarianceTokenCount: manifest.covarianceTokens,
                                       covarianceSequenceCount: manifest.covarianceSequences, correctionSequenceCount: manifest.correctionSequences))
    }
}
