import Checkpoints
import Foundation
import Numerics

/// `influence merge-factors`: combines the shards of a fit (`fit --shard I/N`) into one factors
/// directory, in two rounds. After every shard's pass 1, it adds their covariance sums (in
/// shard order, Float64) and eigendecomposes them, one module at a time: the eigenbasis the
/// shards' pass 2 reads (`fit --shard I/N --eigenbasis OUT`). After every shard's pass 2, it
/// adds their Λ sums and writes Λ: OUT is then a finished factors directory. Because shards
/// are whole batches, the sums equal a single process's up to Float64 rounding. The
/// eigendecompositions can be shared out by module among tasks first (`eigenPart`,
/// `EigenbasisParts`).
public struct FactorMerge {
    public let shards: [URL]
    public let directory: URL
    public let toolVersion: String
    /// Eigendecompositions run at once (`--threads`).
    public var threads = 1
    /// `--shard I/N`: eigendecompose only part I of N of the modules (`EigenbasisParts`); the
    /// run without it assembles the parts.
    public var eigenPart: ShardSpec = .whole

    public init(shards: [URL], directory: URL, toolVersion: String) {
        self.shards = shards
        self.directory = directory
        self.toolVersion = toolVersion
    }

    /// Runs whichever round the shards are ready for; resumable like a fit.
    @discardableResult
    public func run(log: (String) -> Void = { _ in }) throws -> FactorManifest {
        let ordered = try checkedShards()
        let shards = ordered.map(\.0), manifests = ordered.map(\.1)
        let first = manifests[0]
        let count = first.shard!.count
        let covarianceDigests = try zip(shards, manifests).map { url, manifest in
            try digest(FactorStore.covariancesName, of: manifest, in: url)
        }
        if !eigenPart.isWhole {
            return try EigenbasisParts.decompose(part: eigenPart, shards: shards, manifests: manifests, covarianceDigests: covarianceDigests,
                                                 out: directory, toolVersion: toolVersion, threads: threads, log: log)
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let lock = try DirectoryLock(directory, purpose: "`influence merge-factors`")
        defer { withExtendedLifetime(lock) {} }

        let secondRound = manifests.allSatisfy { $0.passesCompleted >= 2 }
        if !secondRound, let ahead = zip(shards, manifests).first(where: { $0.1.passesCompleted >= 2 }) {
            let behind = zip(shards, manifests).first { $0.1.passesCompleted < 2 }!
            throw InputError("\(behind.0.path): shard \(behind.1.shard!) has not finished pass 2 (shard \(ahead.1.shard!) has); run its `fit --eigenbasis` first")
        }
        var manifest = FactorManifest(
            toolVersion: toolVersion, modelType: first.modelType, modelPath: first.modelPath, modelFingerprint: first.modelFingerprint,
            options: first.options, passesCompleted: 0, covarianceTokens: manifests.reduce(0) { $0 + $1.covarianceTokens },
            covarianceSequences: manifests.reduce(0) { $0 + $1.covarianceSequences }, correctionSequences: 0, modules: first.modules)
        manifest.mergedShards = count
        manifest.mergedFrom = covarianceDigests
        if let existing = try? FactorStore.readManifest(directory) {
            guard existing.mergedShards == count, existing.modelFingerprint == first.modelFingerprint,
                  existing.options.sameResult(as: first.options), Array((existing.mergedFrom ?? []).prefix(count)) == covarianceDigests
            else {
                throw InputError("\(FactorStore.manifestURL(directory).path): holds factors of other shards; choose another --out or remove it")
            }
            manifest = existing
        }
        let layouts = manifest.modules

        if manifest.passesCompleted < 1 {
            let files = try zip(shards, manifests).map { try FactorStore.open(FactorStore.covariancesURL($0), manifest: $1, directory: $0) }
            let out = try SafeTensorsSlotFile(url: FactorStore.covariancesURL(directory), slots: FactorStore.covarianceSlots(layouts))
            for layout in layouts {
                let parts = try files.map { try FactorStore.sums(layout, in: $0) }
                try out.write("\(layout.name).A.sum", doubles: Self.sum(parts.map(\.input)))
                for (b, block) in layout.blocks.enumerated() {
                    try out.write("\(layout.name).\(block.name).S.sum", doubles: Self.sum(parts.map { $0.outputs[b] }))
                }
                for file in files { FactorStore.releaseSums(layout, in: file) }
            }
            try out.finish()
            try FactorStore.record(out.url, in: &manifest)
            manifest.passesCompleted = 1
            try FactorStore.writeManifest(manifest, to: directory)
            log("merged the covariances of \(count) shards (\(manifest.covarianceTokens) tokens, \(manifest.covarianceSequences) sequences)")
        }
        if !manifest.hasEigenbasis, let parts = try EigenbasisParts.finished(in: directory, layouts: layouts, mergedFrom: covarianceDigests) {
            try EigenbasisParts.assemble(parts, layouts: layouts, into: directory, manifest: &manifest)
            log("assembled the eigenbasis from \(parts.count) parts (merge-factors --shard); now run pass 2 on every shard with --eigenbasis \(directory.relativePath)")
        }
        if !manifest.hasEigenbasis {
            let covariances = try FactorStore.open(FactorStore.covariancesURL(directory), manifest: manifest, directory: directory)
            if let done = manifest.modulesDone { log("resuming the eigendecompositions after \(done) of \(layouts.count) modules") }
            let start = Date()
            try FactorEigendecomposition.run(layouts: layouts, tokens: manifest.covarianceTokens, into: directory, manifest: &manifest,
                                             windows: ModuleGroups.windows(of: 0..<layouts.count, size: threads), log: log,
                                             sums: { m, body in
                                                 let sums = try FactorStore.sums(layouts[m], in: covariances)
                                                 defer { FactorStore.releaseSums(layouts[m], in: covariances) }
                                                 try body(sums.input.baseAddress!, sums.outputs.map { $0.baseAddress! })
                                             })
            log(String(format: "eigendecomposition: %.2f s; now run pass 2 on every shard with --eigenbasis %@", Date().timeIntervalSince(start),
                       directory.relativePath))
        }
        guard secondRound else { return manifest }
        if manifest.passesCompleted >= 2 {
            log("\(directory.relativePath) is complete; nothing to do")
            return manifest
        }

        let eigenDigest = manifest.files?[FactorStore.eigenbasisName]
        for (url, shard) in zip(shards, manifests) where shard.eigenbasisDigest != eigenDigest {
            throw InputError("\(url.path): shard \(shard.shard!)'s pass 2 used another eigenbasis than \(FactorStore.eigenbasisURL(directory).path); rerun it with --force --eigenbasis \(directory.path)")
        }
        let files = try zip(shards, manifests).map { try FactorStore.open(FactorStore.lambdaSumsURL($0), manifest: $1, directory: $0) }
        let sequences = manifests.reduce(0) { $0 + $1.correctionSequences }
        let scale = 1 / Double(max(sequences, 1))
        let out = try SafeTensorsSlotFile(url: FactorStore.lambdaURL(directory), slots: FactorStore.lambdaSlots(layouts, sums: false))
        for layout in layouts {
            for block in layout.blocks {
                let name = "\(layout.name).\(block.name).lambda"
                let parts = try files.map { file -> UnsafeBufferPointer<Double> in
                    let values = try file.mappedDoubles(name + ".sum")
                    guard values.count == block.size * layout.inputSize else {
                        throw CheckpointError(file.url, "tensor \(name).sum has \(values.count) values, expected \(block.size * layout.inputSize)")
                    }
                    return values
                }
                try out.write(name, floats: Self.sum(parts).map { Float($0 * scale) })
                for file in files { file.releasePages(name + ".sum") }
            }
        }
        try out.finish()
        try FactorStore.record(out.url, in: &manifest)
        manifest.correctionSequences = sequences
        manifest.passesCompleted = 2
        try FactorStore.writeManifest(manifest, to: directory)
        log("wrote \(out.url.relativePath) (\(layouts.count) modules, \(manifest.covarianceTokens) tokens, \(sequences) sequences, from \(count) shards)")
        return manifest
    }

    /// Element-wise sum of the parts, added in order.
    static func sum(_ parts: [UnsafeBufferPointer<Double>]) -> [Double] {
        var total = Array(parts[0])
        for part in parts.dropFirst() {
            total.withUnsafeMutableBufferPointer { t in for i in 0..<t.count { t[i] += part[i] } }
        }
        return total
    }

    private func digest(_ name: String, of manifest: FactorManifest, in directory: URL) throws -> String {
        guard let digest = manifest.files?[name] else {
            throw CheckpointError(FactorStore.manifestURL(directory), "records no \(name); the shard's fit is unfinished (run it again)")
        }
        return digest
    }

    /// The shards' manifests, checked to be the N shards of one fit, each once.
    private func checkedShards() throws -> [(URL, FactorManifest)] {
        guard !shards.isEmpty else { throw InputError("merge-factors needs the shard directories of a fit") }
        let manifests = try shards.map { try FactorStore.readManifest($0) }
        for (url, manifest) in zip(shards, manifests) where manifest.shard == nil {
            throw InputError("\(url.path): not a shard (fitted without --shard)")
        }
        let first = manifests[0], count = first.shard!.count
        for (url, manifest) in zip(shards, manifests).dropFirst() {
            guard manifest.modelFingerprint == first.modelFingerprint else {
                throw InputError("\(url.path): a shard of another model than \(shards[0].path)")
            }
            guard manifest.options.sameResult(as: first.options), manifest.modules == first.modules else {
                throw InputError("\(url.path): a shard fitted with other options or data than \(shards[0].path)")
            }
            guard manifest.shard!.count == count else {
                throw InputError("\(url.path): shard \(manifest.shard!) of \(manifest.shard!.count) shards, but \(shards[0].path) is one of \(count)")
            }
        }
        var seen: [Int: URL] = [:]
        for (url, manifest) in zip(shards, manifests) {
            let index = manifest.shard!.index
            if let other = seen[index] { throw InputError("shard \(manifest.shard!) given twice: \(other.path) and \(url.path)") }
            seen[index] = url
        }
        if let missing = (0..<count).first(where: { seen[$0] == nil }) {
            throw InputError("shard \(missing)/\(count) is missing (give all \(count) shard directories)")
        }
        for (url, manifest) in zip(shards, manifests) where manifest.passesCompleted < 1 {
            throw InputError("\(url.path): shard \(manifest.shard!) has not finished pass 1; run its fit again to resume it")
        }
        // Shard order, whatever the order on the command line.
        return zip(shards, manifests).sorted { $0.1.shard!.index < $1.1.shard!.index }
    }
}
