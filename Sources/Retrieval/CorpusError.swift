import Foundation

/// Problems with corpus input, one line naming the file.
public struct CorpusError: Error, CustomStringConvertible, Equatable {
    public let path: String
    /// The line the problem is on; nil for the whole file.
    public let line: Int?
    public let problem: String

    public init(_ url: URL, line: Int? = nil, _ problem: String) {
        path = url.path
        self.line = line
        self.problem = problem
    }

    public var description: String { "\(line.map { "\(path):\($0)" } ?? path): \(problem)" }
}
