/// Vectorised transcendental functions on eight Float32 lanes (one AVX2 register).
///
/// libm's scalar `expf`/`erff`/`tanhf` do not vectorise and cost tens of nanoseconds per
/// element; these polynomial forms run at about one nanosecond and are accurate to a few
/// units in the last place over the ranges a network produces. Rounding and clamping are
/// spelled out with arithmetic because some SIMD conveniences (`rounded`, `clamped`) compile
/// to slow scalar loops in Swift 6.3 (../shared/NOTES-numerics.md).
public typealias Float8 = SIMD8<Float>

/// Lanes of `x` limited to [low, high]. Written with masks: the standard library's generic
/// `pointwiseMin`/`pointwiseMax` are not inlined here and cost a call per vector.
@inlinable @inline(__always)
public func clamp(_ x: Float8, _ low: Float, _ high: Float) -> Float8 {
    var y = x
    y.replace(with: low, where: x .< low)
    y.replace(with: high, where: x .> high)
    return y
}

@usableFromInline let roundingMagic: Float = 12_582_912  // 1.5 · 2²³: adding it rounds to an integer

/// eˣ, relative error ≲ 2 ulp on [-87.3, 88.7]; 0 below, +∞ above.
@inlinable @inline(__always)
public func exp(_ x: Float8) -> Float8 {
    // 88.37 keeps n ≤ 127 so that 2ⁿ is a finite float; above it the result is within a
    // factor 1.5 of FLT_MAX, and past ln(FLT_MAX) it is +∞ (set below).
    let clampedX = clamp(x, -87.33654, 88.37)
    // x = n·ln2 + r with |r| ≤ ln2/2; ln2 split in two parts so that n·ln2 is exact.
    let shifted = clampedX * 1.442_695_04 + roundingMagic
    let n = shifted - roundingMagic
    var r = clampedX - n * 0.693_359_375
    r = r + n * 2.121_944_4e-4
    // Cephes expf polynomial for eʳ on |r| ≤ ln2/2.
    var p = Float8(repeating: 1.987_569_1e-4)
    p = p * r + 1.398_199_9e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_6e-2
    p = p * r + 1.666_666_5e-1
    p = p * r + 5.000_000_1e-1
    p = p * (r * r) + r + 1
    // 2ⁿ from the exponent bits; n is read from the low mantissa bits of `shifted`.
    let shiftedBits = unsafeBitCast(shifted, to: SIMD8<Int32>.self)
    let exponent = (shiftedBits &- 0x4B40_0000 &+ 127) &<< 23
    var result = p * unsafeBitCast(exponent, to: Float8.self)
    // Below the clamp the true value underflows to zero.
    result.replace(with: 0, where: x .< -87.33654)
    result.replace(with: .infinity, where: x .> 88.72283)
    return result
}

/// The error function, absolute error ≲ 3·10⁻⁷ (a rational minimax fit on [-4, 4], where
/// erf saturates to ±1 in Float32).
@inlinable @inline(__always)
public func erf(_ x: Float8) -> Float8 {
    let c = clamp(x, -4, 4)
    let c2 = c * c
    var p = Float8(repeating: -2.726_142_3e-10)
    p = p * c2 + 2.770_681_4e-8
    p = p * c2 - 2.101_024e-6
    p = p * c2 - 5.692_506_4e-5
    p = p * c2 - 7.349_906_3e-4
    p = p * c2 - 2.954_6e-3
    p = p * c2 - 1.609_603_3e-2
    p = p * c
    var q = Float8(repeating: -1.456_607_2e-5)
    q = q * c2 - 2.133_740_6e-4
    q = q * c2 - 1.682_827e-3
    q = q * c2 - 7.373_329_2e-3
    q = q * c2 - 1.426_473_9e-2
    return p / q
}

/// tanh(x) = 1 − 2/(e²ˣ + 1), absolute error ≲ 2·10⁻⁷; saturates correctly at ±∞.
@inlinable @inline(__always)
public func tanh(_ x: Float8) -> Float8 {
    1 - 2 / (exp(2 * x) + 1)
}

/// Sum of `count` floats with eight independent accumulators (a plain Float loop cannot
/// vectorise: IEEE addition order is strict).
@inlinable
public func vectorSum(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
    var acc = Float8()
    var i = 0
    while i + 8 <= count {
        acc += UnsafeRawPointer(p + i).loadUnaligned(as: Float8.self)
        i += 8
    }
    var total = acc.sum()
    while i < count {
        total += p[i]
        i += 1
    }
    return total
}

/// Dot product of two float vectors with eight accumulators.
@inlinable
public func vectorDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
    var acc = Float8()
    var i = 0
    while i + 8 <= count {
        acc += UnsafeRawPointer(a + i).loadUnaligned(as: Float8.self)
            * UnsafeRawPointer(b + i).loadUnaligned(as: Float8.self)
        i += 8
    }
    var total = acc.sum()
    while i < count {
        total += a[i] * b[i]
        i += 1
    }
    return total
}

/// Maximum of `count` ≥ 1 floats.
@inlinable
public func vectorMax(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
    var acc = Float8(repeating: -.infinity)
    var i = 0
    while i + 8 <= count {
        let v = UnsafeRawPointer(p + i).loadUnaligned(as: Float8.self)
        acc.replace(with: v, where: v .> acc)
        i += 8
    }
    var best = acc.max()
    while i < count {
        best = Swift.max(best, p[i])
        i += 1
    }
    return best
}

/// Applies `body` to consecutive eight-lane chunks of `count` elements, padding the tail so
/// that every element goes through the same vector code (results for padding are dropped).
@inlinable @inline(__always)
public func forEachChunk(
    _ count: Int, _ body: (_ offset: Int, _ lanes: Int) -> Void
) {
    var i = 0
    while i + 8 <= count {
        body(i, 8)
        i += 8
    }
    if i < count { body(i, count - i) }
}

@inlinable @inline(__always)
public func loadLanes(_ p: UnsafePointer<Float>, _ lanes: Int) -> Float8 {
    if lanes == 8 { return UnsafeRawPointer(p).loadUnaligned(as: Float8.self) }
    var v = Float8()
    for j in 0..<lanes { v[j] = p[j] }
    return v
}

@inlinable @inline(__always)
public func storeLanes(_ v: Float8, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
    if lanes == 8 {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float8.self)
        return
    }
    for j in 0..<lanes { p[j] = v[j] }
}
