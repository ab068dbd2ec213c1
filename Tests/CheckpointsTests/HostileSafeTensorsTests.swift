import Checkpoints
import Foundation
import Testing

/// Headers whose numbers are individually valid but whose products overflow.
@Suite struct HostileSafeTensorsTests {
    /// A file with exactly this header and no data.
    static func file(header: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-\(UUID().uuidString).safetensors")
        var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) }
        bytes += Array(header.utf8)
        try Data(bytes).write(to: url)
        return url
    }

    /// [2^62] F32 needs 2^64 bytes, which wraps to 0 and so matched empty data_offsets.
    @Test(arguments: ["[4611686018427387904]", "[2305843009213693952, 2]", "[4294967296, 4294967296]"])
    func aShapeWhoseByteCountOverflowsIsRefused(shape: String) throws {
        let url = try Self.file(header: #"{"w": {"dtype": "F32", "shape": \#(shape), "data_offsets": [0, 0]}}"#)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect {
            try SafeTensorsFile(url: url)
        } throws: { error in
            "\(error)".contains("impossibly large shape") && "\(error)".contains(url.path)
        }
    }
}
