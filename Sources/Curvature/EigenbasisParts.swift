import Checkpoints
import Foundation

/// The eigendecompositions of a sharded fit shared out by module among N tasks, on as many
/// machines (`merge-factors SHARDS --out OUT --shard I/N`). Part I adds the shards' covariance
/// sums of its modules, in shard order as the merge does, and eigendecomposes them into
/// OUT/eigen-parts/part-I-of-N: a directory with its own manifest, resumable by module, written
/// without OUT's lock so that the parts run at once. The merge without `--shard` then copies the
/// parts' tensors into OUT's eigenbasis instead of decomposing, and removes the parts: the file
/// is byte for byte the one it would have computed itself.
enum EigenbasisParts {
    static func partsDirectory(_ out: URL) -> URL { out.appendingPathComponent("eigen-parts") }

    static func directory(_ out: URL, part: ShardSpec) -> URL {
        partsDirectory(out).appendingPathComponent("part-\(part.index)-of-\(part.count)")
    }

    /// Part `part`'s modules: consecutive, with about equal eigendecomposition work (Σ n³ over
    /// the module's input factor and output blocks).
    static func modules(_ layouts: [ModuleLayout], part: ShardSpec) -> Range<Int> {
        let costs = layouts.map { layout in ([layout.inputSize] + layout.blocks.map(\.size)).reduce(0) { $0 + $1 * $1 * $1 } }
        return ModuleGroups.balanced(costs, parts: part.count)[part.index]
    }

    /// Runs (or resumes) part `part` from the pass-1 shards (`manifests`, in shard order, whose
    /// covariance files have `covarianceDigests`).
    static func decompose(
        part: ShardSpec, shards: [URL], manifests: [FactorManifest], covarianceDigests: [String], out: URL, toolVersion: String,
        threads: Int, log: (String) -> Void
    ) throws -> FactorManifest {
        let first = manifests[0], layouts = first.modules
        guard part.count <= layouts.count else {
            throw InputError("--shard \(part): \(layouts.count) modules cannot be shared among \(part.count) parts; use at most \(layouts.count)")
        }
        if let merged = try? FactorStore.readManifest(out), merged.hasEigenbasis,
           Array((merged.mergedFrom ?? []).prefix(covarianceDigests.count)) == covarianceDigests {
            log("\(out.relativePath) already has the eigenbasis of these shards; nothing to do")
            return merged
        }
        let range = modules(layouts, part: part)
        let subset = Array(layouts[range])
        let directory = directory(out, part: part)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let lock = try DirectoryLock(directory, purpose: "`influence merge-factors --shard \(part)`")
        defer { withExtendedLifetime(lock) {} }

        var manifest = FactorManifest(
            toolVersion: toolVersion, modelType: first.modelType, modelPath: first.modelPath, modelFingerprint: first.modelFingerprint,
            options: first.options, passesCompleted: 0, covarianceTokens: manifests.reduce(0) { $0 + $1.covarianceTokens },
            covarianceSequences: manifests.reduce(0) { $0 + $1.covarianceSequences }, correctionSequences: 0, modules: subset)
        manifest.mergedShards = first.shard!.count
        manifest.mergedFrom = covarianceDigests
        manifest.eigenPart = part
        if let existing = try? FactorStore.readManifest(directory) {
            guard existing.eigenPart == part, existing.mergedFrom == covarianceDigests, existing.modules == subset else {
                throw InputError("\(FactorStore.manifestURL(directory).path): a part of other shards or modules; remove \(directory.path) and run again")
            }
            if existing.hasEigenbasis {
                log("part \(part) is done; nothing to do")
                return existing
            }
            manifest = existing
        }
        let files = try zip(shards, manifests).map { try FactorStore.open(FactorStore.covariancesURL($0), manifest: $1, directory: $0) }
        log("part \(part): modules \(range.lowerBound + 1)–\(range.upperBound) of \(layouts.count)"
            + (manifest.modulesDone.map { ", resuming after \($0)" } ?? ""))
        let start = Date()
        try FactorEigendecomposition.run(
            layouts: subset, tokens: manifest.covarianceTokens, into: directory, manifest: &manifest,
            windows: ModuleGroups.windows(of: 0..<subset.count, size: threads), log: log,
            sums: { m, body in
                let parts = try files.map { try FactorStore.sums(subset[m], in: $0) }
                defer { for file in files { FactorStore.releaseSums(subset[m], in: file) } }
                // The same Float64 additions, in the same order, as the merged covariances file holds.
                let input = FactorMerge.sum(parts.map(\.input))
                let outputs = subset[m].blocks.indices.map { b in FactorMerge.sum(parts.map { $0.outputs[b] }) }
                try input.withUnsafeBufferPointer { input in
                    try withPointers(outputs) { try body(input.baseAddress!, $0) }
                }
            })
        log(String(format: "part %@: %d eigendecompositions in %.2f s; when every part is done, run merge-factors without --shard",
                   part.description, subset.count, Date().timeIntervalSince(start)))
        return manifest
    }

