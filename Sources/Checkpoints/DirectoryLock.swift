import Foundation

/// An exclusive lock on a directory (flock on `DIRECTORY/.lock`), so that two processes never
/// write the same outputs interleaved. The kernel releases it when the process ends, however
/// it ends, so a killed holder leaves no stale lock.
public final class DirectoryLock {
    public let url: URL
    private let descriptor: Int32

    /// Takes the lock or throws at once, naming the process that holds it; `purpose` names
    /// the command in the error ("`influence fit`").
    public init(_ directory: URL, purpose: String) throws {
        url = directory.appendingPathComponent(".lock")
        descriptor = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw CheckpointError(url, "cannot create the lock file: \(String(cString: strerror(errno)))") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOf: url, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(descriptor)
            throw CheckpointError(directory, "in use by another \(purpose)\(holder.isEmpty ? "" : " (pid \(holder))"); wait for it to finish or choose another directory")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
