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

    /// Runs `executable` with `arguments` (standard input /dev/null, output and error to files),
    /// killing it after `timeLimit` seconds.
    ///
    /// Spawned with posix_spawn and reaped with waitpid rather than Foundation's `Process`: on
    /// Linux, `Process.waitUntilExit` was seen to wait forever for a script that had started
    /// daemons (the Slurm cluster), which hung the whole test run. The child gets an empty
    /// signal mask and default handlers (the test runner blocks some signals) and no descriptor
    /// beyond 0–2, so a daemon it starts holds none of the runner's pipes.
    static func run(_ arguments: [String], timeLimit: TimeInterval = 300, environment: [String: String]? = nil,
                    in directory: URL? = nil, executable: URL = CommandLineTests.executable) throws -> ProcessOutcome {
        let temporary = FileManager.default.temporaryDirectory
        let outURL = temporary.appendingPathComponent("out-\(UUID().uuidString)"), errURL = temporary.appendingPathComponent("err-\(UUID().uuidString)")
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        let pid = try spawn(executable.path, arguments, environment: environment ?? ProcessInfo.processInfo.environment,
                            directory: directory?.path, standardOutput: outURL.path, standardError: errURL.path)
        let deadline = Date().addingTimeInterval(timeLimit)
        var timedOut = false, status: Int32 = 0
        while true {
            let reaped = waitpid(pid, &status, timedOut ? 0 : WNOHANG)
            if reaped == pid { break }
            if reaped == -1 && errno != EINTR { throw POSIXError(.ECHILD) }
            if !timedOut && Date() > deadline {
                timedOut = true
                kill(pid, SIGKILL)
                continue
            }
            if !timedOut { usleep(20_000) }
        }
        // waitpid's status word: low 7 bits the signal (0 for a normal exit), bits 8–15 the exit code.
        let signal = status & 0x7f
        return ProcessOutcome(status: signal == 0 ? (status >> 8) & 0xff : signal, exitedNormally: signal == 0, timedOut: timedOut,
                              standardOutput: String(decoding: (try? Data(contentsOf: outURL)) ?? Data(), as: UTF8.self),
                              standardError: String(decoding: (try? Data(contentsOf: errURL)) ?? Data(), as: UTF8.self))
    }

    private static func spawn(_ path: String, _ arguments: [String], environment: [String: String], directory: String?,
                              standardOutput: String, standardError: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, standardOutput, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, standardError, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        // glibc's _np actions (2.34+, 2.29+), which Swift's Glibc module does not import.
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        typealias ChangeDirectory = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
        if let closeFrom = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(closeFrom, to: CloseFrom.self)(&actions, 3)
        }
        if let directory {
            guard let changeDirectory = dlsym(nil, "posix_spawn_file_actions_addchdir_np") else { throw POSIXError(.ENOSYS) }
            _ = directory.withCString { unsafeBitCast(changeDirectory, to: ChangeDirectory.self)(&actions, $0) }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var mask = sigset_t(), defaults = sigset_t()
        sigemptyset(&mask)
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGPIPE, SIGCHLD, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        func cStrings(_ strings: [String]) -> [UnsafeMutablePointer<CChar>?] { strings.map { strdup($0) } + [nil] }
        let argv = cStrings([path] + arguments), envp = cStrings(environment.map { "\($0.key)=\($0.value)" })
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EINVAL) }
        return pid
    }
}
