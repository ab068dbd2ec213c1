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
///     covariances.safetensors pass 1: Σ a aᵀ per module and Σ g gᵀ per block (F64, packed
///                             upper triangles, `PackedUpperTriangle`), kept so that a fit
///                             resumes after pass 1 and shards can be merged
///     eigenbasis.safetensors  Q_A, Λ_A per module; Q_S, Λ_S per block (written module by
///                             module as the eigendecompositions finish)
///     lambda.safetensors      Λ per block (F32), the corrected eigenvalues of pass 2
///     lambda-sums.safetensors a pass-2 shard's Σₙ (Q_Sᵀ Gₙ Q_A)² per block (F64), for merging
///     pass1.checkpoint.safetensors, pass2.checkpoint.safetensors
///                             a pass's Float64 sums so far, while it runs (FactorCheckpoint)
///     *.partial               a file being filled tensor by tensor (SafeTensorsSlotFile)
///
/// Tensor names: `<module>.A.sum`, `<module>.<block>.S.sum`, `<module>.A.eigenvectors`,
/// `<module>.A.eigenvalues`, `<module>.<block>.S.eigenvectors`, `<module>.<block>.S.eigenvalues`,
/// `<module>.<block>.lambda`, `<module>.<block>.lambda.sum`. Scoring maps the files and reads
/// each module's tensors in place as it needs them.
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
    /// A shard's place (`fit --shard I/N`); nil for a whole fit or merged shards.
    public var shard: ShardSpec?
    /// How many shards `merge-factors` combined into these factors; nil if fitted in one process.
    public var mergedShards: Int?
    /// A pass-2 shard: the digest of the merged eigenbasis its Λ sums are in.
    public var eigenbasisDigest: String?
    /// Merged factors: the digests of the shards' files they were merged from, in shard order
    /// (covariances, then Λ sums), so that merging again checks it has the same shards.
    public var mergedFrom: [String]?
    /// An eigendecomposition part (`merge-factors --shard I/N`): its place among the parts;
    /// `modules` are then its share of the fit's modules.
    public var eigenPart: ShardSpec?
    /// Within the stage running (pass 1, the eigendecompositions, pass 2): how many leading
    /// modules are done and written, so that a resumed fit continues after them.
    public var modulesDone: Int?

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
        case correctionSequences = "correction_sequences", modules, files, shard
        case mergedShards = "merged_shards", eigenbasisDigest = "eigenbasis_digest", modulesDone = "modules_done"
        case mergedFrom = "merged_from", eigenPart = "eigen_part"
    }

    /// Whether the eigendecompositions are finished and written.
    public var hasEigenbasis: Bool { files?[FactorStore.eigenbasisName] != nil }
}

public enum FactorStore {
    static let covariancesName = "covariances.safetensors", eigenbasisName = "eigenbasis.safetensors"
    static let lambdaName = "lambda.safetensors", lambdaSumsName = "lambda-sums.safetensors"

    public static func manifestURL(_ directory: URL) -> URL { directory.appendingPathComponent("factors.json") }
    public static func covariancesURL(_ directory: URL) -> URL { directory.appendingPathComponent(covariancesName) }
    public static func eigenbasisURL(_ directory: URL) -> URL { directory.appendingPathComponent(eigenbasisName) }
    public static func lambdaURL(_ directory: URL) -> URL { directory.appendingPathComponent(lambdaName) }
    public static func lambdaSumsURL(_ directory: URL) -> URL { directory.appendingPathComponent(lambdaSumsName) }

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

    /// Records a finished file's digest in `manifest` (written after it).
    static func record(_ url: URL, in manifest: inout FactorManifest) throws {
        manifest.files = (manifest.files ?? [:]).merging([url.lastPathComponent: try FileDigest.of(url)]) { $1 }
    }

    // MARK: Tensor lists

    static func covarianceSlots(_ layouts: [ModuleLayout]) -> [SafeTensorsSlotFile.Slot] {
        layouts.flatMap { layout in
            [SafeTensorsSlotFile.Slot(name: "\(layout.name).A.sum", dtype: .f64, shape: [PackedUpperTriangle.count(layout.inputSize)])]
                + layout.blocks.map {
                    SafeTensorsSlotFile.Slot(name: "\(layout.name).\($0.name).S.sum", dtype: .f64, shape: [PackedUpperTriangle.count($0.size)])
                }
        }
    }

