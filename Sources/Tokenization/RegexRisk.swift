/// A screen for pre-tokeniser regexes from tokenizer.json. The matcher backtracks, so a
/// repeated group such as (a|a)*b or (a+)+ takes exponential time on a line of a's (the
/// fuzzer found (a|a)*b taking 10 s on 36 characters). Real tokenizers (BLOOM's Split)
/// repeat only characters and classes, so a repeated group is refused.
enum RegexRisk {
    static func repeatsAGroup(_ pattern: String) -> Bool {
        var escaped = false, inClass = false, afterGroup = false
        for character in pattern {
            let literal = escaped || inClass   // an escaped or bracketed ")" closes no group
            if escaped {
                escaped = false
            } else if inClass {
                if character == "\\" { escaped = true } else if character == "]" { inClass = false }
            } else {
                switch character {
                case "\\": escaped = true
                case "[": inClass = true
                case "*", "+", "{": if afterGroup { return true }
                default: break
                }
            }
            afterGroup = !literal && character == ")"
        }
        return false
    }
}
