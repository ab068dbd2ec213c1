import Foundation
import Testing

/// Hostile model directories, as a new user might make them by editing config.json,
/// tokenizer.json or a safetensors header: every command must refuse them with one line naming
/// the file, within a time and memory budget, never by a signal or a hang.
@Suite struct HostileCheckpointTests {
    /// A copy of the example model with `config` fields set to raw JSON literals.
    static func model(config: [String: String] = [:]) throws -> URL {
        let directory = try CommandLineTests.temporaryDirectory()
        for name in ["config.json", "model.safetensors", "tokenizer.json"] {
            try FileManager.default.copyItem(at: URL(fileURLWithPath: CommandLineTests.example).appendingPathComponent(name),
                                             to: directory.appendingPathComponent(name))
        }
        // Literals such as 1e12 or NaN go in as text: JSONSerialization would rewrite or refuse them.
        try editJSON(directory, "config.json") { object in
            for key in config.keys { object[key] = "@@\(key)@@" }
        }
        let url = directory.appendingPathComponent("config.json")
        var text = try String(contentsOf: url, encoding: .utf8)
        for (key, literal) in config { text = text.replacingOccurrences(of: "\"@@\(key)@@\"", with: literal) }
        try text.write(to: url, atomically: true, encoding: .utf8)
        return directory
    }

    /// Rewrites a JSON file of `directory` through `edit`.
    static func editJSON(_ directory: URL, _ name: String, _ edit: (inout [String: Any]) -> Void) throws {
        let url = directory.appendingPathComponent(name)
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        edit(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: url)
    }

