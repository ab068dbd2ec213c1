import Foundation

/// An amount of memory given on the command line: `16GB`, `512MB`, `1.5GiB` or plain bytes.
/// Decimal (GB = 10⁹) and binary (GiB = 2³⁰) units are both accepted, as `free` and `top` mix them.
public struct MemorySize: Sendable, Equatable, Comparable, CustomStringConvertible {
    public let bytes: Int

    public init(bytes: Int) { self.bytes = bytes }

    public init(_ text: String) throws {
        let units: [(String, Double)] = [
            ("TiB", 1_099_511_627_776), ("GiB", 1_073_741_824), ("MiB", 1_048_576), ("KiB", 1024),
            ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3), ("B", 1),
        ]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let (number, scale) = units.first { trimmed.uppercased().hasSuffix($0.0.uppercased()) }
            .map { (String(trimmed.dropLast($0.0.count)).trimmingCharacters(in: .whitespaces), $0.1) } ?? (trimmed, 1)
        guard let value = Double(number), value.isFinite, value > 0, value * scale < 9e18 else {
            throw InputError("memory size \"\(text)\": expected a positive amount such as 16GB, 512MB or 1.5GiB")
        }
        bytes = Int(value * scale)
    }

    public static func < (a: MemorySize, b: MemorySize) -> Bool { a.bytes < b.bytes }

    /// `12.3 GB` (decimal units, one decimal), as the plan and the logs print sizes.
    public var description: String { Self.format(bytes) }

    public static func format(_ bytes: Int) -> String {
        let b = Double(bytes)
        if b >= 1e9 { return String(format: "%.1f GB", b / 1e9) }
        if b >= 1e6 { return String(format: "%.1f MB", b / 1e6) }
        if b >= 1e3 { return String(format: "%.1f KB", b / 1e3) }
        return "\(bytes) B"
    }
}
