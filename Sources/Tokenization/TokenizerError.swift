/// A problem with a tokenizer file; `description` is one line naming the file.
public struct TokenizerError: Error, CustomStringConvertible, Equatable {
    public let source: String
    public let problem: String

    public init(_ source: String, _ problem: String) {
        self.source = source
        self.problem = problem
    }

    public var description: String { "\(source): \(problem)" }
}
