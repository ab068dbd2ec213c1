import Checkpoints
import Curvature
import Influence
import Models
import Numerics
import Testing
import TestSupport

@Suite struct ResourcePlanTests {
    /// The plan knows a model only by its shape; what it counts must equal the loaded model's.
    @Test func planFromTheShapeEqualsTheLoadedModel() {
        let model = microModel()
        let plan = ResourcePlan(hyperparameters: model.hyperparameters, selection: .all, sequenceLength: 7, batchSize: 2,
                                queries: 3, maxMemory: nil)
        #expect(plan.weightBytes == model.weightBytes)
        let layouts = model.moduleLayouts(ModuleSelection.all, attentionBlocks: AttentionBlocks.perHead, includeBias: false)
        #expect(plan.layouts == layouts)
        #expect(plan.trackedParameters == layouts.reduce(0) { $0 + $1.parameterCount })
        #expect(plan.activationBytes == DecoderActivations.estimatedBytes(model.hyperparameters, tokens: 14, longestSequence: 7))
        // Λ holds one Float32 per tracked weight; the queries one per weight and query.
        #expect(plan.factorFileBytes.lambda == 4 * plan.trackedParameters)
        #expect(plan.scorePeakBytes > plan.weightBytes + plan.activationBytes + 4 * 3 * plan.trackedParameters)
    }

    /// A budget below what one module needs is refused by the plan as by `fit`; a large one
    /// needs one pass each.
    @Test func budgetsGivePassCounts() throws {
        let model = microModel()
        let plan = { (budget: Int?) in
            ResourcePlan(hyperparameters: model.hyperparameters, selection: .all, sequenceLength: 7, batchSize: 1, queries: 1, maxMemory: budget)
        }
        let unlimited = try plan(nil).fitPasses()
        #expect(unlimited == (1, 1))
        #expect(try plan(1 << 40).fitPasses() == (1, 1))
        let fixed = plan(nil).fit.fixedBytes, largest = plan(nil).fit.covarianceBytes.max()!
        #expect(throws: InputError.self) { try plan(fixed + largest - 1).fitPasses() }
        // Enough for pass 1's largest module alone: several passes over the data.
        let pass2 = plan(nil).fit.correctionBytes.max()!
        let tight = try plan(fixed + max(largest, pass2)).fitPasses()
        #expect(tight.covariances > 1 && tight.corrections > 1)
        #expect(plan(nil).fitPeakBytes >= fixed + plan(nil).fit.covarianceBytes.reduce(0, +))
    }
}
