import Numerics

extension FactTracingBenchmark {
    /// One trial of the re-ranking evaluation: a random subset of the held-out questions, each
    /// with the sentences every method has to rank.
    public struct RerankingTrial: Sendable {
        /// Positions in `World.queries` (and `data.heldOut`).
        public let queries: [Int]
        /// For each of `queries`, the candidate sentences in increasing order.
        public let candidates: [[Int]]
    }

    /// Stage 5: per trial, `queriesPerTrial` held-out questions, each with its candidates: the
    /// true sources, BM25's top hits, sentences with the same answer, and random sentences.
    public func rerankingTrials(_ world: World, bm25Ranking: [[Int]]) -> [RerankingTrial] {
        let o = options, facts = world.data.world.facts, sentences = world.data.world.sentences
        return (0..<o.trials).map { trial in
            var rng = RandomGenerator(seed: o.seed &+ 1000 &+ UInt64(trial))
            var chosen = Array(world.data.heldOut.indices)
            rng.shuffle(&chosen)
            chosen = Array(chosen.prefix(o.queriesPerTrial))
            let candidates = chosen.map { qi -> [Int] in
                let fact = world.data.heldOut[qi]
                var candidates = Set(world.sources[qi]).union(bm25Ranking[qi].prefix(o.bm25Candidates))
                var sameObject = sentences.indices.filter {
                    facts[sentences[$0].fact].object == facts[fact].object && sentences[$0].fact != fact
                }
                rng.shuffle(&sameObject)
                candidates.formUnion(sameObject.prefix(o.sameObjectCandidates))
                var others = Array(sentences.indices)
                rng.shuffle(&others)
                candidates.formUnion(others.prefix(o.randomCandidates))
                return candidates.sorted()
            }
            return RerankingTrial(queries: chosen, candidates: candidates)
        }
    }

    /// Stage 6: each method's MRR (of the first true source) and Recall@10 (of all true
    /// sources), averaged over each trial's queries, then mean ± std over trials.
    public static func statistics(_ scores: [MethodScores], trials: [RerankingTrial], world: World) -> [MethodResult] {
        scores.map { method in
            let perTrial = trials.map { trial -> (mrr: Double, recall: Double) in
                var mrr = 0.0, recall = 0.0
                for (qi, candidates) in zip(trial.queries, trial.candidates) {
                    let sources = world.sources[qi], row = method.scores[qi]
                    let ranked = candidates.sorted { (row[$0], -$0) > (row[$1], -$1) }
                    let firstTrue = ranked.firstIndex { sources.contains($0) }!   // the sources are always candidates
                    let inTop = ranked.prefix(10).filter { sources.contains($0) }.count
                    mrr += 1 / Double(firstTrue + 1)
                    recall += Double(inTop) / Double(sources.count)
                }
                return (mrr / Double(trial.queries.count), recall / Double(trial.queries.count))
            }
            let mrr = meanAndStd(perTrial.map(\.mrr)), recall = meanAndStd(perTrial.map(\.recall))
            return MethodResult(method: method.method.name, damping: method.method.dampingLabel,
                                mrrMean: mrr.mean, mrrStd: mrr.std, recallMean: recall.mean, recallStd: recall.std)
        }
    }

    /// The mean and the sample standard deviation (n − 1; 0 for a single value).
    static func meanAndStd(_ values: [Double]) -> (mean: Double, std: Double) {
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(values.count - 1, 1))
        return (mean, variance.squareRoot())
    }
}
