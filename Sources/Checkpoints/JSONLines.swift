import Foundation

/// Why a JSON Lines (or plain-text) file could not be read: the file, the 1-based line and
/// the problem, printed as `path:line: problem`.
public struct JSONLinesError: Error, CustomStringConvertible, Equatable {
    public enum Problem: Equatable, Sendable {
        case unreadable(String)
        case invalidUTF8
        case invalidJSON
        case notAnObject
        case missingField(String)
        case wrongType(String)
        case nullField(String)
    }

    public let path: String
    /// The line the problem is on; nil for the whole file.
    public let line: Int?
    public let problem: Problem

    public init(path: String, line: Int?, problem: Problem) {
        self.path = path
        self.line = line
        self.problem = problem
    }

    public var description: String {
        let place = line.map { "\(path):\($0)" } ?? path
        switch problem {
        case .unreadable(let reason): return "\(place): \(reason)"
        case .invalidUTF8: return "\(place): not valid UTF-8"
        case .invalidJSON: return "\(place): invalid JSON"
        case .notAnObject: return "\(place): expected a JSON object"
        case .missingField(let name): return "\(place): missing field \"\(name)\""
        case .wrongType(let name): return "\(place): field \"\(name)\" has the wrong type"
        case .nullField(let name): return "\(place): field \"\(name)\" is null"
        }
    }
}

/// Reads JSON Lines: one JSON object per line, blank lines skipped. Lines end in LF or CRLF;
/// a UTF-8 byte-order mark at the start is ignored. Every failure is a `JSONLinesError` naming
/// the first bad line.
public enum JSONLines {
    /// The records of the file at `path`.
    public static func read<T: Decodable>(_ type: T.Type, path: String) throws -> [T] {
        try decode(type, from: try contents(of: path), source: path)
    }

    /// The records in `data`; `source` names it in errors.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, source: String) throws -> [T] {
        let decoder = JSONDecoder()
        var records: [T] = []
        for (number, line) in try lines(of: data, source: source) {
            if line.allSatisfy(\.isWhitespace) { continue }
            do {
                records.append(try decoder.decode(T.self, from: Data(line.utf8)))
            } catch {
                throw JSONLinesError(path: source, line: number, problem: problem(error))
            }
        }
        return records
    }

    /// The file's bytes, or an error naming the path and why not.
    public static func contents(of path: String) throws -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw JSONLinesError(path: path, line: nil, problem: .unreadable("file not found"))
        }
        if isDirectory.boolValue { throw JSONLinesError(path: path, line: nil, problem: .unreadable("is a directory, not a file")) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JSONLinesError(path: path, line: nil, problem: .unreadable("cannot be read (permission denied?)"))
        }
        return data
    }

    /// The lines of a text file with their 1-based numbers, without their LF or CRLF ends;
    /// the first line that is not valid UTF-8 is an error.
    public static func lines(of data: Data, source: String) throws -> [(number: Int, text: String)] {
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var result: [(number: Int, text: String)] = []
        for (index, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let content = line.last == 0x0D ? line.dropLast() : line
            guard let text = String(validating: content, as: UTF8.self) else {
                throw JSONLinesError(path: source, line: index + 1, problem: .invalidUTF8)
            }
            result.append((index + 1, text))
        }
        if result.last?.text.isEmpty == true { result.removeLast() }   // the final line end
        return result
    }

    private static func problem(_ error: Error) -> JSONLinesError.Problem {
        func field(_ context: DecodingError.Context) -> String { context.codingPath.map(\.stringValue).joined(separator: ".") }
        switch error {
        case DecodingError.keyNotFound(let key, _): return .missingField(key.stringValue)
        case DecodingError.typeMismatch(_, let context): return context.codingPath.isEmpty ? .notAnObject : .wrongType(field(context))
        case DecodingError.valueNotFound(_, let context): return context.codingPath.isEmpty ? .notAnObject : .nullField(field(context))
        default: return .invalidJSON
        }
    }
}
