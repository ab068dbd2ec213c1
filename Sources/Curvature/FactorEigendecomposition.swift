import Checkpoints
import Foundation
import Numerics

/// The eigendecompositions between the passes, one module at a time: each module's sums are
/// read (and released), decomposed in Float64, and its eigenbasis written into
/// eigenbasis.safetensors before the next module starts, so memory holds one module's work and
/// a killed run resumes after the last module written.
enum FactorEigendecomposition {
    /// `sums(m, body)` calls `body` with module m's packed input sum and output sums (from a
    /// fit's covariances file, or merged shards'). Records progress in `manifest` (written to
    /// `directory` after each module) and, at the end, the eigenbasis file's digest.
    static func run(
        layouts: [ModuleLayout], tokens: Int, into directory: URL, manifest: inout FactorManifest,
        sums: (Int, (UnsafePointer<Double>, [UnsafePointer<Double>]) throws -> Void) throws -> Void
    ) throws {
        let file = try SafeTensorsSlotFile(url: FactorStore.eigenbasisURL(directory), slots: FactorStore.eigenbasisSlots(layouts))
        for m in (manifest.modulesDone ?? 0)..<layouts.count {
            try sums(m) { input, outputs in
                let basis = try ModuleEigenbasis(layout: layouts[m], packedInputSum: input, packedOutputSums: outputs, tokens: tokens)
                try FactorStore.write(basis, into: file)
            }
            try file.synchronize()
            manifest.modulesDone = m + 1
            try FactorStore.writeManifest(manifest, to: directory)
            FaultInjection.reached("eigen")
        }
        try file.finish()
        try FactorStore.record(file.url, in: &manifest)
        manifest.modulesDone = nil
        try FactorStore.writeManifest(manifest, to: directory)
    }
}
