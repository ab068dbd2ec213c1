import Checkpoints
import Foundation
import Models
import Numerics

/// A factors directory (`influence fit --out`):
///
///     factors.json            manifest: model fingerprint, options, counts, module layouts,
///                             completed passes, tool version, and the XXH64 of each file below
///                             (`files`), checked when the file is read, so that a file from
///                             another fit is refused rather than mixed in
///     covariances.safetensors pass 1: Σ a aᵀ per module and Σ g gᵀ per block (F64, upper
///                             triangles), so that an interrupted fit resumes after pass 1
///     factors.safetensors     Q_A, Λ_A per module; Q_S, Λ_S and Λ per block
///     pass1.checkpoint.safetensors, pass2.checkpoint.safetensors
///                             a pass's Float64 sums so far, while it runs (FactorCheckpoint)
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
    /// File name → `FileDigest` of the files written so far; nil in manifests written before
    /// digests were recorded.
    public var files: [String: String]?

    public init(toolVersion: String, modelType: String, modelPath: String, modelFingerprint: String, options: Options,
                passesCompleted: Int, covarianceTokens: Int, covarianceSequences: Int, correctionSequences: Int,
                modules: [ModuleLayout], files: [String: String] = [:]) {
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
        self.files = files
    }

    enum CodingKeys: String, CodingKey {
        case tool, toolVersion = "tool_version", modelType = "model_type", modelPath = "model_path"
        case modelFingerprint = "model_fingerprint", options, passesCompleted = "passes_completed"
        case covarianceTokens = "covariance_tokens", covarianceSequences = "covariance_sequences"
        case correctionSequences = "correction_sequences", modules, files
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

    /// Writes pass 1's sums and records the file's digest in `manifest` (written after it).
    public static func writeCovariances(_ accumulator: CovarianceAccumulator, to directory: URL, recordingIn manifest: inout FactorManifest) throws {
        let url = covariancesURL(directory)
        try writeSums(accumulator, to: url)
        manifest.files = (manifest.files ?? [:]).merging([url.lastPathComponent: try FileDigest.of(url)]) { $1 }
    }

    static func writeSums(_ accumulator: CovarianceAccumulator, to url: URL, metadata: [String: String] = [:]) throws {
        var writer = SafeTensorsWriter(metadata: metadata.merging([
            "tokens": String(accumulator.tokenCount), "sequences": String(accumulator.sequenceCount),
        ]) { $1 })
        for (m, layout) in accumulator.layouts.enumerated() {
            writer.add("\(layout.name).A.sum", shape: [layout.inputSize, layout.inputSize], doubles: accumulator.inputSums[m])
            for (b, block) in layout.blocks.enumerated() {
                writer.add("\(layout.name).\(block.name).S.sum", shape: [block.size, block.size], doubles: accumulator.outputSums[m][b])
            }
        }
        try writer.write(to: url)
    }

    /// Reads pass 1's sums, checked against the digest `manifest` records for them.
    public static func readCovariances(layouts: [ModuleLayout], manifest: FactorManifest, from directory: URL) throws -> CovarianceAccumulator {
        let url = covariancesURL(directory)
        try verify(url, against: manifest, in: directory)
        return try readSums(layouts: layouts, from: SafeTensorsFile(url: url))
    }

    static func readSums(layouts: [ModuleLayout], from file: SafeTensorsFile) throws -> CovarianceAccumulator {
        let url = file.url
        guard let tokens = file.metadata["tokens"].flatMap(Int.init), let sequences = file.metadata["sequences"].flatMap(Int.init) else {
            throw CheckpointError(url, "lacks token and sequence counts")
        }
        let inputs = try layouts.map { try squareSum(file, "\($0.name).A.sum", $0.inputSize) }
        let outputs = try layouts.map { layout in try layout.blocks.map { try squareSum(file, "\(layout.name).\($0.name).S.sum", $0.size) } }
        return CovarianceAccumulator(layouts: layouts, inputSums: inputs, outputSums: outputs, tokenCount: tokens, sequenceCount: sequences)
    }

    private static func squareSum(_ file: SafeTensorsFile, _ tensor: String, _ n: Int) throws -> [Double] {
        let values = try file.doubles(tensor)
        guard values.count == n * n else { throw CheckpointError(file.url, "tensor \(tensor) has \(values.count) values, expected \(n)²") }
        return values
    }

    // MARK: Factors

    /// Writes the factors and records the file's digest in `manifest` (written after it).
    public static func writeFactors(_ factors: EKFACFactors, to directory: URL, recordingIn manifest: inout FactorManifest) throws {
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
        let url = factorsURL(directory)
        try writer.write(to: url)
        manifest.files = (manifest.files ?? [:]).merging([url.lastPathComponent: try FileDigest.of(url)]) { $1 }
    }

    /// Checks that `url` is the file `manifest` was written with: a file copied in from another
    /// fit, or left by an interrupted or concurrent one, is refused. Manifests without digests
    /// (older versions) are refused too, with a request to refit: their files cannot be checked.
    public static func verify(_ url: URL, against manifest: FactorManifest, in directory: URL) throws {
        guard let files = manifest.files else {
            throw CheckpointError(manifestURL(directory), "written by an older version without file digests; fit again with `influence fit --force`")
        }
        guard let expected = files[url.lastPathComponent] else {
            throw CheckpointError(manifestURL(directory), "records no digest of \(url.lastPathComponent)")
        }
        guard FileManager.default.fileExists(atPath: url.path) else { throw CheckpointError(url, "file not found") }
        guard try FileDigest.of(url) == expected else {
            throw CheckpointError(url, "does not match the digest in factors.json (copied from another fit?); fit again with `influence fit --force`")
        }
    }

    /// Loads the factors of a finished fit, restricted to the modules `selection` picks.
    public static func readFactors(_ directory: URL, selection: ModuleSelection = .all) throws -> (FactorManifest, EKFACFactors) {
        let manifest = try readManifest(directory)
        guard manifest.passesCompleted >= 2 else {
            throw CheckpointError(manifestURL(directory), "the fit is unfinished (\(manifest.passesCompleted) of 2 passes); run `influence fit` again to resume")
        }
        let url = factorsURL(directory)
        try verify(url, against: manifest, in: directory)
        let file = try SafeTensorsFile(url: url)
        var bases: [ModuleEigenbasis] = []
        var lambdas: [[[Float]]] = []
        for layout in manifest.modules where selection.includes(layout.module) {
            guard isPlausible(layout) else {
                throw CheckpointError(manifestURL(directory), "module \(layout.name) has an impossible layout (sizes or block rows)")
            }
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
                let (size, overflow) = block.size.multipliedReportingOverflow(by: w)
                guard !overflow, lambda.count == size else { throw CheckpointError(url, "tensor \(prefix).lambda has the wrong size") }
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

    /// Sizes a manifest can hold before arithmetic on them is safe: every block within the
    /// module's rows, no width beyond 2²⁴.
    private static func isPlausible(_ layout: ModuleLayout) -> Bool {
        let limit = 1 << 24
        return (1...limit).contains(layout.module.inputSize) && (1...limit).contains(layout.module.outputSize) && !layout.blocks.isEmpty
            && layout.blocks.allSatisfy { $0.rows.lowerBound >= 0 && $0.rows.upperBound <= layout.module.outputSize && !$0.rows.isEmpty }
    }
}
