import Checkpoints
import Foundation
import Testing

@Suite struct SafeTensorsSlotFileTests {
    @Test func tensorsWrittenInAnyOrderReadBackAsAnOrdinaryFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("slots-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("t.safetensors")
        let slots = [SafeTensorsSlotFile.Slot(name: "a", dtype: .f32, shape: [2, 3]),
                     SafeTensorsSlotFile.Slot(name: "b", dtype: .f64, shape: [5]),
                     SafeTensorsSlotFile.Slot(name: "c", dtype: .f32, shape: [1])]
        let a: [Float] = [1, 2, 3, 4, 5, 6], b: [Double] = [0.5, -1, 1e300, 3, 4], c: [Float] = [7]
        do {
            let file = try SafeTensorsSlotFile(url: url, slots: slots, metadata: ["k": "v"])
            try file.write("b", doubles: b)
            try file.write("a", floats: a)
        }
        #expect(!FileManager.default.fileExists(atPath: url.path), "nothing at the final path before finish")
        // Reopened with the same header, what was written stays.
        let file = try SafeTensorsSlotFile(url: url, slots: slots, metadata: ["k": "v"])
        try file.write("c", floats: c)
        try file.finish()
        let read = try SafeTensorsFile(url: url)
        #expect(read.metadata == ["k": "v"] && read.tensors.map(\.name) == ["a", "b", "c"])
        #expect(try read.floats("a") == a && read.doubles("b") == b && read.floats("c") == c)
        #expect(try Array(read.mappedFloats("a")) == a && Array(read.mappedDoubles("b")) == b)
        #expect(throws: CheckpointError.self) { try read.mappedDoubles("a") }
        read.releasePages("a")
        #expect(Array(try read.mappedFloats("a")) == a, "released pages are read again")

        // A different header starts the partial file afresh.
        let other = try SafeTensorsSlotFile(url: url, slots: Array(slots.prefix(2)))
        try other.write("a", floats: [Float](repeating: 9, count: 6))
        try other.write("b", doubles: b)
        try other.finish()
        #expect(try SafeTensorsFile(url: url).floats("a") == [Float](repeating: 9, count: 6))
    }
}
