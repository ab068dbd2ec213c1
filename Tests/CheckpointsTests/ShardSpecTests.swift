import Checkpoints
import Testing

@Suite struct ShardSpecTests {
    @Test func parsesIndexOverCount() throws {
        let shard = try ShardSpec("2/4")
        #expect(shard.index == 2 && shard.count == 4 && shard.description == "2/4")
    }

    @Test func refusesBadShards() {
        for text in ["5/4", "4/4", "-1/4", "0/0", "1", "a/b", "1/2/3", ""] {
            #expect(throws: InputError.self, "\(text)") { try ShardSpec(text, environment: [:]) }
        }
    }

    @Test func slicesCoverTheRangeOnceInOrder() throws {
        for total in [0, 1, 3, 7, 100] {
            for count in 1...9 {
                let slices = try (0..<count).map { try ShardSpec(index: $0, count: count).slice(of: total) }
                #expect(slices.first?.lowerBound == 0 && slices.last?.upperBound == total)
                for (a, b) in zip(slices, slices.dropFirst()) { #expect(a.upperBound == b.lowerBound) }
                let sizes = slices.map(\.count)
                #expect(sizes.max()! - sizes.min()! <= 1)
            }
        }
    }

    @Test func readsSlurmArrayAndKubernetesIndexedJob() throws {
        let slurm = try ShardSpec("auto", environment: ["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"])
        #expect(slurm == (try ShardSpec(index: 3, count: 4)))
        let offset = try ShardSpec("auto", environment: ["SLURM_ARRAY_TASK_ID": "11", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_COUNT": "2"])
        #expect(offset == (try ShardSpec(index: 1, count: 2)))
        let kubernetes = try ShardSpec("auto", environment: ["JOB_COMPLETION_INDEX": "0", "INFLUENCE_SHARD_COUNT": "8"])
        #expect(kubernetes == (try ShardSpec(index: 0, count: 8)))
        #expect(throws: InputError.self) { try ShardSpec("auto", environment: [:]) }
        #expect(throws: InputError.self) { try ShardSpec("auto", environment: ["SLURM_ARRAY_TASK_ID": "1"]) }
        #expect(throws: InputError.self) { try ShardSpec("auto", environment: ["JOB_COMPLETION_INDEX": "x", "INFLUENCE_SHARD_COUNT": "2"]) }
        #expect(throws: InputError.self) { try ShardSpec("auto", environment: ["SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4"]) }
    }

    @Test func parsesMemorySizes() throws {
        #expect(try MemorySize("16GB").bytes == 16_000_000_000)
        #expect(try MemorySize("1.5GiB").bytes == 1_610_612_736)
        #expect(try MemorySize("512 MB").bytes == 512_000_000)
        #expect(try MemorySize("2048").bytes == 2048)
        #expect(try MemorySize("8g").bytes == 8_000_000_000)
        for bad in ["", "GB", "-1GB", "0", "lots", "1e30GB"] {
            #expect(throws: InputError.self, "\(bad)") { try MemorySize(bad) }
        }
    }
}