    static func eigenbasisSlots(_ layouts: [ModuleLayout]) -> [SafeTensorsSlotFile.Slot] {
        layouts.flatMap { layout in
            let w = layout.inputSize
            return [SafeTensorsSlotFile.Slot(name: "\(layout.name).A.eigenvectors", dtype: .f32, shape: [w, w]),
                    SafeTensorsSlotFile.Slot(name: "\(layout.name).A.eigenvalues", dtype: .f64, shape: [w])]
                + layout.blocks.flatMap { block in
                    [SafeTensorsSlotFile.Slot(name: "\(layout.name).\(block.name).S.eigenvectors", dtype: .f32, shape: [block.size, block.size]),
                     SafeTensorsSlotFile.Slot(name: "\(layout.name).\(block.name).S.eigenvalues", dtype: .f64, shape: [block.size])]
                }
        }
    }

    /// Λ per block: F32 averages (`lambda.safetensors`) or a shard's F64 sums (`lambda-sums`).
    static func lambdaSlots(_ layouts: [ModuleLayout], sums: Bool) -> [SafeTensorsSlotFile.Slot] {
        layouts.flatMap { layout in
            layout.blocks.map {
                SafeTensorsSlotFile.Slot(name: "\(layout.name).\($0.name).lambda" + (sums ? ".sum" : ""), dtype: sums ? .f64 : .f32,
                                         shape: [$0.size, layout.inputSize])
            }
        }
    }

    // MARK: Writing, module by module

    /// Writes the sums of the modules `accumulator` covers into pass 1's file.
    static func write(_ accumulator: CovarianceAccumulator, into file: SafeTensorsSlotFile) throws {
        for (m, layout) in accumulator.layouts.enumerated() {
            try file.write("\(layout.name).A.sum", doubles: accumulator.inputSums[m])
            for (b, block) in layout.blocks.enumerated() {
                try file.write("\(layout.name).\(block.name).S.sum", doubles: accumulator.outputSums[m][b])
            }
        }
    }

    static func write(_ basis: ModuleEigenbasis, into file: SafeTensorsSlotFile) throws {
        let name = basis.layout.name
        try file.write("\(name).A.eigenvectors", floats: UnsafeBufferPointer(basis.inputEigenvectors.buffer))
        try file.write("\(name).A.eigenvalues", doubles: basis.inputEigenvalues)
        for (b, block) in basis.layout.blocks.enumerated() {
            try file.write("\(name).\(block.name).S.eigenvectors", floats: UnsafeBufferPointer(basis.outputEigenvectors[b].buffer))
            try file.write("\(name).\(block.name).S.eigenvalues", doubles: basis.outputEigenvalues[b])
        }
    }

    /// Writes pass 2's Λ of the modules `accumulator` covers: averages over `sequences` (F32)
    /// or, for a shard, the raw F64 sums.
    static func write(_ accumulator: EigenvalueCorrectionAccumulator, into file: SafeTensorsSlotFile, sums: Bool) throws {
        let scale = 1 / Double(max(accumulator.sequenceCount, 1))
        for (m, basis) in accumulator.eigenbases.enumerated() {
            for (b, block) in basis.layout.blocks.enumerated() {
                let name = "\(basis.layout.name).\(block.name).lambda"
                if sums {
                    try file.write(name + ".sum", doubles: accumulator.sums[m][b])
                } else {
                    try file.write(name, floats: accumulator.sums[m][b].map { Float($0 * scale) })
                }
            }
        }
    }

    /// Writes factors held in memory (a small fit, tests) as a finished factors directory's
    /// eigenbasis and Λ files, recording their digests in `manifest` (written after them).
    public static func writeFactors(_ factors: EKFACFactors, to directory: URL, recordingIn manifest: inout FactorManifest) throws {
        let layouts = factors.layouts
        let eigen = try SafeTensorsSlotFile(url: eigenbasisURL(directory), slots: eigenbasisSlots(layouts))
        for basis in factors.eigenbases { try write(basis, into: eigen) }
        try eigen.finish()
        try record(eigen.url, in: &manifest)
        let lambda = try SafeTensorsSlotFile(url: lambdaURL(directory), slots: lambdaSlots(layouts, sums: false))
        for (basis, blocks) in zip(factors.eigenbases, factors.lambdas) {
            for (block, values) in zip(basis.layout.blocks, blocks) {
                try lambda.write("\(basis.layout.name).\(block.name).lambda", floats: UnsafeBufferPointer(values.buffer))
            }
        }
        try lambda.finish()
        try record(lambda.url, in: &manifest)
    }

