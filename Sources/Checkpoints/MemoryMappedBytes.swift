import Foundation

/// A read-only private mapping of a whole file, unmapped when released.
final class MemoryMappedBytes: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer

    /// `kind` names the format in messages ("GGUF file").
    init(url: URL, kind: String) throws {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else {
            throw CheckpointError(url, errno == ENOENT ? "file not found" : "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw CheckpointError(url, "cannot stat: \(String(cString: strerror(errno)))") }
        if (status.st_mode & S_IFMT) == S_IFDIR { throw CheckpointError(url, "is a directory, not a \(kind)") }
        let length = Int(status.st_size)
        // mmap refuses a zero length; an empty buffer lets the parser report the truncation.
        guard length > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw CheckpointError(url, "cannot memory-map: \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: length)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}
