import Foundation

/// Writes a file so that readers see either the old contents or the complete new contents,
/// never a half-written file: write a temporary file in the same directory, flush it, rename.
/// Temporary files left by a killed writer (`.NAME.tmp-PID-…`) are removed by the next write
/// of the same file.
public enum AtomicFile {
    /// Writes `text` to the file at `path` atomically; a file-system failure is one line naming it.
    public static func write(_ text: String, toPath path: String) throws {
        do {
            try write(Data(text.utf8), to: URL(fileURLWithPath: path))
        } catch {
            throw FileSystemProblem.oneLine(error, path: path)
        }
    }

    /// Writes `data` to `url` atomically.
    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { handle in try handle.write(contentsOf: data) }
    }

    /// Creates a temporary file beside `url`, lets `body` fill it through a file handle, then
    /// renames it over `url`. On error the temporary file is removed and `url` is untouched.
    public static func write(to url: URL, _ body: (FileHandle) throws -> Void) throws {
        let directory = url.deletingLastPathComponent()
        let prefix = ".\(url.lastPathComponent).tmp-"
        StaleTemporaryFiles.remove(prefix: prefix, in: directory)
        let temporary = directory.appendingPathComponent("\(prefix)\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw CheckpointError(url, "cannot create a file in \(directory.path)")
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            do {
                try body(handle)
                try handle.synchronize()
                try handle.close()
            } catch {
                try? handle.close()
                throw error
            }
            FaultInjection.reached("rename:\(url.lastPathComponent)")
            if rename(temporary.path, url.path) != 0 {
                throw CheckpointError(url, "cannot rename the temporary file into place: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            if error is CheckpointError { throw error }
            throw CheckpointError(url, "write failed: \(error.localizedDescription)")
        }
    }
}
