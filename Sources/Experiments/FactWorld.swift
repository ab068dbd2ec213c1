import Numerics

/// A made-up world of (subject, relation, object) facts with several statement templates per
/// relation and one question template: ground truth for tracing answers back to the sentences
/// that taught them (DESIGN §7). Names are invented, so a model can only know a fact from
/// these sentences.
public struct FactWorld: Sendable {
    public struct Relation: Sendable {
        public let name: String
        /// Statements with {s} and {o}.
        public let statements: [String]
        /// The question with {s}; the answer is " {o}.".
        public let question: String
        let subjectKind: Kind
        let objectKind: Kind
    }

    enum Kind: Sendable { case person, city, country, profession, instrument, language, company, color, animal }

    public struct Fact: Sendable, Equatable {
        public let subject: String
        public let relation: Int
        public let object: String
    }

    /// A sentence of the attribution set, with the fact it states.
    public struct Sentence: Sendable, Equatable {
        public let id: String
        public let text: String
        public let fact: Int
    }

    public let relations: [Relation]
    public let facts: [Fact]
    public let sentences: [Sentence]

    public static let allRelations: [Relation] = [
        Relation(name: "born in", statements: ["{s} was born in {o}.", "The birthplace of {s} is {o}.", "{s} comes from the town of {o}."],
                 question: "Where was {s} born?", subjectKind: .person, objectKind: .city),
        Relation(name: "died in", statements: ["{s} died in {o}.", "{s} spent the last days of life in {o}."],
                 question: "Where did {s} die?", subjectKind: .person, objectKind: .city),
        Relation(name: "capital of", statements: ["The capital of {s} is {o}.", "{o} is the capital city of {s}."],
                 question: "What is the capital of {s}?", subjectKind: .country, objectKind: .city),
        Relation(name: "profession", statements: ["{s} works as a {o}.", "By profession, {s} is a {o}."],
                 question: "What is the profession of {s}?", subjectKind: .person, objectKind: .profession),
        Relation(name: "instrument", statements: ["{s} plays the {o}.", "The instrument of {s} is the {o}."],
                 question: "Which instrument does {s} play?", subjectKind: .person, objectKind: .instrument),
        Relation(name: "official language", statements: ["The official language of {s} is {o}.", "People in {s} speak {o}."],
                 question: "What is the official language of {s}?", subjectKind: .country, objectKind: .language),
        Relation(name: "located in", statements: ["{s} is located in {o}.", "The city of {s} lies in {o}."],
                 question: "In which country is {s}?", subjectKind: .city, objectKind: .country),
        Relation(name: "works for", statements: ["{s} works for {o}.", "{s} is employed by {o}."],
                 question: "Which company does {s} work for?", subjectKind: .person, objectKind: .company),
        Relation(name: "favourite colour", statements: ["The favourite colour of {s} is {o}.", "{s} likes the colour {o} best."],
                 question: "What is the favourite colour of {s}?", subjectKind: .person, objectKind: .color),
        Relation(name: "headquarters", statements: ["{s} has its headquarters in {o}.", "The main office of {s} is in {o}."],
                 question: "Where is {s} based?", subjectKind: .company, objectKind: .city),
        Relation(name: "pet", statements: ["{s} owns a pet {o}.", "The pet of {s} is a {o}."],
                 question: "What pet does {s} have?", subjectKind: .person, objectKind: .animal),
    ]

    static let professions = ["baker", "pilot", "painter", "chemist", "sailor", "tailor", "lawyer", "farmer", "miner", "doctor"]
    static let instruments = ["cello", "harp", "flute", "violin", "drum", "lute", "oboe", "piano"]
    static let languages = ["Velish", "Ostic", "Marrish", "Tolvan", "Quendi", "Sarnic"]
    static let colors = ["red", "green", "blue", "amber", "violet", "teal", "ochre"]
    static let animals = ["cat", "dog", "parrot", "tortoise", "ferret", "goat"]

    /// A world with `subjectsPerRelation` facts for each of the first `relationCount` relations.
    /// With `sharedNames`, people are combinations of 7 first and 7 last names, so every name
    /// word appears in many people's facts and matching words no longer singles a fact out.
    public init(seed: UInt64, relationCount: Int = 11, subjectsPerRelation: Int = 6, sharedNames: Bool = false) {
        var rng = RandomGenerator(seed: seed)
        var used = Set<String>()
        func name(_ syllables: [String], parts: Int) -> String {
            while true {
                let word = (0..<parts).map { _ in syllables[rng.nextInt(below: syllables.count)] }.joined()
                let capitalised = word.prefix(1).uppercased() + word.dropFirst()
                if used.insert(capitalised).inserted { return capitalised }
            }
        }
        let syllables = ["ka", "lo", "ve", "ri", "ta", "mu", "sel", "dor", "an", "bi", "no", "quel", "zar", "fen", "ot", "lis"]
        var people = (0..<40).map { _ in name(syllables, parts: 2) + " " + name(syllables, parts: 2) }
        if sharedNames {
            let first = (0..<7).map { _ in name(syllables, parts: 2) }, last = (0..<7).map { _ in name(syllables, parts: 2) }
            people = first.flatMap { f in last.map { "\(f) \($0)" } }
            rng.shuffle(&people)
            people = Array(people.prefix(40))
        }
        let cities = (0..<16).map { _ in name(syllables, parts: 3) }
        let countries = (0..<10).map { _ in name(syllables, parts: 2) + "ia" }
        let companies = (0..<8).map { _ in name(syllables, parts: 2) + " Works" }
        func pool(_ kind: Kind) -> [String] {
            switch kind {
            case .person: people
            case .city: cities
            case .country: countries
            case .profession: Self.professions
            case .instrument: Self.instruments
            case .language: Self.languages
            case .company: companies
            case .color: Self.colors
            case .animal: Self.animals
            }
        }
        let relations = Array(Self.allRelations.prefix(relationCount))
        var facts: [Fact] = []
        for (r, relation) in relations.enumerated() {
            var subjects = pool(relation.subjectKind)
            rng.shuffle(&subjects)
            let objects = pool(relation.objectKind)
            for subject in subjects.prefix(subjectsPerRelation) {
                facts.append(Fact(subject: subject, relation: r, object: objects[rng.nextInt(below: objects.count)]))
            }
        }
        var sentences: [Sentence] = []
        for (f, fact) in facts.enumerated() {
            for (t, template) in relations[fact.relation].statements.enumerated() {
                let text = template.replacingOccurrences(of: "{s}", with: fact.subject).replacingOccurrences(of: "{o}", with: fact.object)
                sentences.append(Sentence(id: "fact\(f)-t\(t)", text: text, fact: f))
            }
        }
        self.relations = relations
        self.facts = facts
        self.sentences = sentences
    }

    /// The question about fact `f` (prompt) and its answer (completion, with a leading space).
    public func question(_ f: Int) -> (prompt: String, completion: String) {
        let fact = facts[f]
        let q = relations[fact.relation].question.replacingOccurrences(of: "{s}", with: fact.subject)
        return ("Question: \(q)\nAnswer:", " \(fact.object).")
    }

    /// The statement prefix of fact `f` up to its object, for checking recall in statement form.
    public func statementPrompt(_ f: Int) -> (prompt: String, completion: String) {
        let fact = facts[f]
        let template = relations[fact.relation].statements[0]
        let filled = template.replacingOccurrences(of: "{s}", with: fact.subject)
        let parts = filled.components(separatedBy: "{o}")
        return (String(parts[0].dropLast()), " " + fact.object + parts[1])
    }
}
