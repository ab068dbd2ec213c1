/// Conversions between Float32 and the two 16-bit formats checkpoints store: bfloat16 (the top
/// half of a Float32) and IEEE binary16. Widening is exact; it runs before every matrix product
/// of a model kept in 16-bit, so it is written as 8-lane integer arithmetic (no per-element
/// library call: without F16C, `Float(Float16)` is a function call per value).
public enum HalfPrecision {
    /// destination[i] = the Float32 of bfloat16 bits source[i] (exact).
    public static func widenBFloat16(_ source: UnsafePointer<UInt16>, _ destination: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let bits = SIMD8<UInt32>(truncatingIfNeeded: UnsafeRawPointer(source + i).loadUnaligned(as: SIMD8<UInt16>.self)) &<< 16
            UnsafeMutableRawPointer(destination + i).storeBytes(of: bits, as: SIMD8<UInt32>.self)
            i += 8
        }
        while i < count {
            destination[i] = Float(bitPattern: UInt32(source[i]) << 16)
            i += 1
        }
    }

    /// destination[i] = the Float32 of IEEE half bits source[i] (exact, subnormals, ±∞ and NaN
    /// included): the exponent and mantissa shifted into place and scaled by 2¹¹² re-bias
    /// normals and turn half subnormals into Float32 normals; all-ones exponents stay ∞/NaN.
    public static func widenFloat16(_ source: UnsafePointer<UInt16>, _ destination: UnsafeMutablePointer<Float>, count: Int) {
        let rebias = SIMD8<Float>(repeating: 0x1p112)
        var i = 0
        while i + 8 <= count {
            let h = SIMD8<UInt32>(truncatingIfNeeded: UnsafeRawPointer(source + i).loadUnaligned(as: SIMD8<UInt16>.self))
            UnsafeMutableRawPointer(destination + i).storeBytes(of: widen8(h, rebias), as: SIMD8<UInt32>.self)
            i += 8
        }
        if i < count {
            var h = SIMD8<UInt32>(repeating: 0)
            for j in 0..<(count - i) { h[j] = UInt32(source[i + j]) }
            let bits = widen8(h, rebias)
            for j in 0..<(count - i) { destination[i + j] = Float(bitPattern: bits[j]) }
        }
    }

    @inline(__always)
    private static func widen8(_ h: SIMD8<UInt32>, _ rebias: SIMD8<Float>) -> SIMD8<UInt32> {
        let sign = (h & 0x8000) &<< 16, magnitude = h & 0x7fff
        let finite = unsafeBitCast(unsafeBitCast(magnitude &<< 13, to: SIMD8<Float>.self) * rebias, to: SIMD8<UInt32>.self)
        let special = (magnitude &<< 13) | 0x7f80_0000
        return sign | finite.replacing(with: special, where: magnitude .>= 0x7c00)
    }

    /// bfloat16 bits of each Float32, rounded to nearest even (exact for values that came from
    /// bfloat16); NaN stays NaN.
    public static func narrowToBFloat16(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<UInt16>, count: Int) {
        for i in 0..<count {
            let bits = source[i].bitPattern
            if source[i].isNaN {
                destination[i] = UInt16(bits >> 16) | 0x0040
            } else {
                destination[i] = UInt16(truncatingIfNeeded: (bits &+ 0x7fff &+ ((bits >> 16) & 1)) >> 16)
            }
        }
    }

    /// IEEE half bits of each Float32, rounded to nearest even.
    public static func narrowToFloat16(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<UInt16>, count: Int) {
        for i in 0..<count { destination[i] = Float16(source[i]).bitPattern }
    }
}
