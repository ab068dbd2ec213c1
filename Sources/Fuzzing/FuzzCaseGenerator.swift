import Numerics

/// The project's seeded generator, with the draws mutators make: the same seed gives the same
/// cases on every machine, so a reported case number replays exactly.
extension RandomGenerator {
    /// The generator of case `number` of a run seeded with `seed`: each case is independent of
    /// the ones before it, so any case replays on its own.
    public init(seed: UInt64, case number: Int) {
        var mixer = RandomGenerator(seed: seed)
        self.init(seed: mixer.next() &+ UInt64(truncatingIfNeeded: number) &* 0xD1B5_4A32_D192_ED03)
    }

    public mutating func chance(_ probability: Double) -> Bool { nextUniform() < probability }

    public mutating func pick<T>(_ items: [T]) -> T { items[nextInt(below: items.count)] }
}
