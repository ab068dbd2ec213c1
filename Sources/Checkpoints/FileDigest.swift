import Foundation

/// XXH64 (seed 0) of a file's bytes, as `xxh64:<16 hex digits>`: what a factors manifest
/// records to bind the files it describes. Not cryptographic — it catches files copied in from
/// another fit or left by an interrupted one, not forgery — and fast (several GB/s over the
/// memory-mapped bytes), so checking it costs little beside reading the file.
public enum FileDigest {
    ///
    /// The file is mapped and hashed in 64 MB windows, each window's pages dropped from this
    /// process once hashed: checking a 28 GB eigenbasis must not make 28 GB resident.
    public static func of(_ url: URL) throws -> String {
        let descriptor = open(url.path, O_RDONLY)
        guard descriptor >= 0 else { throw CheckpointError(url, "cannot be read") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw CheckpointError(url, "cannot be read") }
        let size = Int(status.st_size)
        func digest(_ hash: UInt64) -> String { "xxh64:" + String(hash, radix: 16).leftPadded(to: 16) }
        guard size > 0 else { return digest(xxh64(UnsafeRawBufferPointer(start: nil, count: 0))) }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), base != MAP_FAILED else {
            throw CheckpointError(url, "cannot be read")
        }
        defer { munmap(base, size) }
        madvise(base, size, MADV_SEQUENTIAL)
        // A private, never-written file mapping: MADV_DONTNEED only drops pages, which the file still holds.
        var released = 0
        let hash = xxh64(UnsafeRawBufferPointer(start: base, count: size)) { done in
            madvise(base + released, done - released, MADV_DONTNEED)
            released = done
        }
        return digest(hash)
    }

    /// Bytes hashed between calls of `xxh64`'s `hashed` (a multiple of the page size and of 32).
    static let window = 64 << 20

    /// XXH64 of `bytes`; `hashed(n)` is called after every `window` bytes with the bytes hashed
    /// so far (from the start).
    public static func xxh64(_ bytes: UnsafeRawBufferPointer, hashed: ((Int) -> Void)? = nil) -> UInt64 {
        let p1: UInt64 = 0x9E37_79B1_85EB_CA87, p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F, p3: UInt64 = 0x1656_67B1_9E37_79F9
        let p4: UInt64 = 0x85EB_CA77_C2B2_AE63, p5: UInt64 = 0x27D4_EB2F_1656_67C5
        func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }
        func round(_ acc: UInt64, _ input: UInt64) -> UInt64 { rotl(acc &+ input &* p2, 31) &* p1 }
        func merge(_ acc: UInt64, _ value: UInt64) -> UInt64 { (acc ^ round(0, value)) &* p1 &+ p4 }
        func word(_ at: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        let n = bytes.count
        var i = 0, h: UInt64
        if n >= 32 {
            var v1 = p1 &+ p2, v2 = p2, v3: UInt64 = 0, v4 = 0 &- p1
            while i + 32 <= n {
                v1 = round(v1, word(i)); v2 = round(v2, word(i + 8)); v3 = round(v3, word(i + 16)); v4 = round(v4, word(i + 24))
                i += 32
                if let hashed, i % window == 0 { hashed(i) }
            }
            h = rotl(v1, 1) &+ rotl(v2, 7) &+ rotl(v3, 12) &+ rotl(v4, 18)
            h = merge(merge(merge(merge(h, v1), v2), v3), v4)
        } else {
            h = p5
        }
        h = h &+ UInt64(n)
        while i + 8 <= n {
            h = rotl(h ^ round(0, word(i)), 27) &* p1 &+ p4
            i += 8
        }
        if i + 4 <= n {
            h = rotl(h ^ (UInt64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self))) &* p1), 23) &* p2 &+ p3
            i += 4
        }
        while i < n {
            h = rotl(h ^ (UInt64(bytes[i]) &* p5), 11) &* p1
            i += 1
        }
        h = (h ^ (h >> 33)) &* p2
        h = (h ^ (h >> 29)) &* p3
        return h ^ (h >> 32)
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

extension FileDigest {
    /// The digest of the file at `path`, or "missing": what factors and training runs record
    /// to name the data they read.
    public static func fingerprint(ofPath path: String) -> String {
        (try? of(URL(fileURLWithPath: path))) ?? "missing"
    }
}