    /// Rewrites model.safetensors' header through `edit`, keeping the data.
    static func editSafeTensorsHeader(_ directory: URL, _ edit: (inout [String: Any]) -> Void) throws {
        let url = directory.appendingPathComponent("model.safetensors")
        let bytes = try Data(contentsOf: url)
        let length = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var header = try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<8 + length)) as! [String: Any]
        edit(&header)
        var newHeader = try JSONSerialization.data(withJSONObject: header)
        newHeader.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - newHeader.count % 8) % 8))
        var file = withUnsafeBytes(of: UInt64(newHeader.count).littleEndian) { Data($0) }
        file.append(newHeader)
        file.append(bytes.subdata(in: 8 + length..<bytes.count))
        try file.write(to: url)
    }

    struct Outcome {
        let status: Int32
        let signalled: Bool
        let timedOut: Bool
        let standardError: String
    }

    /// Runs the tool with an address-space limit (so that a runaway allocation fails fast
    /// instead of swapping the machine) and a time limit.
    static func runBounded(_ arguments: [String], seconds: Double = 20, memoryKilobytes: Int = 4_000_000) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "ulimit -v \(memoryKilobytes); exec \"$0\" \"$@\"", CommandLineTests.executable.path] + arguments
        let error = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = error
        try process.run()
        let deadline = Date().addingTimeInterval(seconds)
        var timedOut = false
        let reader = DispatchQueue(label: "stderr")
        nonisolated(unsafe) var errorData = Data()
        let group = DispatchGroup()
        reader.async(group: group) { errorData = error.fileHandleForReading.readDataToEndOfFile() }
        while process.isRunning {
            if Date() > deadline {
                timedOut = true
                process.terminate()
                break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.waitUntilExit()
        group.wait()
        return Outcome(status: process.terminationStatus, signalled: process.terminationReason == .uncaughtSignal,
                       timedOut: timedOut, standardError: String(decoding: errorData, as: UTF8.self))
    }

    /// A clean refusal: non-zero exit (not a signal, not a timeout), one line on standard
    /// error containing every fragment.
    static func expectRefusal(_ arguments: [String], _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let outcome = try runBounded(arguments)
        #expect(!outcome.timedOut, "\(arguments) ran past the time limit", sourceLocation: sourceLocation)
        #expect(!outcome.signalled, "\(arguments) died by signal \(outcome.status): \(outcome.standardError)", sourceLocation: sourceLocation)
        #expect(outcome.status != 0, "exit status 0 for \(arguments)", sourceLocation: sourceLocation)
        let lines = outcome.standardError.split(separator: "\n").filter { !$0.isEmpty && !$0.hasPrefix("Usage") && !$0.hasPrefix("  See") }
        #expect(lines.count == 1, "stderr: \(outcome.standardError)", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(outcome.standardError.contains(fragment), "stderr \(outcome.standardError) lacks \(fragment)", sourceLocation: sourceLocation)
        }
    }

    static func inspectAndEval(_ directory: URL) -> [[String]] {
        [["inspect", directory.path], ["eval", directory.path, "--text", "The capital of Veloria is Marren."]]
    }

    // MARK: Item 7: sizes that overflow or disagree with the checkpoint

    @Test(arguments: [[0, 0], nil])
    func aTensorShapeWhoseByteCountOverflowsIsRefused(offsets: [Int]?) throws {
        let directory = try Self.model()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.editSafeTensorsHeader(directory) { header in
            var tensor = header["gpt_neox.embed_in.weight"] as! [String: Any]
            tensor["shape"] = [1 << 62]
            if let offsets { tensor["data_offsets"] = offsets }
            header["gpt_neox.embed_in.weight"] = tensor
        }
        for arguments in Self.inspectAndEval(directory) {
            try Self.expectRefusal(arguments, ["model.safetensors", "gpt_neox.embed_in.weight"])
        }
    }

    @Test(arguments: [("hidden_size", "65536"), ("hidden_size", "1099511627776"), ("hidden_size", "1e12"),
                      ("vocab_size", "1000000000"), ("vocab_size", "1e9"), ("vocab_size", "4611686018427387904"),
                      ("intermediate_size", "1099511627776"), ("max_position_embeddings", "4611686018427387904")])
    func sizesThatDisagreeWithTheCheckpointAreRefused(field: String, value: String) throws {
        let directory = try Self.model(config: [field: value])
        defer { try? FileManager.default.removeItem(at: directory) }
        for arguments in Self.inspectAndEval(directory) {
            try Self.expectRefusal(arguments, ["config.json"])
        }
    }

    @Test(arguments: [("vocab", "2147483647"), ("added", "2147483647"), ("added", "9223372036854775807"), ("vocab", "3.7"),
                      ("added", "1e30"), ("vocab", "320")])
    func aTokenizerIdOutsideTheModelsVocabularyIsRefused(place: String, id: String) throws {
        let directory = try Self.model()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.editJSON(directory, "tokenizer.json") { root in
            if place == "vocab" {
                var model = root["model"] as! [String: Any]
                var vocab = model["vocab"] as! [String: Any]
                vocab["a"] = "@@id@@"
                model["vocab"] = vocab
                root["model"] = model
            } else {
                root["added_tokens"] = (root["added_tokens"] as? [[String: Any]] ?? []) + [["id": "@@id@@", "content": "<|hostile|>", "special": true]]
            }
        }
        let url = directory.appendingPathComponent("tokenizer.json")
        try String(contentsOf: url, encoding: .utf8).replacingOccurrences(of: "\"@@id@@\"", with: id).write(to: url, atomically: true, encoding: .utf8)
        try Self.expectRefusal(["eval", directory.path, "--text", "a <|hostile|> a"], ["tokenizer.json", " id"])
    }

    // MARK: Item 8: hangs, runaway memory, silent garbage

    @Test(arguments: ["2147483648", "1000000000", "1e9"])
    func aLayerCountBeyondTheCheckpointIsRefusedAtOnce(value: String) throws {
        let directory = try Self.model(config: ["num_hidden_layers": value])
        defer { try? FileManager.default.removeItem(at: directory) }
        for arguments in Self.inspectAndEval(directory) {
            try Self.expectRefusal(arguments, ["config.json", "layers"])
        }
    }

    /// The rotary tables once took max_position_embeddings × features: 32 GB here.
    @Test func aHugeContextRunsInBoundedMemory() throws {
        let directory = try Self.model(config: ["max_position_embeddings": "2147483647"])
        defer { try? FileManager.default.removeItem(at: directory) }
        let outcome = try Self.runBounded(["eval", directory.path, "--text", "The capital of Veloria is Marren.", "--json"])
        #expect(outcome.status == 0 && !outcome.signalled && !outcome.timedOut, "\(outcome)")
        let beyond = try Self.model(config: ["max_position_embeddings": "2147483648"])
        defer { try? FileManager.default.removeItem(at: beyond) }
        try Self.expectRefusal(["eval", beyond.path, "--text", "a b"], ["config.json", "max_position_embeddings"])
    }

    @Test(arguments: [("layer_norm_eps", "-1"), ("layer_norm_eps", "0"), ("layer_norm_eps", "1e-60"), ("layer_norm_eps", "NaN"),
                      ("layer_norm_eps", "1e400"), ("hidden_size", "-32"), ("num_attention_heads", "5"), ("num_attention_heads", "0"),
                      ("intermediate_size", "-1"), ("num_hidden_layers", "0"), ("max_position_embeddings", "-1"),
                      ("rope_parameters", #"{"partial_rotary_factor": 0, "rope_theta": 10000, "rope_type": "default"}"#),
                      ("rope_parameters", #"{"partial_rotary_factor": 1.5, "rope_theta": 10000, "rope_type": "default"}"#),
                      ("rope_parameters", #"{"partial_rotary_factor": 0.25, "rope_theta": -1, "rope_type": "default"}"#)])
    func nonsensicalConfigValuesAreRefused(field: String, value: String) throws {
        let directory = try Self.model(config: [field: value])
        defer { try? FileManager.default.removeItem(at: directory) }
        for arguments in Self.inspectAndEval(directory) {
            try Self.expectRefusal(arguments, ["config.json"])
        }
    }
}
