import Checkpoints
import Foundation
import Testing

/// Values config.json may hold that no model can have: refused at decoding, naming the file.
@Suite struct ConfigRangeTests {
    static func neox(_ field: String, _ literal: String) -> Data {
        var fields = ["\"vocab_size\": 10", "\"hidden_size\": 8", "\"num_hidden_layers\": 1", "\"num_attention_heads\": 2",
                      "\"intermediate_size\": 16", "\"max_position_embeddings\": 16"].filter { !$0.hasPrefix("\"\(field)\"") }
        fields.append("\"\(field)\": \(literal)")
        return Data("{\"model_type\": \"gpt_neox\", \(fields.joined(separator: ", "))}".utf8)
    }

    @Test(arguments: [("layer_norm_eps", "-1"), ("layer_norm_eps", "0"), ("layer_norm_eps", "1e-60"), ("layer_norm_eps", "1e300"),
                      ("rotary_pct", "0"), ("rotary_pct", "1.5"), ("rotary_pct", "-0.5"), ("rotary_emb_base", "0"), ("rotary_emb_base", "-10"),
                      ("hidden_size", "2147483648"), ("vocab_size", "4611686018427387904"), ("num_hidden_layers", "2147483648"),
                      ("intermediate_size", "1099511627776"), ("max_position_embeddings", "2147483648"), ("num_attention_heads", "3")])
    func nonsenseIsRefusedNamingTheFile(field: String, literal: String) {
        #expect {
            try ModelConfig.decode(Self.neox(field, literal), source: "dir/config.json")
        } throws: { error in
            "\(error)".hasPrefix("dir/config.json: ") && "\(error)".contains(field.hasPrefix("rotary_pct") ? "rotary" : field.hasPrefix("rotary") ? "rotary base" : field)
        }
    }

    @Test func sensibleValuesStillDecode() throws {
        for (field, literal) in [("layer_norm_eps", "1e-12"), ("rotary_pct", "1"), ("max_position_embeddings", "2147483647")] {
            _ = try ModelConfig.decode(Self.neox(field, literal), source: "c")
        }
    }

    @Test(arguments: [#"{"model_type": "gpt2", "vocab_size": 10, "n_positions": 8, "n_embd": 4611686018427387904, "n_layer": 1, "n_head": 1}"#,
                      #"{"model_type": "gpt2", "vocab_size": 10, "n_positions": 8, "n_embd": 8, "n_layer": 1, "n_head": 1, "layer_norm_epsilon": -1}"#,
                      #"{"model_type": "bloom", "vocab_size": 10, "hidden_size": 8, "n_layer": 1, "n_head": 1, "layer_norm_epsilon": 0}"#,
                      #"{"model_type": "bloom", "vocab_size": 10, "hidden_size": 8, "n_layer": 1, "n_head": 1, "seq_length": -4}"#])
    func otherFamiliesAreCheckedToo(json: String) {
        #expect(throws: CheckpointError.self) { try ModelConfig.decode(Data(json.utf8), source: "c") }
    }
}
