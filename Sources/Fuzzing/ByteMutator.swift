import Numerics

/// Format-blind mutations of raw bytes.
public enum ByteMutator {
    public static func mutate(_ bytes: inout [UInt8], using rng: inout RandomGenerator) {
        if bytes.isEmpty { bytes = [UInt8(truncatingIfNeeded: rng.next())]; return }
        switch rng.nextInt(below: 9) {
        case 0:  // flip one bit
            bytes[rng.nextInt(below: bytes.count)] ^= 1 << UInt8(rng.nextInt(below: 8))
        case 1:  // set a byte
            bytes[rng.nextInt(below: bytes.count)] = rng.pick([0, 0xFF, 0x7F, 0x80, 0x22, 0x7B, 0x7D, 0x5B, 0x2C, UInt8(truncatingIfNeeded: rng.next())])
        case 2:  // insert a few bytes
            let inserted = (0..<1 + rng.nextInt(below: 8)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            bytes.insert(contentsOf: inserted, at: rng.nextInt(below: bytes.count + 1))
        case 3:  // delete a range
            let start = rng.nextInt(below: bytes.count)
            bytes.removeSubrange(start..<min(bytes.count, start + 1 + rng.nextInt(below: 16)))
        case 4:  // truncate
            bytes.removeSubrange(rng.nextInt(below: bytes.count)...)
        case 5:  // duplicate a chunk in place
            let start = rng.nextInt(below: bytes.count), end = min(bytes.count, start + 1 + rng.nextInt(below: 64))
            bytes.insert(contentsOf: bytes[start..<end], at: end)
        case 6, 7:  // an interesting integer, little-endian, 1 to 8 bytes wide (often at 0: a length prefix)
            let value = UInt64(bitPattern: rng.pick(InterestingValues.integers))
            let width = rng.pick([1, 2, 4, 8])
            let offset = rng.chance(0.3) ? 0 : rng.nextInt(below: bytes.count)
            for i in 0..<width where offset + i < bytes.count { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        default:  // swap two bytes
            bytes.swapAt(rng.nextInt(below: bytes.count), rng.nextInt(below: bytes.count))
        }
    }
}
