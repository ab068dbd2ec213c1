import Checkpoints
import Foundation
import Models
import Testing

/// A config.json that disagrees with its weights fails in `DecoderHyperparameters(checkpoint:)`,
/// the one check every command goes through, before anything sized by the config is allocated.
@Suite struct CheckpointConsistencyTests {
    static func checkpoint(_ edit: (inout [String: Any]) -> Void) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("consistency-\(UUID().uuidString)")
        let h = DecoderHyperparameters(vocabularySize: 12, hiddenSize: 16, headCount: 2, intermediateSize: 32, layerCount: 2, maxPositions: 16)
        try DecoderModel(hyperparameters: h, seed: 1).save(to: directory)
        let url = directory.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        edit(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: url)
        return directory
    }

    @Test(arguments: [("num_hidden_layers", 1 << 31), ("num_hidden_layers", 1_000_000_000), ("num_hidden_layers", 3),
                      ("hidden_size", 65536), ("hidden_size", 2_147_483_646), ("vocab_size", 1_000_000_000), ("intermediate_size", 1 << 30)])
    func aConfigThatDisagreesWithTheWeightsIsRefused(field: String, value: Int) throws {
        let directory = try Self.checkpoint { $0[field] = value }
        defer { try? FileManager.default.removeItem(at: directory) }
        let started = Date()
        #expect(throws: CheckpointError.self) { try DecoderHyperparameters(checkpoint: CheckpointDirectory(url: directory)) }
        #expect(throws: CheckpointError.self) { try ModelDescription(checkpoint: CheckpointDirectory(url: directory)) }
        #expect(throws: CheckpointError.self) { try DecoderModel(directory: directory) }
        #expect(Date().timeIntervalSince(started) < 5)
    }

    /// The rotary tables no longer grow with max_position_embeddings; positions inside the
    /// table give what they gave before.
    @Test func aHugeContextChangesNothingForShortSequences() throws {
        let small = try Self.checkpoint { _ in }, huge = try Self.checkpoint { $0["max_position_embeddings"] = Int(Int32.max) }
        defer { for d in [small, huge] { try? FileManager.default.removeItem(at: d) } }
        let tokens = [[1, 5, 3, 7, 2, 9, 11, 0]]
        let a = try DecoderModel(directory: small), b = try DecoderModel(directory: huge)
        let activations = DecoderActivations(hyperparameters: a.hyperparameters)
        #expect(try a.tokenLogProbabilities(tokens, activations: activations)
                == b.tokenLogProbabilities(tokens, activations: DecoderActivations(hyperparameters: b.hyperparameters)))
    }
}
