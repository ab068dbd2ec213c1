import ArgumentParser
import Foundation
import Numerics

/// `--threads N`, shared by the commands that do heavy numerical work.
struct ParallelOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Threads for matrix products and parallel work (default: all cores; results are the same for any N).")
    var threads: Int?

    func validate() throws { try OptionCheck.positive(threads, "--threads", largest: 1024) }

    var count: Int { threads ?? ProcessInfo.processInfo.activeProcessorCount }

    /// Sets the BLAS threads for the products that follow.
    func apply() { BLAS.setThreadCount(count) }
}
