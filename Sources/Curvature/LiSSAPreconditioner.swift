import Checkpoints
import Foundation
import Numerics

/// LiSSA (Agarwal et al. 2017, as Koh & Liang use it): the stochastic Neumann series
/// hⱼ = v + hⱼ₋₁ − (G_b + λI)hⱼ₋₁ / scale, with G_b the Gauss–Newton matrix of one random batch
/// of the curvature data at each step, gives h_depth / scale → (G + λI)⁻¹v when `scale`
/// exceeds the largest eigenvalue of G + λI; `repeats` runs (each its own order of batches)
/// are averaged. A run whose iterate grows past 10⁶ × ‖v‖ · depth has diverged: an error
/// saying that `scale` is too small.
public final class LiSSAPreconditioner: Preconditioner {
    public let product: GaussNewtonProduct
    public let damping: Double
    public let depth: Int
    public let scale: Double
    public let repeats: Int
    public let seed: UInt64
    public var layouts: [ModuleLayout] { product.layouts }
    private var solved = 0
    public var log: (String) -> Void = { _ in }

    public init(product: GaussNewtonProduct, damping: Double, depth: Int = 1000, scale: Double = 10, repeats: Int = 1, seed: UInt64 = 0) throws {
        guard damping > 0, damping.isFinite else { throw InputError("lissa needs a positive absolute damping (such as --damping 0.01)") }
        guard depth > 0, repeats > 0 else { throw InputError("lissa needs a positive depth and number of repeats") }
        guard scale > 0, scale.isFinite else { throw InputError("lissa scale \(scale): expected a positive number above G's largest eigenvalue") }
        self.product = product
        self.damping = damping
        self.depth = depth
        self.scale = scale
        self.repeats = repeats
        self.seed = seed
    }

    public func apply(module m: Int, to gradient: UnsafeMutablePointer<Float>) {
        preconditionFailure("lissa couples the modules: precondition whole queries with apply(toAll:)")
    }

    public func apply(toAll gradients: [UnsafeMutablePointer<Float>]) throws {
        product.scatter(try solve(product.flatten(gradients)), into: gradients)
    }

    /// The estimate of (G + λI)⁻¹v.
    public func solve(_ v: [Double]) throws -> [Double] {
        var total = [Double](repeating: 0, count: v.count)
        let limit = 1e6 * max(norm(v), .leastNormalMagnitude) * Double(depth)
        for r in 0..<repeats {
            var rng = RandomGenerator(seed: seed &+ UInt64(r) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(solved))
            var h = v
            for step in 0..<depth {
                let Gh = product.multiply(h, damping: damping, batch: rng.nextInt(below: product.batchCount))
                for i in h.indices { h[i] = v[i] + h[i] - Gh[i] / scale }
                let size = norm(h)
                guard size.isFinite, size <= limit else {
                    throw InputError(String(format: "lissa diverged at step %d of %d (‖h‖ = %.3g): --lissa-scale %g must exceed the largest eigenvalue of G + λI; raise it",
                                            step + 1, depth, size, scale))
                }
            }
            for i in total.indices { total[i] += h[i] / scale / Double(repeats) }
        }
        solved += 1
        log("lissa: query \(solved): \(repeats) × \(depth) steps")
        return total
    }
}
