import Foundation

/// A progress line on standard error: fraction, throughput and time left. Redrawn in place on
/// a terminal (at most five times a second); on a pipe or file, one line per tenth of the work.
final class ProgressBar {
    private let label: String
    private let unit: String
    private let total: Int
    private let start = Date()
    private var lastDraw = Date.distantPast
    private var lastTenth = -1
    private let isTerminal = isatty(STDERR_FILENO) != 0

    init(_ label: String, total: Int, unit: String = "tok") {
        self.label = label
        self.total = max(total, 1)
        self.unit = unit
    }

    func update(_ done: Int, detail: String = "") {
        let now = Date()
        let fraction = min(1, Double(done) / Double(total))
        let tenth = Int(fraction * 10)
        if isTerminal {
            guard now.timeIntervalSince(lastDraw) >= 0.2 || done >= total else { return }
        } else {
            guard tenth > lastTenth else { return }
        }
        lastDraw = now
        lastTenth = tenth
        let elapsed = now.timeIntervalSince(start)
        let rate = Double(done) / max(elapsed, 1e-9)
        let remaining = rate > 0 ? Double(total - done) / rate : 0
        let width = 24, filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        // Slow work (a big model's documents) reads better as seconds per item than as "0/s".
        let speed = rate >= 1 || rate == 0 ? String(format: "%.0f %@/s", rate, unit) : String(format: "%.1f s/%@", 1 / rate, unit)
        let line = String(format: "%@ %@ %3.0f%%  %d/%d %@  %@  ETA %@", label, bar, fraction * 100, done, total, unit,
                          speed, Self.clock(remaining)) + (detail.isEmpty ? "" : "  " + detail)
        FileHandle.standardError.write(Data((isTerminal ? "\r\u{1B}[K" + line : line + "\n").utf8))
    }

    /// Ends the progress line (on a terminal) so that a following message starts on its own line.
    func end() {
        if isTerminal && lastTenth >= 0 { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    func finish() {
        update(total)
        if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
