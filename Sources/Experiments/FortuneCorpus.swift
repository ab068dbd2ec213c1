import Checkpoints
import Foundation

/// Real English text that no one here wrote: the fortune cookies of Debian's `fortunes`
/// package (`apt-get install fortunes`; /usr/share/games/fortunes): quotations, aphorisms,
/// definitions and jokes by many authors, a few to a few dozen words each, about the length of
/// a Penn Treebank sentence (the paper's corpus, not reachable offline).
public enum FortuneCorpus {
    public static let defaultDirectory = "/usr/share/games/fortunes"

    /// The collections of prose (not ASCII art, verse layouts or non-English ones).
    public static let prose = [
        "literature", "wisdom", "people", "science", "humorists", "platitudes", "politics", "work", "education", "love",
        "law", "cookie", "fortunes", "miscellaneous", "news", "pets", "food", "medicine", "men-women", "definitions",
        "computers", "kids", "sports", "magic", "riddles", "drugs", "goedel", "paradoxum",
    ]

    /// Every fortune of the prose collections in `directory`, whitespace collapsed, kept when
    /// 40 to 400 characters of printable ASCII, duplicates dropped, in file order.
    public static func load(directory: String = defaultDirectory) throws -> [String] {
        var texts: [String] = [], seen = Set<String>(), found = 0
        for name in prose {
            let path = (directory as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            found += 1
            let content = String(decoding: data, as: UTF8.self)
            for entry in content.components(separatedBy: "\n%\n") {
                let text = entry.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).joined(separator: " ")
                guard (40...400).contains(text.count), text.unicodeScalars.allSatisfy({ (32...126).contains($0.value) }),
                      seen.insert(text).inserted else { continue }
                texts.append(text)
            }
        }
        guard found > 0 else {
            throw InputError("\(directory): no fortune files (install Debian's fortunes package: apt-get install fortunes)")
        }
        return texts
    }
}
