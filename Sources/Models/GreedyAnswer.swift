import Foundation
import Tokenization

/// Greedy generation for the command line: stops after `maxNewTokens` tokens, at the
/// end-of-text token (or another stop token: EOS, the end of a chat turn), at the end of the context and, with `stopAtSentenceEnd`, at the first
/// token that holds a newline or ends the text in `.`, `!` or `?` — so that a model that runs
/// on after its answer (`Kelvik. glassblower. glassblower. gl`) gives just the answer. The
/// end-of-text token and the newline's token are not part of the result.
public enum GreedyAnswer {
    public static func generate(_ loaded: LoadedModel, prompt: [Int], maxNewTokens: Int, stopAtSentenceEnd: Bool) throws -> [Int] {
        let tokenizer = loaded.tokenizer
        let endOfText = loaded.stopTokens
        guard stopAtSentenceEnd else {
            var generated = try loaded.model.greedyContinuation(of: prompt, maxNewTokens: maxNewTokens, stopTokens: endOfText)
            if let last = generated.last, endOfText.contains(last) { generated.removeLast() }
            return generated
        }
        // One token at a time (the model re-runs the prefix for every token either way).
        var generated: [Int] = []
        while generated.count < maxNewTokens {
            guard let next = try loaded.model.greedyContinuation(of: prompt + generated, maxNewTokens: 1).first else { break }
            if endOfText.contains(next) { break }
            if tokenizer.decode([next]).contains(where: \.isNewline) { break }
            generated.append(next)
            if let last = tokenizer.decode(generated).trimmingCharacters(in: .whitespaces).last, ".!?".contains(last) { break }
        }
        return generated
    }
}
