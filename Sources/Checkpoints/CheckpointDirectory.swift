import Foundation

/// A Hugging Face model directory: config.json, weights in model.safetensors or in shards
/// listed by model.safetensors.index.json, and usually tokenizer.json.
public final class CheckpointDirectory: @unchecked Sendable {
    public let url: URL
    public let config: ModelConfig
    /// The weight files, memory-mapped.
    public let files: [SafeTensorsFile]
    /// Which file holds each tensor.
    private let location: [String: Int]

    public var configURL: URL { url.appendingPathComponent("config.json") }
    public var tokenizerURL: URL { url.appendingPathComponent("tokenizer.json") }

    public init(url: URL) throws {
        self.url = url
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw CheckpointError(url, "model directory not found")
        }
        guard isDirectory.boolValue else { throw CheckpointError(url, "is a file; expected a model directory with config.json") }
        config = try ModelConfig.load(from: url.appendingPathComponent("config.json"))

        let single = url.appendingPathComponent("model.safetensors")
        let indexURL = url.appendingPathComponent("model.safetensors.index.json")
        var files: [SafeTensorsFile] = []
        var location: [String: Int] = [:]
        if FileManager.default.fileExists(atPath: single.path) {
            let file = try SafeTensorsFile(url: single)
            files = [file]
            for name in file.names { location[name] = 0 }
        } else if FileManager.default.fileExists(atPath: indexURL.path) {
            struct Index: Decodable { let weight_map: [String: String] }
            let index: Index
            do {
                index = try JSONDecoder().decode(Index.self, from: Data(contentsOf: indexURL))
            } catch {
                throw CheckpointError(indexURL, "invalid shard index (\(describe(error)))")
            }
            let shardNames = Array(Set(index.weight_map.values)).sorted()
            for shard in shardNames {
                guard !shard.contains("/") && !shard.hasPrefix(".") else {
                    throw CheckpointError(indexURL, "shard name \"\(shard)\" must be a file in the model directory")
                }
                files.append(try SafeTensorsFile(url: url.appendingPathComponent(shard)))
            }
            for (name, shard) in index.weight_map {
                let fileIndex = shardNames.firstIndex(of: shard)!
                guard files[fileIndex].info(name) != nil else {
                    throw CheckpointError(indexURL, "lists tensor \(name) in \(shard), which does not contain it")
                }
                location[name] = fileIndex
            }
        } else if FileManager.default.fileExists(atPath: url.appendingPathComponent("pytorch_model.bin").path) {
            throw CheckpointError(url, "has only pytorch_model.bin; convert it to model.safetensors (transformers: model.save_pretrained(dir, safe_serialization=True))")
        } else {
            throw CheckpointError(url, "no model.safetensors or model.safetensors.index.json")
        }
        self.files = files
        self.location = location
    }

    /// Every tensor on disk, in file order.
    public var tensors: [SafeTensorsFile.TensorInfo] {
        files.flatMap { file in file.tensors.filter { location[$0.name] != nil } }
    }

    public func info(_ name: String) -> SafeTensorsFile.TensorInfo? {
        location[name].flatMap { files[$0].info(name) }
    }

    /// The element types of the weights on disk, e.g. ["BF16"].
    public var storedTypes: [String] { Array(Set(tensors.map(\.dtype.rawValue))).sorted() }

    /// Reads tensor `name` as Float32, checking its shape.
    public func readFloats(_ name: String, shape: [Int], into destination: UnsafeMutablePointer<Float>) throws {
        guard let fileIndex = location[name], let info = files[fileIndex].info(name) else {
            throw CheckpointError(url, "checkpoint has no tensor \(name)")
        }
        guard info.shape == shape else {
            throw CheckpointError(files[fileIndex].url, "tensor \(name) has shape \(info.shape), but config.json implies \(shape)")
        }
        try files[fileIndex].readFloats(name, into: destination, count: info.elementCount)
    }
}
