/// A linear module whose weight enters influence (DESIGN §2).
public struct TrackedLinearModule: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable { case mlp, attention }

    /// A named, contiguous range of the module's output rows that curvature may treat as a block
    /// of its own: one head's queries, keys or values in a fused attention projection. The model
    /// knows its weight layout, so it says where the groups are; curvature only reads them.
    public struct RowGroup: Sendable, Equatable, Codable {
        public let name: String
        public let rows: Range<Int>

        public init(name: String, rows: Range<Int>) {
            self.name = name
            self.rows = rows
        }
    }

    public let name: String
    public let kind: Kind
    public let layer: Int
    public let inputSize: Int
    public let outputSize: Int
    public let hasBias: Bool
    /// Groups partitioning the output rows, in row order; empty when the rows form one whole.
    public let rowGroups: [RowGroup]

    public init(name: String, kind: Kind, layer: Int, inputSize: Int, outputSize: Int, hasBias: Bool, rowGroups: [RowGroup] = []) {
        self.name = name
        self.kind = kind
        self.layer = layer
        self.inputSize = inputSize
        self.outputSize = outputSize
        self.hasBias = hasBias
        self.rowGroups = rowGroups
    }

    /// The row groups of a fused query/key/value projection whose rows are ordered
    /// [head][q, k, v][headSize] (GPT-NeoX and BLOOM): `head{h}.q`, `head{h}.k`, `head{h}.v`.
    public static func fusedQKVRowGroups(heads: Int, headSize: Int) -> [RowGroup] {
        (0..<heads).flatMap { head in
            ["q", "k", "v"].enumerated().map { j, part in
                let start = (head * 3 + j) * headSize
                return RowGroup(name: "head\(head).\(part)", rows: start..<(start + headSize))
            }
        }
    }

    private enum CodingKeys: String, CodingKey { case name, kind, layer, inputSize, outputSize, hasBias, rowGroups }

    // Row groups are written only when there are some, so that a module without them reads as
    // it did before they existed.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try c.decode(String.self, forKey: .name), kind: try c.decode(Kind.self, forKey: .kind),
                  layer: try c.decode(Int.self, forKey: .layer), inputSize: try c.decode(Int.self, forKey: .inputSize),
                  outputSize: try c.decode(Int.self, forKey: .outputSize), hasBias: try c.decode(Bool.self, forKey: .hasBias),
                  rowGroups: try c.decodeIfPresent([RowGroup].self, forKey: .rowGroups) ?? [])
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(kind, forKey: .kind)
        try c.encode(layer, forKey: .layer)
        try c.encode(inputSize, forKey: .inputSize)
        try c.encode(outputSize, forKey: .outputSize)
        try c.encode(hasBias, forKey: .hasBias)
        if !rowGroups.isEmpty { try c.encode(rowGroups, forKey: .rowGroups) }
    }
}
