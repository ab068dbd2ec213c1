import Foundation
import Fuzzing

// influence-fuzz TARGET|all [--cases N] [--seed S] [--first K] [--hang-budget SECONDS]
//                [--isolate] [--chunk C] [--replay N] [--write-case N PATH] [--list]
//
// Runs numbered mutation cases against a parser and prints the counts. With --isolate, each
// chunk of cases runs in a child process, so a trap is reported with its case number and the
// run goes on; a child that stops making progress is killed and its case reported as a hang.

struct Options {
    var targets: [FuzzTarget] = []
    var cases = 1000
    var seed: UInt64 = 1
    var first = 0
    var hangBudget: TimeInterval = 2
    var isolate = false
    var chunk = 500
    var replay: Int?
    var writeCase: (Int, String)?
    /// Set in a child: where to log each case's start and outcome.
    var progressPath: String?
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
    exit(2)
}

func parse(_ arguments: [String]) -> Options {
    var options = Options()
    var rest = arguments[...]
    func value(_ flag: String) -> String {
        guard let next = rest.popFirst() else { fail("\(flag) needs a value") }
        return next
    }
    func integer(_ flag: String, minimum: Int) -> Int {
        let text = value(flag)
        guard let number = Int(text), number >= minimum else { fail("\(flag) must be an integer ≥ \(minimum), got \(text)") }
        return number
    }
    while let argument = rest.popFirst() {
        switch argument {
        case "--cases": options.cases = integer(argument, minimum: 0)
        case "--seed": options.seed = UInt64(integer(argument, minimum: 0))
        case "--first": options.first = integer(argument, minimum: 0)
        case "--chunk": options.chunk = integer(argument, minimum: 1)
        case "--hang-budget":
            guard let seconds = Double(value(argument)), seconds > 0, seconds.isFinite else { fail("--hang-budget must be a positive number of seconds") }
            options.hangBudget = seconds
        case "--isolate": options.isolate = true
        case "--replay": options.replay = integer(argument, minimum: 0)
        case "--write-case": options.writeCase = (integer(argument, minimum: 0), value(argument))
        case "--child-progress": options.progressPath = value(argument)
        case "--list":
            print(FuzzTarget.all.map(\.name).joined(separator: "\n"))
            exit(0)
        case "all": options.targets = FuzzTarget.all
        default:
            guard let target = FuzzTarget.named(argument) else {
                fail("unknown target or option \(argument) (targets: all, \(FuzzTarget.all.map(\.name).joined(separator: ", ")))")
            }
            options.targets.append(target)
        }
    }
    if options.targets.isEmpty { fail("name a target (\(FuzzTarget.all.map(\.name).joined(separator: ", "))) or all") }
    return options
}

/// Runs cases in this process, logging each one's start and outcome when a parent watches.
func runInProcess(_ runner: FuzzRunner, _ cases: Range<Int>, progressPath: String?) -> FuzzReport {
    guard let progressPath else { return runner.run(cases: cases) }
    FileManager.default.createFile(atPath: progressPath, contents: nil)
    guard let log = FileHandle(forWritingAtPath: progressPath) else { fail("cannot write \(progressPath)") }
    var report = FuzzReport(target: runner.target.name)
    for number in cases {
        log.write(Data("start \(number)\n".utf8))
        let partial = runner.run(cases: number..<number + 1)
        report.merge(partial)
        log.write(Data("done \(number) \(partial.successes) \(partial.hangs.count) \(partial.slowestCase.seconds) \(partial.violations.count)\n".utf8))
    }
    return report
}

