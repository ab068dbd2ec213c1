/// The pieces of a Jinja template that recognising it needs, without evaluating it: its blocks
/// ({{ … }} and {% … %}; comments dropped) with the string literals in each, unescaped as Jinja
/// does (Python escapes). Quotes are tracked, so a "}}" inside a literal does not end a block.
struct JinjaLiterals {
    struct Block {
        /// The block's text, literals included, between its delimiters.
        let code: String
        let literals: [String]
        /// `{{ … }}` (output) rather than `{% … %}` (statement).
        let isOutput: Bool
    }

    let blocks: [Block]

    var literals: [String] { blocks.flatMap(\.literals) }

    init(_ template: String) {
        let s = Array(template.unicodeScalars)
        var blocks: [Block] = []
        var i = 0
        func at(_ k: Int, _ text: String) -> Bool {
            let t = Array(text.unicodeScalars)
            return k + t.count <= s.count && Array(s[k..<(k + t.count)]) == t
        }
        while i < s.count {
            guard s[i] == "{", i + 1 < s.count, "{%#".unicodeScalars.contains(s[i + 1]) else { i += 1; continue }
            let opener = s[i + 1]
            if opener == "#" {
                var j = i + 2
                while j < s.count && !at(j, "#}") { j += 1 }
                i = j + 2
                continue
            }
            let closer = opener == "{" ? "}}" : "%}"
            var j = i + 2, literals: [String] = []
            while j < s.count && !at(j, closer) {
                if s[j] == "'" || s[j] == "\"" {
                    let (literal, end) = Self.literal(s, from: j)
                    literals.append(literal)
                    j = end
                } else {
                    j += 1
                }
            }
            let code = String(String.UnicodeScalarView(s[(i + 2)..<min(j, s.count)]))
            blocks.append(Block(code: code, literals: literals, isOutput: opener == "{"))
            i = j + 2
        }
        self.blocks = blocks
    }

    /// The literal whose opening quote is at `start`, unescaped, and the position after it.
    private static func literal(_ s: [Unicode.Scalar], from start: Int) -> (String, Int) {
        let quote = s[start]
        var out = String.UnicodeScalarView()
        var j = start + 1
        while j < s.count && s[j] != quote {
            if s[j] == "\\", j + 1 < s.count {
                let next = s[j + 1]
                j += 2
                switch next {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "\\", "'", "\"": out.append(next)
                case "u", "x":
                    let digits = next == "u" ? 4 : 2
                    if j + digits <= s.count, let value = UInt32(String(String.UnicodeScalarView(s[j..<(j + digits)])), radix: 16),
                       let scalar = Unicode.Scalar(value) {
                        out.append(scalar)
                        j += digits
                    } else {
                        out.append("\\")
                        out.append(next)
                    }
                default:
                    // Python keeps an unknown escape as written.
                    out.append("\\")
                    out.append(next)
                }
            } else {
                // Jinja normalises line breaks in the template to \n.
                if s[j] == "\r" {
                    out.append("\n")
                    if j + 1 < s.count && s[j + 1] == "\n" { j += 1 }
                } else {
                    out.append(s[j])
                }
                j += 1
            }
        }
        return (String(out), j + 1)
    }
}
