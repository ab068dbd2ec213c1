import Foundation

/// One parser under fuzzing: valid inputs to start from, how to mutate them, and a body that
/// must either return or throw for any input, never trap or hang. Adding a parser is one of
/// these (see Targets/), listed in `FuzzTarget.all`.
public struct FuzzTarget: Sendable {
    /// How inputs are mutated.
    public enum Format: Sendable {
        /// Raw bytes (binary files: SQLite databases, tensors).
        case bytes
        /// JSON text (or JSON Lines): mostly token-aware mutations, some raw ones.
        case json
        /// safetensors: an 8-byte little-endian length, a JSON header, data. Header
        /// mutations keep the length right, so that they reach the header's interpretation.
        case safeTensors
    }

    public let name: String
    public let format: Format
    /// Valid inputs; made on demand (they may build small models).
    public let seeds: @Sendable () throws -> [Data]
    /// Parses and uses one input; a thrown error is an acceptable outcome.
    public let body: @Sendable (Data) throws -> Void

    public init(name: String, format: Format, seeds: @escaping @Sendable () throws -> [Data], body: @escaping @Sendable (Data) throws -> Void) {
        self.name = name
        self.format = format
        self.seeds = seeds
        self.body = body
    }
}

/// An error a target's body throws when the parser broke its own contract (an error of the
/// wrong type or form): the runner reports it as a violation, not as an acceptable error.
public protocol FuzzContractViolation: Error {}

/// A scratch directory per process for bodies that must go through the file system.
public enum FuzzScratch {
    public static let directory: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("influence-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: FuzzScratch.directory) }
        return url
    }()
}
