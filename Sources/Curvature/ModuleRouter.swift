import Models

/// Routes a tap to the layout an observer keeps for its module: observers track a selection
/// of the model's modules, and taps name the module by its index among all of them.
public struct ModuleRouter: Sendable {
    private let positionOfModule: [Int: Int]

    public init(_ layouts: [ModuleLayout]) {
        positionOfModule = Dictionary(uniqueKeysWithValues: layouts.enumerated().map { ($1.moduleIndex, $0) })
    }

    /// The position in `layouts` of the tap's module; nil for a module not tracked.
    public func position(of tap: LinearModuleTap) -> Int? { positionOfModule[tap.moduleIndex] }
}
