import Models
import Testing
import Training

/// A learning rate that blows the weights up stops training with an error at the first
/// non-finite loss or weight, instead of finishing with loss NaN.
@Suite struct DivergenceTests {
    @Test func aHugeLearningRateStopsTraining() throws {
        let model = TrainingTests.toyModel()
        var configuration = Trainer.Configuration()
        configuration.learningRate = 1e30
        configuration.epochs = 3
        configuration.clipNorm = 0
        let trainer = Trainer(model: model, examples: TrainingTests.toyCorpus(), configuration: configuration)
        var steps = 0
        #expect(throws: Trainer.DivergedError.self) { try trainer.train { _ in steps += 1 } }
        #expect(steps < trainer.totalSteps)
    }

    @Test func anOrdinaryRunDoesNotStop() throws {
        let trainer = Trainer(model: TrainingTests.toyModel(), examples: TrainingTests.toyCorpus(), configuration: Trainer.Configuration())
        #expect(try trainer.train().isFinite)
    }
}
