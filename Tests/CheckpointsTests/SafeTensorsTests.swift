import Foundation
import XCTest
import Checkpoints

final class SafeTensorsTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// A file with exactly this header JSON and these data bytes.
    func rawFile(_ name: String, header: String, data: [UInt8], declaredLength: UInt64? = nil) throws -> URL {
        let headerBytes = Array(header.utf8)
        var bytes: [UInt8] = []
        var length = (declaredLength ?? UInt64(headerBytes.count)).littleEndian
        withUnsafeBytes(of: &length) { bytes += $0 }
        bytes += headerBytes + data
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    func assertFails(_ url: URL, containing fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensorsFile(url: url), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(fragment), "message \"\(message)\" lacks \"\(fragment)\"", file: file, line: line)
            XCTAssertTrue(message.contains(url.path), "message \"\(message)\" does not name the file", file: file, line: line)
            XCTAssertFalse(message.contains("\n"), "message is not one line", file: file, line: line)
        }
    }

    func testRoundTripThroughWriter() throws {
        var writer = SafeTensorsWriter(metadata: ["format": "pt", "note": "quote \" and\nnewline"])
        let floats: [Float] = [1.5, -2.25, .pi, 0, -0, 1e-30, 3e30]
        writer.add("a.weight", shape: [7], floats: floats)
        writer.add("b", shape: [2, 2], doubles: [1, 2.5, -3, 1e-300])
        writer.add("tokens", shape: [3], integers: [0, -5, Int(Int32.max) + 7])
        writer.add("empty", shape: [0, 4], floats: [])
        let url = directory.appendingPathComponent("round.safetensors")
        try writer.write(to: url)

        let file = try SafeTensorsFile(url: url)
        XCTAssertEqual(try file.floats("a.weight"), floats)
        XCTAssertEqual(try file.doubles("b"), [1, 2.5, -3, 1e-300])
        XCTAssertEqual(try file.integers("tokens"), [0, -5, Int(Int32.max) + 7])
        XCTAssertEqual(file.info("b")?.shape, [2, 2])
        XCTAssertEqual(file.info("empty")?.elementCount, 0)
        XCTAssertEqual(file.metadata, ["format": "pt", "note": "quote \" and\nnewline"])
        // The data section starts 8-byte aligned.
        let headerLength = try Data(contentsOf: url).prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertEqual(headerLength % 8, 0)
        // No temporary file is left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["round.safetensors"])
    }

    func testHalfAndBFloat16AreWidenedToFloat() throws {
        // 1.5 is 0x3E00 in IEEE half and 0x3FC0 in bfloat16; -2 is 0xC000 and 0xC000;
        // 65504 (largest half) is 0x7BFF; bfloat16 0x7F80 is +infinity.
        let url = try rawFile(
            "half.safetensors",
            header: #"{"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[3],"data_offsets":[6,12]}}"#,
            data: [0x00, 0x3E, 0x00, 0xC0, 0xFF, 0x7B, 0xC0, 0x3F, 0x00, 0xC0, 0x80, 0x7F])
        let file = try SafeTensorsFile(url: url)
        XCTAssertEqual(try file.floats("h"), [1.5, -2, 65504])
        XCTAssertEqual(try file.floats("b"), [1.5, -2, .infinity])
    }

    func testTruncatedFileShorterThanLengthPrefix() throws {
        let url = directory.appendingPathComponent("tiny.safetensors")
        try Data([1, 2, 3]).write(to: url)
        assertFails(url, containing: "truncated")
    }

    func testHeaderLengthPastEndOfFile() throws {
        let url = try rawFile("past.safetensors", header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                              data: [0, 0, 0, 0], declaredLength: 4096)
        assertFails(url, containing: "past the end")
    }

    func testTruncatedData() throws {
        let url = try rawFile("short.safetensors", header: #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
                              data: [0, 0, 0, 0, 0, 0])
        assertFails(url, containing: "beyond the end")
    }

    func testUnknownDType() throws {
        let url = try rawFile("dtype.safetensors", header: #"{"a":{"dtype":"F12","shape":[1],"data_offsets":[0,4]}}"#,
                              data: [0, 0, 0, 0])
        assertFails(url, containing: "unknown dtype F12")
    }

    func testSizeDisagreesWithShape() throws {
        let url = try rawFile("size.safetensors", header: #"{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,8]}}"#,
                              data: [UInt8](repeating: 0, count: 8))
        assertFails(url, containing: "needs 24")
    }

    func testOverlappingTensors() throws {
        let url = try rawFile(
            "overlap.safetensors",
            header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
            data: [UInt8](repeating: 0, count: 12))
        assertFails(url, containing: "overlapping")
    }

    func testInvalidJSONHeader() throws {
        let url = try rawFile("json.safetensors", header: #"{"a":{"dtype":"F32","#, data: [])
        assertFails(url, containing: "invalid JSON")
    }

    func testNegativeOrFractionalOffsets() throws {
        let url = try rawFile("neg.safetensors", header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#, data: [0, 0, 0, 0])
        assertFails(url, containing: "non-negative integer")
        let url2 = try rawFile("frac.safetensors", header: #"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])
        assertFails(url2, containing: "non-negative integer")
    }

    func testMissingFileAndDirectory() throws {
        assertFails(directory.appendingPathComponent("nothing.safetensors"), containing: "not found")
        assertFails(directory, containing: "directory")
    }

    func testReadingIntegersAsFloatsIsAnError() throws {
        var writer = SafeTensorsWriter()
        writer.add("ids", shape: [2], integers: [1, 2])
        let url = directory.appendingPathComponent("ints.safetensors")
        try writer.write(to: url)
        let file = try SafeTensorsFile(url: url)
        XCTAssertThrowsError(try file.floats("ids"))
        XCTAssertThrowsError(try file.floats("absent")) { XCTAssertTrue("\($0)".contains("no tensor named absent")) }
    }
}