    /// The finished parts under OUT/eigen-parts, in part order; nil when there are none.
    /// Throws when one is missing, unfinished, or of other shards or modules.
    static func finished(in out: URL, layouts: [ModuleLayout], mergedFrom: [String]) throws -> [(URL, FactorManifest)]? {
        let root = partsDirectory(out)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).filter { $0.hasPrefix("part-") }.sorted()
        guard !names.isEmpty else { return nil }
        let parts = try names.map { name -> (URL, FactorManifest, ShardSpec) in
            let url = root.appendingPathComponent(name)
            guard let manifest = try? FactorStore.readManifest(url), let part = manifest.eigenPart else {
                throw InputError("\(url.path): an eigendecomposition part without its manifest; run its `merge-factors --shard` again")
            }
            return (url, manifest, part)
        }
        let count = parts[0].2.count
        if let other = parts.first(where: { $0.2.count != count }) {
            throw InputError("\(root.path): holds parts of \(count) and of \(other.2.count) tasks; remove the stale ones")
        }
        return try (0..<count).map { index in
            guard let (url, manifest, part) = parts.first(where: { $0.2.index == index }) else {
                throw InputError("\(root.path): part \(index)/\(count) is missing; run `influence merge-factors SHARDS --out \(out.relativePath) --shard \(index)/\(count)`")
            }
            guard manifest.mergedFrom == mergedFrom, manifest.modules == Array(layouts[modules(layouts, part: part)]) else {
                throw InputError("\(url.path): part \(part) of another fit's shards; remove it and run it again")
            }
            guard manifest.hasEigenbasis else {
                throw InputError("\(url.path): part \(part) is unfinished; run its `merge-factors --shard \(part)` again")
            }
            return (url, manifest)
        }
    }

    /// Copies the parts' tensors into OUT's eigenbasis file, records it in `manifest`, and
    /// removes the parts.
    static func assemble(_ parts: [(URL, FactorManifest)], layouts: [ModuleLayout], into out: URL, manifest: inout FactorManifest) throws {
        let file = try SafeTensorsSlotFile(url: FactorStore.eigenbasisURL(out), slots: FactorStore.eigenbasisSlots(layouts))
        for (url, part) in parts {
            let source = try FactorStore.open(FactorStore.eigenbasisURL(url), manifest: part, directory: url)
            for slot in FactorStore.eigenbasisSlots(part.modules) {
                let info = try source.require(slot.name)
                guard info.dtype == slot.dtype, info.shape == slot.shape else {
                    throw CheckpointError(source.url, "tensor \(slot.name) is \(info.dtype) \(info.shape), expected \(slot.dtype) \(slot.shape)")
                }
                try file.write(slot.name, bytes: source.rawBytes(info))
                source.releasePages(slot.name)
            }
        }
        try file.finish()
        try FactorStore.record(file.url, in: &manifest)
        manifest.modulesDone = nil
        try FactorStore.writeManifest(manifest, to: out)
        try? FileManager.default.removeItem(at: partsDirectory(out))
    }
}
