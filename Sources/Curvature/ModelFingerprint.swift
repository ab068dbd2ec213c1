import Models

extension GPTNeoXModel {
    /// A short identifier of these exact weights: FNV-1a over the shape and a strided sample
    /// of the parameters (every parameter tensor contributes). Factors record it so that
    /// scoring with another model's factors is caught.
    public var fingerprint: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ value: UInt64) {
            hash = (hash ^ value) &* 0x0000_0100_0000_01b3
        }
        for entry in parameters.entries {
            for byte in entry.name.utf8 { mix(UInt64(byte)) }
            for extent in entry.shape { mix(UInt64(extent)) }
            let p = parameters.values + entry.offset
            let stride = max(1, entry.count / 256)
            for i in Swift.stride(from: 0, to: entry.count, by: stride) { mix(UInt64(p[i].bitPattern)) }
        }
        return String(hash, radix: 16)
    }
}
