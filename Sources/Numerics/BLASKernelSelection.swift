import CBLAS
import Foundation

/// Choosing OpenBLAS's kernels on CPUs that its run-time detection does not know.
///
/// Debian's OpenBLAS 0.3.21 is built for every x86 core and picks one when it loads. On CPUs
/// newer than that release (seen here: a Xeon reporting family 6, model 207, with AVX-512) the
/// detection falls back to "Prescott", SSE3-only kernels that reach 40 GFLOP/s instead of the
/// 200 that the SkylakeX kernels reach on the same machine. OpenBLAS reads the choice from the
/// `OPENBLAS_CORETYPE` environment variable once, while the library loads, so the only fix
/// from inside a process is to set the variable and start the program again.
extension BLAS {
    /// The kernel family OpenBLAS chose, e.g. "Haswell", "SkylakeX", "Prescott".
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// The fastest OpenBLAS core type this CPU supports, from its feature flags in
    /// /proc/cpuinfo, or nil when there is nothing better than OpenBLAS's own choice.
    public static func recommendedCoreType(cpuFlags: Set<String>? = nil) -> String? {
        let flags = cpuFlags ?? currentCPUFlags()
        if ["avx512f", "avx512vl", "avx512bw", "avx512dq", "avx512cd"].allSatisfy(flags.contains) {
            return "SkylakeX"
        }
        if ["avx2", "fma"].allSatisfy(flags.contains) { return "Haswell" }
        return nil
    }

    /// Whether OpenBLAS runs kernels older than the CPU supports.
    public static var isUsingWeakerKernels: Bool {
        guard let recommended = recommendedCoreType() else { return false }
        let current = coreName.lowercased()
        let avx512Cores: Set = ["skylakex", "cooperlake", "sapphirerapids"]
        let avx2Cores: Set = ["haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"]
        return recommended == "SkylakeX" ? !avx512Cores.contains(current) : !avx2Cores.contains(current)
    }

    /// If OpenBLAS picked weaker kernels than the CPU supports and the user did not choose
    /// with `OPENBLAS_CORETYPE`, restarts the current executable with the variable set. Call it
    /// first thing in `main`; it returns only when no restart is needed or possible.
    public static func relaunchWithBestKernelsIfNeeded() {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              isUsingWeakerKernels, let core = recommendedCoreType()
        else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        let arguments = CommandLine.unsafeArgv
        execv("/proc/self/exe", arguments)
        // execv returned: the restart failed; carry on with the slower kernels.
    }

    private static func currentCPUFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":")
        else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }
}
