/// The element type of a GGUF tensor (ggml's `ggml_type`), with its block layout, and the
/// kernels that dequantize the supported types to Float32.
///
/// Quantized types store blocks of `blockSize` consecutive elements of a row (ne0) in
/// `bytesPerBlock` bytes: f16 scales and packed integer quants. The kernels reproduce ggml's
/// `dequantize_row_*` (ggml-quants.c) and the `gguf` Python package's `gguf.quants.dequantize`
/// bit for bit: every product and sum is one IEEE Float32 operation in the same order (Swift
/// does not contract `a * b + c` into a fused multiply-add).
public enum GGUFTensorType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30
    case tq1_0 = 34, tq2_0 = 35, mxfp4 = 39, nvfp4 = 40, q1_0 = 41

    /// The name llama.cpp's tools and the `gguf` package print ("Q4_K", "BF16").
    public var name: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"
        case .q8_1: "Q8_1"
        case .q2_K: "Q2_K"
        case .q3_K: "Q3_K"
        case .q4_K: "Q4_K"
        case .q5_K: "Q5_K"
        case .q6_K: "Q6_K"
        case .q8_K: "Q8_K"
        case .iq2_xxs: "IQ2_XXS"
        case .iq2_xs: "IQ2_XS"
        case .iq3_xxs: "IQ3_XXS"
        case .iq1_s: "IQ1_S"
        case .iq4_nl: "IQ4_NL"
        case .iq3_s: "IQ3_S"
        case .iq2_s: "IQ2_S"
        case .iq4_xs: "IQ4_XS"
        case .i8: "I8"
        case .i16: "I16"
        case .i32: "I32"
        case .i64: "I64"
        case .f64: "F64"
        case .iq1_m: "IQ1_M"
        case .bf16: "BF16"
        case .tq1_0: "TQ1_0"
        case .tq2_0: "TQ2_0"
        case .mxfp4: "MXFP4"
        case .nvfp4: "NVFP4"
        case .q1_0: "Q1_0"
        }
    }

    /// Elements per block (1 for the plain types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_nl, .mxfp4: 32
        case .nvfp4: 64
        case .q1_0: 128
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K, .iq2_xxs, .iq2_xs, .iq3_xxs, .iq1_s, .iq3_s, .iq2_s,
             .iq4_xs, .iq1_m, .tq1_0, .tq2_0: 256
        }
    }

    /// Bytes per block (ggml's type size; GGML_QUANT_SIZES in the `gguf` package).
    public var bytesPerBlock: Int {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .f64, .i64: 8
        case .i8: 1
        case .q4_0, .iq4_nl: 18
        case .q4_1: 20
        case .q5_0: 22
        case .q5_1: 24
        case .q8_0: 34
        case .q8_1: 40
        case .mxfp4: 17
        case .nvfp4: 36
        case .q1_0: 18
        case .q2_K: 84
        case .q3_K: 110
        case .q4_K: 144
        case .q5_K: 176
        case .q6_K: 210
        case .q8_K: 292
        case .iq2_xxs: 66
        case .iq2_xs: 74
        case .iq3_xxs: 98
        case .iq1_s: 50
        case .iq3_s: 110
        case .iq2_s: 82
        case .iq4_xs: 136
        case .iq1_m: 56
        case .tq1_0: 54
        case .tq2_0: 66
        }
    }

    /// The types `dequantize` converts, in type-id order.
    public static let dequantizable: [GGUFTensorType] = [.f32, .f16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K, .bf16]

    public var isDequantizable: Bool { Self.dequantizable.contains(self) }

    /// Converts `elementCount` elements (a whole number of blocks) stored at `source` to Float32.
    /// The type must be dequantizable; `source` needs `elementCount / blockSize * bytesPerBlock`
    /// bytes and may be unaligned.
    public func dequantize(_ source: UnsafeRawPointer, elementCount: Int, into destination: UnsafeMutablePointer<Float>) {
        precondition(isDequantizable && elementCount % blockSize == 0, "cannot dequantize \(elementCount) elements of \(name)")
        let blocks = elementCount / blockSize
        let bytes = source.assumingMemoryBound(to: UInt8.self)
        switch self {
        case .f32: UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: 4 * elementCount)
        case .f16: GGUFKernels.f16(bytes, elementCount, destination)
        case .bf16: GGUFKernels.bf16(bytes, elementCount, destination)
        case .q4_0: GGUFKernels.q4_0(bytes, blocks, destination)
        case .q4_1: GGUFKernels.q4_1(bytes, blocks, destination)
        case .q5_0: GGUFKernels.q5_0(bytes, blocks, destination)
        case .q5_1: GGUFKernels.q5_1(bytes, blocks, destination)
        case .q8_0: GGUFKernels.q8_0(bytes, blocks, destination)
        case .q4_K: GGUFKernels.q4_K(bytes, blocks, destination)
        case .q5_K: GGUFKernels.q5_K(bytes, blocks, destination)
        case .q6_K: GGUFKernels.q6_K(bytes, blocks, destination)
        default: preconditionFailure("unreachable: \(name) is not dequantizable")
        }
    }
}

