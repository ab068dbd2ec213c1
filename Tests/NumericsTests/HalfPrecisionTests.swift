import Numerics
import Testing

/// The 16-bit conversions against Swift's own `Float16` and the definition of bfloat16, on every
/// one of the 65 536 bit patterns (ragged lengths exercise the 8-lane loops' tails).
@Suite struct HalfPrecisionTests {
    static let allPatterns = (0...UInt16.max).map { $0 }

    func same(_ a: Float, _ b: Float) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }

    @Test func widenFloat16IsExactForEveryPattern() {
        for count in [65_536, 65_533] {
            var out = [Float](repeating: 0, count: count)
            Self.allPatterns.withUnsafeBufferPointer { HalfPrecision.widenFloat16($0.baseAddress!, &out, count: count) }
            let wrong = (0..<count).filter { !same(out[$0], Float(Float16(bitPattern: Self.allPatterns[$0]))) }
            #expect(wrong.isEmpty, "\(wrong.count) patterns, first \(wrong.first.map { String($0, radix: 16) } ?? "")")
        }
    }

    @Test func widenBFloat16IsTheTopHalfOfAFloat32() {
        var out = [Float](repeating: 0, count: 65_531)
        Self.allPatterns.withUnsafeBufferPointer { HalfPrecision.widenBFloat16($0.baseAddress!, &out, count: out.count) }
        #expect(out.indices.allSatisfy { out[$0].bitPattern == UInt32(Self.allPatterns[$0]) << 16 })
    }

    @Test func narrowingRoundTripsEveryValueThatCameFrom16Bit() {
        var widened = [Float](repeating: 0, count: 65_536), back = [UInt16](repeating: 0, count: 65_536)
        Self.allPatterns.withUnsafeBufferPointer { HalfPrecision.widenBFloat16($0.baseAddress!, &widened, count: 65_536) }
        HalfPrecision.narrowToBFloat16(widened, &back, count: 65_536)
        #expect((0..<65_536).allSatisfy { back[$0] == Self.allPatterns[$0] || (widened[$0].isNaN && Float(bitPattern: UInt32(back[$0]) << 16).isNaN) })
        Self.allPatterns.withUnsafeBufferPointer { HalfPrecision.widenFloat16($0.baseAddress!, &widened, count: 65_536) }
        HalfPrecision.narrowToFloat16(widened, &back, count: 65_536)
        #expect((0..<65_536).allSatisfy { back[$0] == Self.allPatterns[$0] || widened[$0].isNaN })
    }

    /// Rounding to nearest, ties to even, against a Float64 reference of the two neighbours.
    @Test func narrowToBFloat16RoundsToNearestEven() {
        var rng = RandomGenerator(seed: 9)
        var values = [Float](repeating: 0, count: 10_000)
        values.withUnsafeMutableBufferPointer { rng.fillNormal($0, standardDeviation: 100) }
        values += [Float(bitPattern: 0x3f80_8000), Float(bitPattern: 0x3f81_8000), Float(bitPattern: 0x3f80_8001)]   // ties, and just above one
        var out = [UInt16](repeating: 0, count: values.count)
        HalfPrecision.narrowToBFloat16(values, &out, count: values.count)
        for (x, bits) in zip(values, out) {
            let below = UInt16(x.bitPattern >> 16), above = below &+ 1
            let low = Double(Float(bitPattern: UInt32(below) << 16)), high = Double(Float(bitPattern: UInt32(above) << 16))
            let dLow = abs(Double(x) - low), dHigh = abs(high - Double(x))
            let expected = dLow < dHigh ? below : dHigh < dLow ? above : (below & 1 == 0 ? below : above)
            #expect(bits == expected, "\(x)")
        }
    }
}
