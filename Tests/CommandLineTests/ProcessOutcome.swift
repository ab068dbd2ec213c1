import Foundation
import Testing

/// How a run of the `influence` executable ended, with a time limit so that a hang is a
/// failure rather than a stuck test.
struct ProcessOutcome {
    let status: Int32
    /// False when the process died of a signal (a trap, SIGILL, SIGSEGV) or was killed for taking too long.
    let exitedNormally: Bool
    let timedOut: Bool
    let standardOutput: String
    let standardError: String

    /// The lines of standard error that are not ArgumentParser's usage hints.
    var errorLines: [Substring] {
        standardError.split(separator: "\n").filter {
            !$0.isEmpty && !$0.hasPrefix("Usage") && !$0.hasPrefix("  See") && !$0.hasPrefix("Help:")
        }
    }

    /// A clean exit: by `exit`, in time, without a Swift runtime trap message.
    var isClean: Bool { exitedNormally && !timedOut && !standardError.contains("Fatal error") }

    static func run(_ arguments: [String], timeLimit: TimeInterval = 300, environment: [String: String]? = nil,
                    in directory: URL? = nil, executable: URL = CommandLineTests.executable) throws -> ProcessOutcome {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = directory }
        let directory = FileManager.default.temporaryDirectory
        let outURL = directory.appendingPathComponent("out-\(UUID().uuidString)"), errURL = directory.appendingPathComponent("err-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
        let deadline = Date().addingTimeInterval(timeLimit)
        var timedOut = false
        while process.isRunning {
            if Date() > deadline {
                timedOut = true
                // SIGKILL: the child inherits the test runner's signal mask, which blocks SIGTERM.
                kill(process.processIdentifier, SIGKILL)
                break
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        process.waitUntilExit()
        return ProcessOutcome(status: process.terminationStatus, exitedNormally: process.terminationReason == .exit, timedOut: timedOut,
                              standardOutput: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                              standardError: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }
}
