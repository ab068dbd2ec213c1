import Checkpoints
import Foundation

/// What a training checkpoint belongs to (`checkpoint/run.json`): a rerun resumes from the
/// checkpoint only if its identity is equal, so a checkpoint never continues another run.
public struct RunIdentity: Codable, Equatable, Sendable {
    public var configuration: Trainer.Configuration
    /// `FileDigest.fingerprint(ofPath:)` of the training data.
    public var dataFingerprint: String
    /// The config or model directory the run started from, as given.
    public var start: String
    public var sequenceLength: Int?
    /// The random subset of the data trained on ("fraction seed"), nil for all of it.
    public var subset: String?

    public init(configuration: Trainer.Configuration, dataFingerprint: String, start: String, sequenceLength: Int?, subset: String? = nil) {
        self.configuration = configuration
        self.dataFingerprint = dataFingerprint
        self.start = start
        self.sequenceLength = sequenceLength
        self.subset = subset
    }

    public init(contentsOf url: URL) throws {
        self = try JSONDecoder().decode(RunIdentity.self, from: Data(contentsOf: url))
    }

    public func write(to url: URL) throws {
        try AtomicFile.write(Data(try JSONOutput.string(self).utf8), to: url)
    }
}