    // MARK: Reading

    /// Checks that `url` is the file `manifest` was written with: a file copied in from another
    /// fit, or left by an interrupted or concurrent one, is refused. Manifests without digests
    /// (older versions) are refused too, with a request to refit: their files cannot be checked.
    public static func verify(_ url: URL, against manifest: FactorManifest, in directory: URL) throws {
        guard let files = manifest.files else {
            throw CheckpointError(manifestURL(directory), "written by an older version without file digests; fit again with `influence fit --force`")
        }
        guard let expected = files[url.lastPathComponent] else {
            if files["factors.safetensors"] != nil {
                throw CheckpointError(manifestURL(directory), "written by an older version (one factors.safetensors); fit again with `influence fit --force`")
            }
            throw CheckpointError(manifestURL(directory), "records no digest of \(url.lastPathComponent)")
        }
        guard FileManager.default.fileExists(atPath: url.path) else { throw CheckpointError(url, "file not found") }
        guard try FileDigest.of(url) == expected else {
            throw CheckpointError(url, "does not match the digest in factors.json (copied from another fit?); fit again with `influence fit --force`")
        }
    }

    /// Opens a finished file of `directory`, checked against its digest.
    static func open(_ url: URL, manifest: FactorManifest, directory: URL) throws -> SafeTensorsFile {
        try verify(url, against: manifest, in: directory)
        return try SafeTensorsFile(url: url)
    }

    /// A square F32 tensor of side n, in place.
    static func squareView(_ file: SafeTensorsFile, _ tensor: String, _ n: Int) throws -> Matrix<Float> {
        let info = try file.require(tensor)
        guard info.shape == [n, n] else { throw CheckpointError(file.url, "tensor \(tensor) has shape \(info.shape), expected [\(n), \(n)]") }
        return Matrix(rows: n, cols: n, borrowing: try file.mappedFloats(tensor).baseAddress!, owner: file)
    }

    static func vector(_ file: SafeTensorsFile, _ tensor: String, _ n: Int) throws -> [Double] {
        let values = try file.doubles(tensor)
        guard values.count == n, values.allSatisfy(\.isFinite) else {
            throw CheckpointError(file.url, "tensor \(tensor) has \(values.count) values (expected \(n)) or non-finite ones")
        }
        return values
    }

    /// The eigenbases of `layouts` in `file`, in place.
    static func eigenbases(_ layouts: [ModuleLayout], in file: SafeTensorsFile) throws -> [ModuleEigenbasis] {
        try layouts.map { layout in
            let name = layout.name, w = layout.inputSize
            return ModuleEigenbasis(
                layout: layout, inputEigenvectors: try squareView(file, "\(name).A.eigenvectors", w),
                inputEigenvalues: try vector(file, "\(name).A.eigenvalues", w),
                outputEigenvectors: try layout.blocks.map { try squareView(file, "\(name).\($0.name).S.eigenvectors", $0.size) },
                outputEigenvalues: try layout.blocks.map { try vector(file, "\(name).\($0.name).S.eigenvalues", $0.size) })
        }
    }

    /// The names of module `layout`'s tensors in the eigenbasis and Λ files.
    static func eigenbasisTensors(_ layout: ModuleLayout) -> [String] {
        ["\(layout.name).A.eigenvectors"] + layout.blocks.map { "\(layout.name).\($0.name).S.eigenvectors" }
    }

    static func lambdaTensors(_ layout: ModuleLayout) -> [String] {
        layout.blocks.map { "\(layout.name).\($0.name).lambda" }
    }

    /// The merged or fitted eigenbasis of a directory whose eigendecompositions are done, for
    /// pass 2 (its own or a shard's, `fit --eigenbasis`).
    public static func readEigenbases(_ directory: URL, layouts: [ModuleLayout]) throws -> (FactorManifest, [ModuleEigenbasis], SafeTensorsFile) {
        let manifest = try readManifest(directory)
        guard manifest.hasEigenbasis else {
            throw CheckpointError(manifestURL(directory), "has no finished eigenbasis yet (run `influence merge-factors` on the pass-1 shards first)")
        }
        let file = try open(eigenbasisURL(directory), manifest: manifest, directory: directory)
        return (manifest, try eigenbases(layouts, in: file), file)
    }

