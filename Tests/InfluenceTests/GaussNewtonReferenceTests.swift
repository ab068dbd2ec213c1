import Checkpoints
import Curvature
import Foundation
import Models
import Testing

/// `GaussNewtonProduct` against torch.func's jvp and vjp in Float64 (Tools/reference/make_ggn_fixture.py):
/// G·v for the GDP fixture's GPT-NeoX, three plain-text sequences and v[m][i] = sin(0.37·i + m)
/// on every layer's four weight matrices.
@Suite struct GaussNewtonReferenceTests {
    @Test func productsMatchTorchFunc() throws {
        let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
        let model = try DecoderModel(directory: fixtures.appendingPathComponent("gdp"))
        let reference = try SafeTensorsFile(url: fixtures.appendingPathComponent("ggn/reference.safetensors"))
        let tokens = try reference.integers("tokens"), lengths = try reference.integers("lengths")
        let width = tokens.count / lengths.count
        let examples = lengths.enumerated().map { s, length in TokenizedExample(tokens: Array(tokens[(s * width)..<(s * width + length)])) }
        let layouts = model.moduleLayouts(.all, attentionBlocks: .fused, includeBias: false)
        #expect(layouts.count == 8)
        let v = layouts.enumerated().map { m, layout in (0..<layout.parameterCount).map { Float(Foundation.sin(0.37 * Double($0) + Double(m))) } }
        let product = try GaussNewtonProduct(model: model, layouts: layouts, examples: examples, batchSize: 2)
        let actual = product.apply(v)
        for (m, layout) in layouts.enumerated() {
            let expected = try reference.floats("gv.\(m)").map(Double.init)
            #expect(expected.count == layout.parameterCount)
            let error = zip(actual[m], expected).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
                / expected.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
            // Measured: 3.9e-7 to 5.3e-7 (Float32 passes against Float64).
            #expect(error <= 2e-6, "\(layout.name): relative error \(error)")
        }
    }
}
