/// A one-line problem with the user's input that the user can fix: a bad record, an option that
/// does not fit the model, an empty prompt. File problems that name a path are `CheckpointError`s;
/// both print as one line, and the command-line tool shows them as "Error: …".
public struct InputError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
