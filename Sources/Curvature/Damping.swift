import Foundation

/// The damping λ added to the curvature: always positive, so (G + λI) is invertible.
public enum Damping: Sendable, Equatable, CustomStringConvertible {
    /// λ itself.
    case absolute(Double)
    /// A multiple of the mean eigenvalue, written `0.001x` on the command line.
    case relative(Double)

    /// Parses `auto`, a positive number (absolute), or a positive number followed by `x`
    /// (relative). Zero, negative and non-finite values are refused: λ = 0 turns a zero
    /// eigenvalue into a division by zero and scores into ∞ or NaN.
    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "auto" { self = .automatic; return }
        let isRelative = trimmed.hasSuffix("x") || trimmed.hasSuffix("×")
        guard let value = Double(isRelative ? String(trimmed.dropLast()) : trimmed), value > 0, value.isFinite else { return nil }
        self = isRelative ? .relative(value) : .absolute(value)
    }

    /// `auto`: 0.1 × the mean eigenvalue (Grosse et al.).
    public static let automatic = Damping.relative(0.1)

    /// What the command line accepts, for error messages.
    public static let syntax = "a positive number (absolute λ), a positive multiple of the mean eigenvalue such as 0.001x, or auto (0.1x)"

    /// λ of an absolute damping, or nil for a relative one.
    public var absoluteValue: Double? {
        if case .absolute(let value) = self { return value }
        return nil
    }

    /// The multiple of the mean eigenvalue, or nil for an absolute damping.
    public var relativeFactor: Double? {
        switch self {
        case .absolute: nil
        case .relative(let factor): factor
        }
    }

    public var description: String {
        switch self {
        case .absolute(let value): "\(value)"
        case .relative(let factor): "\(factor)x"
        }
    }
}

/// Over which eigenvalues the mean of a relative damping is taken.
public enum DampingScope: String, Sendable, CaseIterable, Codable {
    /// The mean over all blocks of a module (Grosse et al., Kronfluence): per-head Q/K blocks,
    /// whose eigenvalues are small, get the same λ as the module's V blocks.
    case module
    /// The mean of each block separately.
    case block
}
