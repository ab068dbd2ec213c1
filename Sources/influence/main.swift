// The `influence` command-line tool: a thin layer over InfluenceKit. Each subcommand is a
// small type in its own file.
import ArgumentParser
import Checkpoints
import Foundation
import Numerics

// Debian's OpenBLAS misdetects some recent CPUs and falls back to slow kernels; restart once
// with the right ones (see ../shared/NOTES-numerics.md and README "Performance"). One BLAS
// thread: on this machine one thread is fastest (the tool itself runs on one thread too).
BLAS.relaunchWithBestKernelsIfNeeded()
BLAS.useSingleThread()

struct InfluenceTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "influence",
        abstract: "Which training documents made a language model say this? Influence functions with EK-FAC.",
        version: ToolVersion.current,
        subcommands: [Inspect.self, Eval.self, Generate.self, Train.self, TokenizerCommand.self, Plan.self, Fit.self, MergeFactors.self, Score.self, MergeScores.self, Validate.self, Distance.self, Index.self, Trace.self, Demo.self, Bench.self]
    )
}

// As `InfluenceTool.main()`, with Foundation's file-system errors turned into one-line messages.
do {
    var command = try InfluenceTool.parseAsRoot()
    try command.run()
} catch {
    let error = FileSystemProblem.oneLine(error)
    // A value an option's type refuses (a damping of 0) is a one-line error like any other:
    // ArgumentParser's "Help:" line after it, the option's abstract, is left out.
    if InfluenceTool.exitCode(for: error) == .validationFailure {
        let lines = InfluenceTool.fullMessage(for: error).split(separator: "\n", omittingEmptySubsequences: false)
        FileHandle.standardError.write(Data((lines.filter { !$0.hasPrefix("Help:") }.joined(separator: "\n") + "\n").utf8))
        InfluenceTool.exit(withError: ExitCode.validationFailure)
    }
    InfluenceTool.exit(withError: error)
}
