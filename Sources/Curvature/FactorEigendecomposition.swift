import Checkpoints
import Foundation
import Numerics

/// The eigendecompositions between the passes, one module at a time: each module's sums are
/// read (and released), decomposed in Float64, and its eigenbasis written into
/// eigenbasis.safetensors before the next module starts, so memory holds one module's work and
/// a killed run resumes after the last module written.
enum FactorEigendecomposition {
    /// `sums(m, body)` calls `body` with module m's packed input sum and output sums (from a
    /// fit's covariances file, or merged shards'). The modules of each of `windows` are
    /// decomposed at once, one thread each (independent problems, each on one BLAS thread, so
    /// the results do not depend on the window); progress is recorded in `manifest` (written
    /// to `directory` after each window) and, at the end, the eigenbasis file's digest.
    static func run(
        layouts: [ModuleLayout], tokens: Int, into directory: URL, manifest: inout FactorManifest, windows: [Range<Int>],
        log: (String) -> Void = { _ in },
        sums: (Int, (UnsafePointer<Double>, [UnsafePointer<Double>]) throws -> Void) throws -> Void
    ) throws {
        // A line at most every 30 s: big models spend hours here.
        let start = Date()
        var reported = start
        let file = try SafeTensorsSlotFile(url: FactorStore.eigenbasisURL(directory), slots: FactorStore.eigenbasisSlots(layouts))
        for window in windows where window.upperBound > (manifest.modulesDone ?? 0) {
            let modules = max(window.lowerBound, manifest.modulesDone ?? 0)..<window.upperBound
            let failures = FailureList()
            try withoutActuallyEscaping(sums) { sums in
                nonisolated(unsafe) let sums = sums
                DispatchQueue.concurrentPerform(iterations: modules.count) { i in
                    let m = modules.lowerBound + i
                    do {
                        try sums(m) { input, outputs in
                            let basis = try ModuleEigenbasis(layout: layouts[m], packedInputSum: input, packedOutputSums: outputs, tokens: tokens)
                            try FactorStore.write(basis, into: file)
                        }
                    } catch {
                        failures.add(m, error)
                    }
                }
            }
            if let error = failures.first { throw error }
            try file.synchronize()
            manifest.modulesDone = modules.upperBound
            try FactorStore.writeManifest(manifest, to: directory)
            FaultInjection.reached("eigen")
            if Date().timeIntervalSince(reported) >= 30 && modules.upperBound < layouts.count {
                reported = Date()
                log(String(format: "eigendecompositions: %d of %d modules, %.0f s", modules.upperBound, layouts.count, reported.timeIntervalSince(start)))
            }
        }
        try file.finish()
        try FactorStore.record(file.url, in: &manifest)
        manifest.modulesDone = nil
        try FactorStore.writeManifest(manifest, to: directory)
    }
}

/// The errors of parallel work, by index: the lowest index's is reported, as a serial loop would.
final class FailureList: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [(Int, Error)] = []

    func add(_ index: Int, _ error: Error) {
        lock.lock()
        defer { lock.unlock() }
        errors.append((index, error))
    }

    var first: Error? { errors.min { $0.0 < $1.0 }?.1 }
}