/// The block layouts (ggml-common.h) and one kernel per type. Each takes the block bytes, the
/// number of blocks (or elements for the plain types) and the output. Scales are read byte by
/// byte because blocks of 18, 20, 22 … bytes leave them unaligned.
enum GGUFKernels {
    @inline(__always)
    static func half(_ p: UnsafePointer<UInt8>) -> Float {
        Float(Float16(bitPattern: UInt16(p[0]) | UInt16(p[1]) << 8))
    }

    static func f16(_ x: UnsafePointer<UInt8>, _ count: Int, _ y: UnsafeMutablePointer<Float>) {
        for i in 0..<count { y[i] = half(x + 2 * i) }
    }

    /// bfloat16 is the upper half of a Float32.
    static func bf16(_ x: UnsafePointer<UInt8>, _ count: Int, _ y: UnsafeMutablePointer<Float>) {
        for i in 0..<count { y[i] = Float(bitPattern: UInt32(x[2 * i]) << 16 | UInt32(x[2 * i + 1]) << 24) }
    }

    /// Q4_0, 18 bytes: d (f16), 16 bytes of 4-bit quants; element j is the low nibble of byte j,
    /// element j + 16 the high nibble; value = (q − 8)·d.
    static func q4_0(_ x: UnsafePointer<UInt8>, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = x + 18 * b, out = y + 32 * b
            let d = half(block), qs = block + 2
            for j in 0..<16 {
                out[j] = Float(Int32(qs[j] & 0x0F) - 8) * d
                out[j + 16] = Float(Int32(qs[j] >> 4) - 8) * d
            }
        }
    }

    /// Q4_1, 20 bytes: d, m (f16), 16 bytes of nibbles as in Q4_0; value = q·d + m.
    static func q4_1(_ x: UnsafePointer<UInt8>, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = x + 20 * b, out = y + 32 * b
            let d = half(block), m = half(block + 2), qs = block + 4
            for j in 0..<16 {
                out[j] = Float(qs[j] & 0x0F) * d + m
                out[j + 16] = Float(qs[j] >> 4) * d + m
            }
        }
    }

    /// The 32 fifth bits of Q5_0 and Q5_1: bit j of a little-endian UInt32 belongs to element j.
    @inline(__always)
    static func highBits(_ p: UnsafePointer<UInt8>) -> UInt32 {
        UInt32(p[0]) | UInt32(p[1]) << 8 | UInt32(p[2]) << 16 | UInt32(p[3]) << 24
    }

    /// Q5_0, 22 bytes: d, 4 bytes of fifth bits, 16 bytes of nibbles; value = (q − 16)·d.
    static func q5_0(_ x: UnsafePointer<UInt8>, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = x + 22 * b, out = y + 32 * b
            let d = half(block), qh = highBits(block + 2), qs = block + 6
            for j in 0..<16 {
                let low = UInt32(qs[j] & 0x0F) | ((qh >> UInt32(j)) & 1) << 4
                let high = UInt32(qs[j] >> 4) | ((qh >> UInt32(j + 16)) & 1) << 4
                out[j] = Float(Int32(low) - 16) * d
                out[j + 16] = Float(Int32(high) - 16) * d
            }
        }
    }

    /// Q5_1, 24 bytes: d, m, 4 bytes of fifth bits, 16 bytes of nibbles; value = q·d + m.
    static func q5_1(_ x: UnsafePointer<UInt8>, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = x + 24 * b, out = y + 32 * b
            let d = half(block), m = half(block + 2), qh = highBits(block + 4), qs = block + 8
            for j in 0..<16 {
                let low = UInt32(qs[j] & 0x0F) | ((qh >> UInt32(j)) & 1) << 4
                let high = UInt32(qs[j] >> 4) | ((qh >> UInt32(j + 16)) & 1) << 4
                out[j] = Float(low) * d + m
                out[j + 16] = Float(high) * d + m
            }
        }
    }

    /// Q8_0, 34 bytes: d, 32 signed bytes; value = q·d.
    static func q8_0(_ x: UnsafePointer<UInt8>, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = x + 34 * b, out = y + 32 * b
            let d = half(block)
            let qs = UnsafeRawPointer(block + 2).assumingMemoryBound(to: Int8.self)
            for j in 0..<32 { out[j] = Float(qs[j]) * d }
        }
    }

    /// The eight 6-bit scales and mins of a Q4_K or Q5_K block, packed in 12 bytes: bytes 0–3
    /// hold scales 0–3 in their low 6 bits, bytes 4–7 mins 0–3; scales and mins 4–7 take their
    /// low 4 bits from the nibbles of bytes 8–11 and their top 2 bits from the top bits of bytes
    /// 0–3 (scales) and 4–7 (mins).
    @inline(__always)
    static func scaleAndMin(_ s: UnsafePointer<UInt8>, _ j: Int) -> (scale: Float, min: Float) {
        if j < 4 { return (Float(s[j] & 63), Float(s[j + 4] & 63)) }
        return (Float((s[j + 4] & 0x0F) | (s[j - 4] >> 6) << 4), Float((s[j + 4] >> 4) | (s[j] >> 6) << 4))
    }

    /// Q4_K, 144 bytes per 256 elements: d, dmin (f16), 12 bytes of scales and mins, 128 bytes of
    /// nibbles. Sub-block j of 32 elements has scale d·scale_j and offset dmin·min_j; byte l of
    /// the 32-byte group g holds element l of sub-block 2g (low nibble) and of 2g + 1 (high).
    static func q4_K(_ x: UnsafePointer<UInt8>, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = x + 144 * b, out = y + 256 * b
            let d = half(block), dmin = half(block + 2), scales = block + 4
            for group in 0..<4 {
                let qs = block + 16 + 32 * group, o = out + 64 * group
                let (scale1, min1) = scaleAndMin(scales, 2 * group), (scale2, min2) = scaleAndMin(scales, 2 * group + 1)
                let d1 = d * scale1, m1 = dmin * min1, d2 = d * scale2, m2 = dmin * min2
                for l in 0..<32 {
                    o[l] = d1 * Float(qs[l] & 0x0F) - m1
                    o[l + 32] = d2 * Float(qs[l] >> 4) - m2
                }
            }
        }
    }

    /// Q5_K, 176 bytes per 256 elements: d, dmin, 12 bytes of scales and mins (as Q4_K), 32
    /// bytes of fifth bits (bit j of byte l belongs to element l of sub-block j), 128 bytes of
    /// nibbles (as Q4_K).
    static func q5_K(_ x: UnsafePointer<UInt8>, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = x + 176 * b, out = y + 256 * b
            let d = half(block), dmin = half(block + 2), scales = block + 4, qh = block + 16
            for group in 0..<4 {
                let qs = block + 48 + 32 * group, o = out + 64 * group
                let (scale1, min1) = scaleAndMin(scales, 2 * group), (scale2, min2) = scaleAndMin(scales, 2 * group + 1)
                let d1 = d * scale1, m1 = dmin * min1, d2 = d * scale2, m2 = dmin * min2
                let lowShift = UInt8(2 * group), highShift = UInt8(2 * group + 1)
                for l in 0..<32 {
                    let low = (qs[l] & 0x0F) | ((qh[l] >> lowShift) & 1) << 4
                    let high = (qs[l] >> 4) | ((qh[l] >> highShift) & 1) << 4
                    o[l] = d1 * Float(low) - m1
                    o[l + 32] = d2 * Float(high) - m2
                }
            }
        }
    }

    /// Q6_K, 210 bytes per 256 elements: 128 bytes of low nibbles, 64 bytes of 2-bit high parts,
    /// 16 signed 8-bit scales (one per 16 elements), d (f16) last; value = d·scale·(q − 32).
    /// Each half of 128 elements uses 64 low bytes and 32 high bytes: element l (l < 32) of
    /// quarter k takes the low nibble of byte l (k = 0) or l + 32 (k = 1), or the high nibble of
    /// byte l (k = 2) or l + 32 (k = 3), and bits 2k, 2k + 1 of high byte l.
    static func q6_K(_ x: UnsafePointer<UInt8>, _ blocks: Int, _ y: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = x + 210 * b, out = y + 256 * b
            let d = half(block + 208)
            let scales = UnsafeRawPointer(block + 192).assumingMemoryBound(to: Int8.self)
            for halfIndex in 0..<2 {
                let ql = block + 64 * halfIndex, qh = block + 128 + 32 * halfIndex, o = out + 128 * halfIndex
                let sc = scales + 8 * halfIndex
                for part in 0..<2 {   // elements 0–15 and 16–31 of each quarter have their own scales
                    let d0 = d * Float(sc[part]), d1 = d * Float(sc[part + 2])
                    let d2 = d * Float(sc[part + 4]), d3 = d * Float(sc[part + 6])
                    for l in (16 * part)..<(16 * part + 16) {
                        let q0 = Int32((ql[l] & 0x0F) | (qh[l] & 3) << 4) - 32
                        let q1 = Int32((ql[l + 32] & 0x0F) | ((qh[l] >> 2) & 3) << 4) - 32
                        let q2 = Int32((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32
                        let q3 = Int32((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32
                        o[l] = d0 * Float(q0)
                        o[l + 32] = d1 * Float(q1)
                        o[l + 64] = d2 * Float(q2)
                        o[l + 96] = d3 * Float(q3)
                    }
                }
            }
        }
    }
}
