import Checkpoints
import Foundation

extension FuzzTarget {
    /// A safetensors file: header parsing, then every tensor read in every way its dtype allows.
    public static let safeTensors = FuzzTarget(name: "safetensors", format: .safeTensors, seeds: {
        var mixed = SafeTensorsWriter(metadata: ["format": "pt"])
        mixed.add("a.weight", shape: [2, 3], floats: [1, -2, 3.5, 0, 1e-30, 3e30])
        mixed.add("b", shape: [2], doubles: [1, -1e-300])
        mixed.add("ids", shape: [3], integers: [0, -5, Int(Int32.max) + 7])
        mixed.add("empty", shape: [0, 4], floats: [])
        mixed.add("scalar", shape: [], floats: [2])
        var model = SafeTensorsWriter()
        model.add("gpt_neox.embed_in.weight", shape: [4, 2], floats: (0..<8).map(Float.init))
        model.add("gpt_neox.final_layer_norm.bias", shape: [2], floats: [0, 0])
        return try [mixed, model].map { writer in
            let url = FuzzScratch.directory.appendingPathComponent("seed.safetensors")
            try writer.write(to: url)
            return try Data(contentsOf: url)
        }
    }, body: { data in
        let url = FuzzScratch.directory.appendingPathComponent("case.safetensors")
        try data.write(to: url)
        let file = try SafeTensorsFile(url: url)
        for tensor in file.tensors {
            _ = file.rawBytes(tensor).reduce(0, &+)
            if [DType.f64, .f32, .f16, .bf16].contains(tensor.dtype) {   // the types read as floats
                _ = try file.floats(tensor.name)
                _ = try file.doubles(tensor.name)
            } else if let integers = try? file.integers(tensor.name) {
                _ = integers.count
            }
        }
    })
}