    /// Loads the factors of a finished fit, restricted to the modules `selection` picks. The
    /// tensors are views into the mapped files; Λ is checked (finite, non-negative) once, a
    /// module at a time, and its pages released again.
    public static func readFactors(_ directory: URL, selection: ModuleSelection = .all) throws -> (FactorManifest, EKFACFactors) {
        let manifest = try readManifest(directory)
        guard manifest.passesCompleted >= 2, manifest.shard == nil else {
            if let shard = manifest.shard {
                throw CheckpointError(manifestURL(directory), "holds shard \(shard) of a fit, not factors; combine the shards with `influence merge-factors`")
            }
            throw CheckpointError(manifestURL(directory), "the fit is unfinished (\(manifest.passesCompleted) of 2 passes); run `influence fit` again to resume")
        }
        let layouts = manifest.modules.filter { selection.includes($0.module) }
        for layout in layouts where !isPlausible(layout) {
            throw CheckpointError(manifestURL(directory), "module \(layout.name) has an impossible layout (sizes or block rows)")
        }
        if layouts.isEmpty {
            throw CheckpointError(manifestURL(directory), "holds no \(selection.rawValue) modules (fitted with --modules \(manifest.options.modules.rawValue))")
        }
        let eigen = try open(eigenbasisURL(directory), manifest: manifest, directory: directory)
        let lambdaFile = try open(lambdaURL(directory), manifest: manifest, directory: directory)
        let bases = try eigenbases(layouts, in: eigen)
        let lambdas = try layouts.map { layout in
            try layout.blocks.map { block -> Matrix<Float> in
                let tensor = "\(layout.name).\(block.name).lambda"
                let info = try lambdaFile.require(tensor)
                guard info.shape == [block.size, layout.inputSize] else {
                    throw CheckpointError(lambdaFile.url, "tensor \(tensor) has shape \(info.shape), expected [\(block.size), \(layout.inputSize)]")
                }
                let values = try lambdaFile.mappedFloats(tensor)
                guard values.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
                    throw CheckpointError(lambdaFile.url, "tensor \(tensor) has negative or non-finite values")
                }
                lambdaFile.releasePages(tensor)
                return Matrix(rows: block.size, cols: layout.inputSize, borrowing: values.baseAddress!, owner: lambdaFile)
            }
        }
        let release: @Sendable (Int) -> Void = { m in
            for tensor in eigenbasisTensors(layouts[m]) { eigen.releasePages(tensor) }
            for tensor in lambdaTensors(layouts[m]) { lambdaFile.releasePages(tensor) }
        }
        return (manifest, EKFACFactors(eigenbases: bases, lambdas: lambdas, covarianceTokenCount: manifest.covarianceTokens,
                                       covarianceSequenceCount: manifest.covarianceSequences,
                                       correctionSequenceCount: manifest.correctionSequences, release: release))
    }

    /// Pass 1's packed sums of `layout` in a finished covariances file, in place.
    static func sums(_ layout: ModuleLayout, in file: SafeTensorsFile) throws -> (input: UnsafeBufferPointer<Double>, outputs: [UnsafeBufferPointer<Double>]) {
        func packed(_ tensor: String, _ n: Int) throws -> UnsafeBufferPointer<Double> {
            let values = try file.mappedDoubles(tensor)
            guard values.count == PackedUpperTriangle.count(n) else {
                throw CheckpointError(file.url, "tensor \(tensor) has \(values.count) values, expected \(PackedUpperTriangle.count(n)) (a packed \(n)×\(n) triangle)")
            }
            return values
        }
        return (try packed("\(layout.name).A.sum", layout.inputSize),
                try layout.blocks.map { try packed("\(layout.name).\($0.name).S.sum", $0.size) })
    }

    static func releaseSums(_ layout: ModuleLayout, in file: SafeTensorsFile) {
        file.releasePages("\(layout.name).A.sum")
        for block in layout.blocks { file.releasePages("\(layout.name).\(block.name).S.sum") }
    }

    /// Sizes a manifest can hold before arithmetic on them is safe: every block within the
    /// module's rows, no width beyond 2²⁴.
    static func isPlausible(_ layout: ModuleLayout) -> Bool {
        let limit = 1 << 24
        return (1...limit).contains(layout.module.inputSize) && (1...limit).contains(layout.module.outputSize) && !layout.blocks.isEmpty
            && layout.blocks.allSatisfy { $0.rows.lowerBound >= 0 && $0.rows.upperBound <= layout.module.outputSize && !$0.rows.isEmpty }
    }
}
