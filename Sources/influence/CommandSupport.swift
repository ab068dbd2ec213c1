import ArgumentParser
import Checkpoints
import Foundation
import Models
import Tokenization

/// Writes a line to standard error (warnings, progress), keeping standard output for results.
func warn(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Reads a JSON Lines file, one object per non-blank line; errors name the file and the line.
func readJSONLines<T: Decodable>(_ path: String, as type: T.Type) throws -> [T] {
    try JSONLines.read(type, path: path)
}

/// A JSON string literal.
func jsonQuoted(_ text: String) -> String {
    let data = try! JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])
    let array = String(decoding: data, as: UTF8.self)
    return String(array.dropFirst().dropLast())
}

/// A finite number as JSON (shortest representation that reads back exactly).
func jsonNumber(_ value: Double) -> String {
    value.isFinite ? "\(value)" : "null"
}

func jsonNumber(_ value: Float) -> String {
    value.isFinite ? "\(value)" : "null"
}
