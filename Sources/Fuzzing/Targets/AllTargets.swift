extension FuzzTarget {
    /// Every target, by name, for `influence-fuzz` and the tests.
    public static let all: [FuzzTarget] = [.safeTensors, .modelConfig, .tokenizer, .wordPiece, .jsonLines, .gguf]

    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}
