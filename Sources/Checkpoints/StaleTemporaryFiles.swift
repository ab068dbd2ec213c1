import Foundation

/// Temporary files are named `<prefix><pid>…` after the process that writes them, so that a
/// later run can tell the leftovers of a killed process (its pid no longer exists) from the
/// files of one still running, and remove them.
public enum StaleTemporaryFiles {
    /// Removes the files in `directory` named `prefix` + the pid of a process that has ended.
    public static func remove(prefix: String, in directory: URL) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return }
        for name in names where name.hasPrefix(prefix) {
            let digits = name.dropFirst(prefix.count).prefix { $0.isASCII && $0.isNumber }
            guard let pid = Int32(digits), pid > 0, pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        }
    }
}
