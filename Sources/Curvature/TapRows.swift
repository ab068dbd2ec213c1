import Models
import Numerics

/// Copies of a tap's rows in the form curvature code needs.
public enum TapRows {
    /// The module inputs of rows `rows` as a [rows.count, layout.inputSize] matrix in `into`,
    /// with a trailing column of ones when the layout includes the bias.
    public static func inputs(_ tap: LinearModuleTap, _ layout: ModuleLayout, rows: [Int]? = nil, into buffer: FloatBuffer) -> Int {
        let dIn = tap.inputSize, width = layout.inputSize
        let count = rows?.count ?? tap.tokenCount
        buffer.reserve(count * width)
        let out = buffer.pointer
        if rows == nil && !layout.includesBias {
            out.update(from: tap.inputs, count: count * dIn)
            return count
        }
        for r in 0..<count {
            let source = rows.map { $0[r] } ?? r
            (out + r * width).update(from: tap.inputs + source * dIn, count: dIn)
            if layout.includesBias { out[r * width + dIn] = 1 }
        }
        return count
    }

    /// The output gradients of rows `rows` as a [rows.count, d_out] matrix in `into`.
    public static func outputGradients(_ tap: LinearModuleTap, rows: [Int], into buffer: FloatBuffer) {
        let dOut = tap.outputSize
        buffer.reserve(rows.count * dOut)
        for (r, source) in rows.enumerated() {
            (buffer.pointer + r * dOut).update(from: tap.outputGradients + source * dOut, count: dOut)
        }
    }
}
