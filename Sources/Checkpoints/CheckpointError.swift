import Foundation

/// A problem with a file on disk: what it is and where. `description` is one line that names
/// the file, so that the command-line tool can print it as is.
public struct CheckpointError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let problem: String

    public init(_ path: String, _ problem: String) {
        self.path = path
        self.problem = problem
    }

    public init(_ url: URL, _ problem: String) {
        self.init(url.path, problem)
    }

    public var description: String { "\(path): \(problem)" }
}
