import Curvature
import Foundation
import Influence
import Models
import Testing
import Tokenization

/// The values `influence score` prints in multi-stage mode, against the library's computation
/// on the same models, factors and tokens: ⟨(G_ft+λ_ft)⁻¹∇f_ft, (G_pt+λ_pt)⁻¹∇L_pt⟩.
@Suite struct MultiStageValueTests {
    typealias CLI = CommandLineTests

    @Test func printedMultiStageScoresEqualTheLibrarys() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        func succeed(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> CLI.Result {
            let result = try CLI.run(arguments)
            #expect(result.status == 0, "\(arguments.first ?? ""): \(result.standardError)", sourceLocation: sourceLocation)
            return result
        }
        // Pre-trained: the example model; fine-tuned: two epochs on the question data.
        let pretrained = CLI.example
        _ = try succeed(["train", "--from", pretrained, "--data", "\(CLI.data)/finetune.jsonl", "--out", path("ft"), "--epochs", "2"])
        _ = try succeed(["fit", pretrained, "--data", "\(CLI.data)/train.jsonl", "--out", path("f-pt")])
        _ = try succeed(["fit", path("ft"), "--data", "\(CLI.data)/finetune.jsonl", "--out", path("f-ft")])
        let ftDamping = 1e-2, ptDamping = 1e-3
        let printed = try succeed(["score", "--pretrained", pretrained, "--pretrained-factors", path("f-pt"), "--finetuned", path("ft"),
                                   "--finetuned-factors", path("f-ft"), "--damping-ft", "\(ftDamping)", "--damping-pt", "\(ptDamping)",
                                   "--queries", "\(CLI.data)/questions.jsonl", "--train", "\(CLI.data)/train.jsonl"])
        let object = try JSONSerialization.jsonObject(with: Data(printed.standardOutput.utf8)) as! [String: Any]
        let scores = (object["scores"] as! [[NSNumber]]).map { $0.map(\.doubleValue) }

        // The library on the same inputs, tokenized as DESIGN §8 says.
        let ptModel = try DecoderModel(directory: URL(fileURLWithPath: pretrained))
        let ftModel = try DecoderModel(directory: URL(fileURLWithPath: path("ft")))
        let tokenizer = try BPETokenizer(contentsOf: URL(fileURLWithPath: pretrained).appendingPathComponent("tokenizer.json"))
        func records(_ name: String) throws -> [[String: String]] {
            try String(contentsOfFile: "\(CLI.data)/\(name)", encoding: .utf8).split(separator: "\n")
                .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: String] }
        }
        let queryRecords = try records("questions.jsonl"), trainRecords = try records("train.jsonl")
        let queries = queryRecords.map { r in
            let prompt = tokenizer.encode(r["prompt"]!)
            return TokenizedExample(tokens: prompt + tokenizer.encode(r["completion"]!), promptLength: prompt.count)
        }
        let documents = trainRecords.map { TokenizedExample(tokens: tokenizer.encode($0["text"]!)) }
        #expect(object["queries"] as? [String] == queryRecords.map { $0["id"]! })
        #expect(object["train"] as? [String] == trainRecords.map { $0["id"]! })
        let (_, ftFactors) = try FactorStore.readFactors(URL(fileURLWithPath: path("f-ft")))
        let (_, ptFactors) = try FactorStore.readFactors(URL(fileURLWithPath: path("f-pt")))
        func library(_ preconditioners: [Preconditioner]) throws -> [[Double]] {
            try InfluenceScorer(model: ftModel, layouts: ftFactors.layouts, queries: queries, preconditioners: preconditioners)
                .score(model: ptModel, documents: documents).total
        }
        let ft = EKFACPreconditioner(factors: ftFactors, damping: .absolute(ftDamping))
        let pt = EKFACPreconditioner(factors: ptFactors, damping: .absolute(ptDamping))
        let expected = try library([ft, pt])
        let scale = expected.joined().map(abs).max()!
        #expect(scale > 0)
        for q in expected.indices {
            for d in expected[q].indices {
                #expect(abs(scores[q][d] - expected[q][d]) <= 1e-5 * max(abs(expected[q][d]), 1e-3 * scale),
                        "query \(q), document \(d): printed \(scores[q][d]), library \(expected[q][d])")
            }
        }
        // The check tells the stages apart: exchanging the two factor sets moves the scores
        // far outside the tolerance.
        let swapped = try library([EKFACPreconditioner(factors: ptFactors, damping: .absolute(ptDamping)),
                                   EKFACPreconditioner(factors: ftFactors, damping: .absolute(ftDamping))])
        let difference = zip(swapped.joined(), expected.joined()).map { abs($0 - $1) }.max()!
        #expect(difference > 1e-2 * scale, "swapped stages give nearly the same scores (\(difference) vs scale \(scale))")
    }
}