/// Runs `cases` chunk by chunk in child processes, reading their logs.
func runIsolated(_ runner: FuzzRunner, _ options: Options) throws -> FuzzReport {
    var report = FuzzReport(target: runner.target.name)
    let progress = FileManager.default.temporaryDirectory.appendingPathComponent("influence-fuzz-progress-\(getpid())").path
    defer { try? FileManager.default.removeItem(atPath: progress) }
    var next = options.first
    let end = options.first + options.cases
    while next < end {
        let count = min(options.chunk, end - next)
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        child.arguments = [runner.target.name, "--cases", "\(count)", "--first", "\(next)", "--seed", "\(options.seed)",
                           "--hang-budget", "\(options.hangBudget)", "--child-progress", progress]
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice   // a crash's backtrace: see it with --replay
        try child.run()
        // A case that runs this long is not merely slow: kill it and report it as a hang.
        let stallLimit = 10 * options.hangBudget + 5
        var lastSize = -1, lastChange = Date(), killed = false
        while child.isRunning {
            Thread.sleep(forTimeInterval: 0.05)
            let size = (try? FileManager.default.attributesOfItem(atPath: progress)[.size] as? Int) ?? 0
            if size != lastSize { lastSize = size; lastChange = Date() }
            if Date().timeIntervalSince(lastChange) > stallLimit {
                killed = true
                child.terminate()
            }
        }
        child.waitUntilExit()
        let lines = (try? String(contentsOfFile: progress, encoding: .utf8))?.split(separator: "\n") ?? []
        var lastStarted: Int?
        for line in lines {
            let fields = line.split(separator: " ")
            if fields.first == "start" { lastStarted = Int(fields[1]) }
            if fields.first == "done", fields.count == 6, let number = Int(fields[1]), let seconds = Double(fields[4]) {
                report.cases += 1
                if seconds > report.slowestCase.seconds { report.slowestCase = (number, seconds) }
                if fields[2] == "1" { report.successes += 1 } else { report.errors += 1 }
                if fields[3] == "1" { report.hangs.append(number) }
                if fields[5] == "1" { report.violations.append("case \(number) (replay it to see the violation)") }
                lastStarted = nil
            }
        }
        if let stuck = lastStarted {  // started, never finished: the child died in this case
            report.cases += 1
            if killed { report.hangs.append(stuck) } else { report.crashes.append(stuck) }
            FileHandle.standardError.write(Data("\(runner.target.name): case \(stuck) \(killed ? "hung" : "crashed the process (status \(child.terminationStatus))"); replay with --replay \(stuck) --seed \(options.seed)\n".utf8))
            next = stuck + 1
        } else if child.terminationStatus != 0 {
            fail("a child process for \(runner.target.name) failed (status \(child.terminationStatus)) outside any case")
        } else {
            next += count
        }
    }
    return report
}

let options = parse(Array(CommandLine.arguments.dropFirst()))
var clean = true
for target in options.targets {
    let runner: FuzzRunner
    do {
        runner = try FuzzRunner(target: target, seed: options.seed, hangBudget: options.hangBudget)
    } catch {
        fail("\(target.name): cannot make its seed inputs: \(error)")
    }
    if let (number, path) = options.writeCase {
        do { try runner.input(forCase: number).write(to: URL(fileURLWithPath: path)) } catch { fail("cannot write \(path): \(error)") }
        print("wrote case \(number) of \(target.name) to \(path)")
        continue
    }
    if let number = options.replay {
        let (outcome, seconds) = runner.run(case: number)
        print("\(target.name) case \(number): \(outcome == .success ? "success" : "\(outcome)") in \(String(format: "%.3f", seconds)) s")
        continue
    }
    let cases = options.first..<options.first + options.cases
    let report = options.isolate && options.progressPath == nil ? try runIsolated(runner, options)
        : runInProcess(runner, cases, progressPath: options.progressPath)
    if options.progressPath == nil {
        print(report.summary)
        for seed in report.failedSeeds { print("  seed input failed: \(seed)") }
        for violation in report.violations.prefix(20) { print("  contract violation: \(violation)") }
        clean = clean && report.hangs.isEmpty && report.crashes.isEmpty && report.failedSeeds.isEmpty && report.violations.isEmpty
    }
}
exit(clean ? 0 : 1)
