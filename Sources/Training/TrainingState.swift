import Checkpoints
import Foundation
import Models
import Numerics

/// What resuming a training run needs besides the weights: the optimizer's moments and step
/// count, and the next optimizer step. Saved as safetensors next to a checkpoint.
public struct TrainingState {
    public let firstMoment: [Float]
    public let secondMoment: [Float]
    public let optimizerSteps: Int
    public let nextStep: Int

    public init(trainer: Trainer, nextStep: Int) {
        let count = trainer.optimizer.firstMoment.count
        firstMoment = Array(UnsafeBufferPointer(start: trainer.optimizer.firstMoment.values, count: count))
        secondMoment = Array(UnsafeBufferPointer(start: trainer.optimizer.secondMoment.values, count: count))
        optimizerSteps = trainer.optimizer.stepCount
        self.nextStep = nextStep
    }

    /// Puts the moments and step count into a trainer for the same model layout.
    public func restore(into trainer: Trainer) throws {
        guard firstMoment.count == trainer.optimizer.firstMoment.count else {
            throw InputError("the saved optimizer state does not fit this model")
        }
        trainer.optimizer.firstMoment.values.update(from: firstMoment, count: firstMoment.count)
        trainer.optimizer.secondMoment.values.update(from: secondMoment, count: secondMoment.count)
        trainer.optimizer.restore(stepCount: optimizerSteps)
    }

    public func write(to url: URL) throws {
        var writer = SafeTensorsWriter(metadata: ["optimizer_steps": String(optimizerSteps), "next_step": String(nextStep)])
        writer.add("adamw.first_moment", shape: [firstMoment.count], floats: firstMoment)
        writer.add("adamw.second_moment", shape: [secondMoment.count], floats: secondMoment)
        try writer.write(to: url)
    }

    public init(contentsOf url: URL) throws {
        let file = try SafeTensorsFile(url: url)
        guard let steps = file.metadata["optimizer_steps"].flatMap(Int.init), let next = file.metadata["next_step"].flatMap(Int.init) else {
            throw CheckpointError(url, "not a training state (no step counts)")
        }
        firstMoment = try file.floats("adamw.first_moment")
        secondMoment = try file.floats("adamw.second_moment")
        optimizerSteps = steps
        nextStep = next
    }
}
