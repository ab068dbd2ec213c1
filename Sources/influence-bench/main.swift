// Benchmarks, run as a program (never as timed unit tests):
//
//     swift run -c release influence-bench numerics   # GEMM, eigendecomposition, kernels
//     swift run -c release influence-bench model      # GPT-NeoX forward + backward
//
// Each line reports the best of several repetitions, so that a busy neighbour on this shared
// machine inflates the numbers as little as possible.
import ArgumentParser
import Numerics

struct InfluenceBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "influence-bench", abstract: "Speed benchmarks of the numerics, the model, fitting, scoring and training.",
        subcommands: [NumericsBenchmark.self, GEMMBenchmark.self, EigenBenchmark.self, KernelsBenchmark.self, ModelBenchmark.self,
                      InfluenceBenchmark.self, TrainingBenchmark.self],
        defaultSubcommand: NumericsBenchmark.self)
}

BLAS.relaunchWithBestKernelsIfNeeded()
BLAS.useSingleThread()
print("OpenBLAS kernels: \(BLAS.coreName)")
InfluenceBench.main()
