import Foundation

/// A safetensors file written tensor by tensor, in any order, without holding it in memory:
/// the header (every tensor's name, dtype and shape) is fixed when the file is created, so each
/// tensor has a known place, and `write` puts its bytes there (pwrite). Used for files larger
/// than memory (the factors of a 3B model) and for work that finishes module by module.
///
/// The file is built as `NAME.partial` beside its final name and renamed into place by
/// `finish()`, so a reader never sees half a file. Re-creating the builder over an existing
/// `.partial` file with the same header reuses it: what was written stays (resuming is the
/// caller's bookkeeping of which tensors are done).
/// `write` to distinct tensors may run on several threads at once (pwrite at fixed offsets).
public final class SafeTensorsSlotFile: @unchecked Sendable {
    public struct Slot: Sendable, Equatable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]

        public init(name: String, dtype: DType, shape: [Int]) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
        }

        var byteCount: Int { shape.reduce(1, *) * dtype.byteSize }
    }

    public let url: URL
    public var partialURL: URL { url.appendingPathExtension("partial") }
    private let offsets: [String: (offset: Int, slot: Slot)]
    private let descriptor: Int32
    public let byteCount: Int

    /// Creates (or, with the same header, reopens) `url.partial`.
    public init(url: URL, slots: [Slot], metadata: [String: String] = [:]) throws {
        self.url = url
        var writer = SafeTensorsWriter(metadata: metadata)
        var offsets: [String: (Int, Slot)] = [:]
        var offset = 0
        for slot in slots {
            precondition(offsets[slot.name] == nil, "tensor \(slot.name) listed twice")
            writer.declare(slot.name, slot.dtype, slot.shape, byteCount: slot.byteCount)
            offsets[slot.name] = (offset, slot)
            offset += slot.byteCount
        }
        var header = Data()
        var length = UInt64(0)
        let text = writer.header()
        length = UInt64(text.count).littleEndian
        header.append(Data(bytes: &length, count: 8))
        header.append(text)
        let dataStart = header.count
        self.offsets = offsets.mapValues { ($0.0 + dataStart, $0.1) }
        byteCount = dataStart + offset

        let path = url.appendingPathExtension("partial").path
        // Stopped after `finish` renamed the file but before the caller recorded it: the
        // finished file is the partial one to reuse (its slots were all written).
        let manager = FileManager.default
        if !manager.fileExists(atPath: path), let finished = FileHandle(forReadingAtPath: url.path) {
            let finishedHeader = try? finished.read(upToCount: header.count)
            try? finished.close()
            if finishedHeader == header, (try? manager.attributesOfItem(atPath: url.path)[.size] as? Int) == byteCount {
                _ = rename(url.path, path)
            }
        }
        let existing = FileHandle(forReadingAtPath: path).flatMap { handle in
            defer { try? handle.close() }
            return try? handle.read(upToCount: header.count)
        }
        let reuse = existing == header && (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) == byteCount
        descriptor = open(path, reuse ? O_RDWR : (O_RDWR | O_CREAT | O_TRUNC), 0o644)
        guard descriptor >= 0 else {
            throw CheckpointError(url, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        if !reuse {
            try header.withUnsafeBytes { try Self.writeAll(descriptor, $0, at: 0, url: url) }
            guard ftruncate(descriptor, off_t(byteCount)) == 0 else {
                close(descriptor)
                throw CheckpointError(url, "cannot size the file to \(byteCount) bytes: \(String(cString: strerror(errno)))")
            }
        }
    }

    deinit { close(descriptor) }

    /// Whether `name` is one of the file's tensors.
    public func contains(_ name: String) -> Bool { offsets[name] != nil }

    /// Writes tensor `name` (its dtype's little-endian bytes, exactly its size).
    public func write(_ name: String, bytes: UnsafeRawBufferPointer) throws {
        guard let (offset, slot) = offsets[name] else { preconditionFailure("no tensor \(name) in \(url.lastPathComponent)") }
        precondition(bytes.count == slot.byteCount, "tensor \(name) is \(slot.byteCount) bytes, not \(bytes.count)")
        try Self.writeAll(descriptor, bytes, at: offset, url: url)
    }

    public func write(_ name: String, floats: UnsafeBufferPointer<Float>) throws {
        try write(name, bytes: UnsafeRawBufferPointer(floats))
    }

    public func write(_ name: String, doubles: UnsafeBufferPointer<Double>) throws {
        try write(name, bytes: UnsafeRawBufferPointer(doubles))
    }

    public func write(_ name: String, doubles: [Double]) throws {
        try doubles.withUnsafeBufferPointer { try write(name, doubles: $0) }
    }

    public func write(_ name: String, floats: [Float]) throws {
        try floats.withUnsafeBufferPointer { try write(name, floats: $0) }
    }

    /// Makes what was written durable (before a manifest records it as done).
    public func synchronize() throws {
        guard fsync(descriptor) == 0 else { throw CheckpointError(url, "cannot flush: \(String(cString: strerror(errno)))") }
    }

    /// Flushes the file and renames it to its final name.
    public func finish() throws {
        try synchronize()
        FaultInjection.reached("rename:\(url.lastPathComponent)")
        guard rename(partialURL.path, url.path) == 0 else {
            throw CheckpointError(url, "cannot rename the finished file into place: \(String(cString: strerror(errno)))")
        }
    }

    /// Removes an unfinished file.
    public static func removePartial(of url: URL) {
        try? FileManager.default.removeItem(at: url.appendingPathExtension("partial"))
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, url: URL) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw CheckpointError(url, "write failed: \(String(cString: strerror(errno)))") }
            done += n
        }
    }
}
