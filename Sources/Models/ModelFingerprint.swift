import Checkpoints

extension DecoderModel {
    /// A short identifier of these exact weights: XXH64 (the factor files' digest, `FileDigest`)
    /// over every parameter tensor's name, shape and a strided sample of 256 of its values.
    /// Factors record it so that scoring with another model's factors is caught.
    public var fingerprint: String {
        var sample: [UInt8] = []
        func append(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { sample += $0 } }
        for entry in parameters.entries {
            sample += entry.name.utf8
            for extent in entry.shape { append(UInt64(extent)) }
            // The Float32 values, whatever precision holds them: a 16-bit load fingerprints as a Float32 one.
            let stride = max(1, entry.count / 256)
            for i in Swift.stride(from: 0, to: entry.count, by: stride) { append(UInt64(parameters.value(entry, at: i).bitPattern)) }
        }
        return String(sample.withUnsafeBytes { FileDigest.xxh64($0) }, radix: 16)
    }
}
