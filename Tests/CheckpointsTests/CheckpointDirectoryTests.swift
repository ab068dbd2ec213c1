import Foundation
import XCTest
import Checkpoints

final class CheckpointDirectoryTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("checkpoint-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    let neoxConfig = """
        {"model_type": "gpt_neox", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
         "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 16,
         "rope_parameters": {"partial_rotary_factor": 0.5, "rope_theta": 500, "rope_type": "default"}}
        """

    func write(_ text: String, _ name: String) throws {
        try Data(text.utf8).write(to: directory.appendingPathComponent(name))
    }

    func assertFails(_ body: @autoclosure () throws -> some Any, containing fragment: String, naming path: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(fragment), "\"\(message)\" lacks \"\(fragment)\"", file: file, line: line)
            XCTAssertTrue(message.contains(path), "\"\(message)\" does not name \(path)", file: file, line: line)
            XCTAssertFalse(message.contains("\n"), file: file, line: line)
        }
    }

    func testGPTNeoXConfigReadsBothRotarySpellings() throws {
        guard case .gptNeoX(let new) = try ModelConfig.decode(Data(neoxConfig.utf8), source: "c") else { return XCTFail() }
        XCTAssertEqual(new.partialRotaryFactor, 0.5)
        XCTAssertEqual(new.rotaryBase, 500)
        XCTAssertTrue(new.parallelResidual)
        let old = neoxConfig.replacingOccurrences(
            of: #""rope_parameters": {"partial_rotary_factor": 0.5, "rope_theta": 500, "rope_type": "default"}"#,
            with: #""rotary_pct": 1.0, "rotary_emb_base": 123, "use_parallel_residual": false"#)
        guard case .gptNeoX(let legacy) = try ModelConfig.decode(Data(old.utf8), source: "c") else { return XCTFail() }
        XCTAssertEqual(legacy.partialRotaryFactor, 1.0)
        XCTAssertEqual(legacy.rotaryBase, 123)
        XCTAssertFalse(legacy.parallelResidual)
    }

    func testConfigErrors() throws {
        let url = directory.appendingPathComponent("config.json")
        try write(#"{"model_type": "t5", "hidden_size": 4}"#, "config.json")
        assertFails(try ModelConfig.load(from: url), containing: "unsupported model_type \"t5\"", naming: url.path)
        try write(#"{"model_type": "gpt_neox", "hidden_size": 4"#, "config.json")
        assertFails(try ModelConfig.load(from: url), containing: "invalid JSON", naming: url.path)
        try write(#"{"hidden_size": 4}"#, "config.json")
        assertFails(try ModelConfig.load(from: url), containing: "no model_type", naming: url.path)
        try write(#"{"model_type": "gpt_neox", "hidden_size": 8}"#, "config.json")
        assertFails(try ModelConfig.load(from: url), containing: "missing field vocab_size", naming: url.path)
        try write(neoxConfig.replacingOccurrences(of: "\"hidden_size\": 8", with: "\"hidden_size\": 9"), "config.json")
        assertFails(try ModelConfig.load(from: url), containing: "not divisible", naming: url.path)
        try FileManager.default.removeItem(at: url)
        assertFails(try ModelConfig.load(from: url), containing: "file not found", naming: url.path)
    }

    func testDirectoryErrors() throws {
        assertFails(try CheckpointDirectory(url: directory.appendingPathComponent("absent")), containing: "not found", naming: "absent")
        assertFails(try CheckpointDirectory(url: directory), containing: "file not found", naming: "config.json")
        try write(neoxConfig, "config.json")
        assertFails(try CheckpointDirectory(url: directory), containing: "no model.safetensors", naming: directory.path)
        try write("not a pickle", "pytorch_model.bin")
        assertFails(try CheckpointDirectory(url: directory), containing: "pytorch_model.bin", naming: directory.path)
        try write(#"{"weight_map": {"a": "shard-1.safetensors"}}"#, "model.safetensors.index.json")
        assertFails(try CheckpointDirectory(url: directory), containing: "file not found", naming: "shard-1.safetensors")
        var writer = SafeTensorsWriter()
        writer.add("b", shape: [1], floats: [1])
        try writer.write(to: directory.appendingPathComponent("shard-1.safetensors"))
        assertFails(try CheckpointDirectory(url: directory), containing: "does not contain it", naming: "model.safetensors.index.json")
        try write(#"{"weight_map": {"b": "../escape.safetensors"}}"#, "model.safetensors.index.json")
        assertFails(try CheckpointDirectory(url: directory), containing: "must be a file in the model directory", naming: "index.json")
    }

    func testShardedDirectoryFindsEveryTensorAndChecksShapes() throws {
        try write(neoxConfig, "config.json")
        var first = SafeTensorsWriter(), second = SafeTensorsWriter()
        first.add("a", shape: [2], floats: [1, 2])
        second.add("b", shape: [1, 3], floats: [3, 4, 5])
        try first.write(to: directory.appendingPathComponent("s1.safetensors"))
        try second.write(to: directory.appendingPathComponent("s2.safetensors"))
        try write(#"{"metadata": {}, "weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}}"#, "model.safetensors.index.json")
        let checkpoint = try CheckpointDirectory(url: directory)
        XCTAssertEqual(Set(checkpoint.tensors.map(\.name)), ["a", "b"])
        XCTAssertEqual(checkpoint.storedTypes, ["F32"])
        var values = [Float](repeating: 0, count: 3)
        try values.withUnsafeMutableBufferPointer { try checkpoint.readFloats("b", shape: [1, 3], into: $0.baseAddress!) }
        XCTAssertEqual(values, [3, 4, 5])
        assertFails(try values.withUnsafeMutableBufferPointer { try checkpoint.readFloats("b", shape: [3], into: $0.baseAddress!) },
                    containing: "config.json implies [3]", naming: "s2.safetensors")
    }
}
