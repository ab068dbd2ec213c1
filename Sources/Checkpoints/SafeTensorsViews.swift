import Foundation

/// Tensors read in place from the mapping, without a copy: factors of a large model are far
/// bigger than what one step needs, so they are paged in as used and released after.
extension SafeTensorsFile {
    /// F32 tensor `name` in place, valid while this file lives.
    public func mappedFloats(_ name: String) throws -> UnsafeBufferPointer<Float> {
        try mapped(name, .f32, as: Float.self)
    }

    /// F64 tensor `name` in place, valid while this file lives.
    public func mappedDoubles(_ name: String) throws -> UnsafeBufferPointer<Double> {
        try mapped(name, .f64, as: Double.self)
    }

    private func mapped<T>(_ name: String, _ dtype: DType, as type: T.Type) throws -> UnsafeBufferPointer<T> {
        let info = try require(name)
        guard info.dtype == dtype else {
            throw CheckpointError(url, "tensor \(name) has dtype \(info.dtype.rawValue), expected \(dtype.rawValue)")
        }
        let bytes = rawBytes(info)
        guard info.elementCount == 0 || Int(bitPattern: bytes.baseAddress) % MemoryLayout<T>.alignment == 0 else {
            throw CheckpointError(url, "tensor \(name) is not aligned to its element size (not written by this tool?)")
        }
        return bytes.bindMemory(to: T.self)
    }

    /// Drops tensor `name`'s resident pages (they are read from the file again if used), so
    /// that a pass over many tensors keeps only the current ones in memory.
    public func releasePages(_ name: String) {
        guard let info = info(name) else { return }
        let bytes = rawBytes(info)
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = Int(bitPattern: base) / page * page
        let end = (Int(bitPattern: base) + bytes.count + page - 1) / page * page
        madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED)
    }
}
