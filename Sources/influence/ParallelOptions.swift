import ArgumentParser
import Foundation
import Numerics

/// `--threads N`, shared by the commands that do heavy numerical work.
struct ParallelOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Threads for parallel work: N batches of a fit pass at once, eigendecompositions of N modules at once, N batches of documents scored at once (default: all cores; results are the same for any N).")
    var threads: Int?

    func validate() throws { try OptionCheck.positive(threads, "--threads", largest: 1024) }

    var count: Int { threads ?? ProcessInfo.processInfo.activeProcessorCount }

    /// Matrix products stay on one BLAS thread whatever N is: OpenBLAS's threaded sgemm rounds
    /// differently by thread count (its edge kernels see other tiles; measured: covariances
    /// differed between 1 and 2 threads), so N buys only coarse-grained, order-independent work.
    func apply() { BLAS.setThreadCount(1) }
}
