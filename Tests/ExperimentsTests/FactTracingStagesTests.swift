import Curvature
import Experiments
import Testing

/// The fact-tracing benchmark's stages, run through the library on a tiny world (a few
/// seconds): every stage's output has the shape the next one needs, and a run is reproducible.
@Suite struct FactTracingStagesTests {
    static var tiny: FactTracingBenchmark.Options {
        var o = FactTracingBenchmark.Options()
        o.subjectsPerRelation = 2
        o.pretrainEpochs = 3
        o.finetuneEpochs = 2
        o.hiddenSize = 32
        o.vocabularySize = 384
        o.trials = 2
        o.queriesPerTrial = 6
        o.dampings = [1e-3]
        o.relativeDampings = [1]
        o.randomCandidates = 8
        o.bm25Candidates = 8
        o.sameObjectCandidates = 4
        return o
    }

    @Test func everyStageFeedsTheNext() throws {
        let options = Self.tiny
        let benchmark = FactTracingBenchmark(options: options) { _ in }
        let world = try benchmark.makeWorld()
        let facts = world.data.world.facts.count, sentences = world.data.world.sentences.count
        #expect(world.data.fineTuned.count + world.data.heldOut.count == facts)
        #expect(Set(world.data.fineTuned).isDisjoint(with: world.data.heldOut))
        #expect(world.queries.count == world.data.heldOut.count && world.questions.count == world.data.fineTuned.count)
        #expect(world.sources.allSatisfy { !$0.isEmpty })

        let models = try benchmark.train(world)
        let factors = try benchmark.fit(world, models)
        let scores = try benchmark.score(world, models, factors)
        let methods: [AttributionMethod] = [.bm25(.questionAndAnswer), .bm25(.questionOnly), .repSim, .gdp(.fineTuned), .gdp(.acrossStages)]
            + [Damping.absolute(1e-3), .automatic, .relative(1)].flatMap(AttributionMethod.influence)
        #expect(scores.methods.map(\.method) == methods)
        for method in scores.methods {
            #expect(method.scores.count == world.queries.count)
            #expect(method.scores.allSatisfy { $0.count == sentences && $0.allSatisfy(\.isFinite) }, "\(method.method.name)")
        }

        let trials = benchmark.rerankingTrials(world, bm25Ranking: scores.bm25Ranking)
        #expect(trials.count == options.trials)
        for trial in trials {
            #expect(trial.queries.count == min(options.queriesPerTrial, world.data.heldOut.count))
            #expect(Set(trial.queries).count == trial.queries.count)
            for (query, candidates) in zip(trial.queries, trial.candidates) {
                #expect(Set(world.sources[query]).isSubset(of: candidates), "the true sources are always candidates")
                #expect(candidates == Array(Set(candidates)).sorted())
                #expect(candidates.allSatisfy { (0..<sentences).contains($0) })
            }
        }

        let results = FactTracingBenchmark.statistics(scores.methods, trials: trials, world: world)
        #expect(results.map(\.method) == methods.map(\.name))
        #expect(results.map(\.damping) == methods.map(\.dampingLabel))
        #expect(results.filter { $0.damping == "—" }.count == 5)
        for result in results {
            #expect((0...1).contains(result.mrrMean) && (0...1).contains(result.recallMean), "\(result.method) \(result.damping)")
            #expect(result.mrrStd >= 0 && result.recallStd >= 0)
        }
    }

    @Test func aSecondRunGivesIdenticalNumbers() throws {
        func run() throws -> [String] {
            let report = try FactTracingBenchmark(options: Self.tiny) { _ in }.run()
            return report.results.map { "\($0.method) \($0.damping) \($0.mrrMean) \($0.mrrStd) \($0.recallMean) \($0.recallStd)" }
                + report.accuracy.map { "\($0.model) \($0.statementsAllFacts) \($0.questionsFineTuned) \($0.questionsHeldOut)" }
                + ["\(report.relativeDistance) \(report.candidatesPerQuery)"]
        }
        let first = try run()
        #expect(first.count > 5)
        #expect(try run() == first)
    }
}
