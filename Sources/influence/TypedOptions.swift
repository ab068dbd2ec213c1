import ArgumentParser
import Checkpoints
import Curvature
import Retrieval
import Tracing

// Library types read straight from the command line, so that a bad value is ArgumentParser's
// one-line error naming the option.

extension Damping: ExpressibleByArgument {
    /// `auto`, a positive number (absolute λ), or a positive multiple of the mean eigenvalue such as `0.001x`.
    public init?(argument: String) { self.init(argument) }

    public var defaultValueDescription: String { self == .automatic ? "auto" : description }
}

extension DampingScope: ExpressibleByArgument {}
extension Retriever: ExpressibleByArgument {}
extension EmbedderChoice: ExpressibleByArgument {}

extension ShardSpec: ExpressibleByArgument {
    /// `I/N` (0-based, such as 0/4) or `auto` (Slurm job array or Kubernetes Indexed Job).
    public init?(argument: String) { try? self.init(argument) }
}

extension MemorySize: ExpressibleByArgument {
    /// `16GB`, `512MB`, `1.5GiB` or bytes.
    public init?(argument: String) { try? self.init(argument) }
}
