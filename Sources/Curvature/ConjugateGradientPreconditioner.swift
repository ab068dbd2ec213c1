import Checkpoints
import Foundation

/// Conjugate gradients on (G + λI)x = ∇f for each query, with the exact Gauss–Newton products
/// of a data set (`GaussNewtonProduct`): influence with the exact damped curvature, the ground
/// truth the approximations are measured against (the paper's Table 1). G couples every
/// tracked module, so each query's gradient is solved over all modules at once
/// (`apply(toAll:)`); there is no per-module form.
///
/// Each solve starts from x = 0 and stops when ‖b − (G + λI)x‖ ≤ `tolerance`·‖b‖, checked on
/// the true residual (one product more) so that rounding in the recurrence cannot fake
/// convergence; a solve that does not get there in `maxIterations` is an error naming the
/// residual reached. Vectors are Float64; the products run in Float32.
public final class ConjugateGradientPreconditioner: Preconditioner {
    public let product: GaussNewtonProduct
    public let damping: Double
    public let tolerance: Double
    public let maxIterations: Int
    public var layouts: [ModuleLayout] { product.layouts }
    /// Per solved query: iterations and the final relative residual.
    public private(set) var solves: [(iterations: Int, residual: Double)] = []
    /// One line per solved query (for progress on long runs).
    public var log: (String) -> Void = { _ in }

    public init(product: GaussNewtonProduct, damping: Double, tolerance: Double = 1e-5, maxIterations: Int = 1000) throws {
        guard damping > 0, damping.isFinite else {
            throw InputError("cg needs a positive absolute damping (such as --damping 0.01): G is only positive semi-definite, so λ = \(damping) leaves it singular")
        }
        guard tolerance > 0, tolerance < 1 else { throw InputError("cg tolerance \(tolerance): expected a relative residual in (0, 1)") }
        self.product = product
        self.damping = damping
        self.tolerance = tolerance
        self.maxIterations = maxIterations
    }

    public func apply(module m: Int, to gradient: UnsafeMutablePointer<Float>) {
        preconditionFailure("cg couples the modules: precondition whole queries with apply(toAll:)")
    }

    public func apply(toAll gradients: [UnsafeMutablePointer<Float>]) throws {
        product.scatter(try solve(product.flatten(gradients)), into: gradients)
    }

    /// (G + λI)·v for a flat vector (the modules' matrices one after the other).
    public func multiply(_ v: [Double]) -> [Double] { product.multiply(v, damping: damping) }

    /// x with (G + λI)x = b to the relative residual `tolerance`.
    public func solve(_ b: [Double]) throws -> [Double] {
        let bNorm = norm(b)
        var x = [Double](repeating: 0, count: b.count)
        guard bNorm > 0 else {
            solves.append((0, 0))
            return x
        }
        var r = b, p = b, rr = dot(r, r)
        var iterations = 0, residual = 1.0
        while iterations < maxIterations {
            let Ap = multiply(p)
            let alpha = rr / dot(p, Ap)
            for i in x.indices {
                x[i] += alpha * p[i]
                r[i] -= alpha * Ap[i]
            }
            iterations += 1
            let next = dot(r, r)
            if next.squareRoot() <= tolerance * bNorm {
                // The recurrence's residual drifts from the true one in finite precision: confirm.
                let Ax = multiply(x)
                for i in r.indices { r[i] = b[i] - Ax[i] }
                residual = norm(r) / bNorm
                if residual <= tolerance { break }
                rr = dot(r, r)
                p = r
                continue
            }
            let beta = next / rr
            rr = next
            for i in p.indices { p[i] = r[i] + beta * p[i] }
            residual = next.squareRoot() / bNorm
        }
        guard residual <= tolerance else {
            throw InputError(String(format: "cg did not converge within %d iterations: relative residual %.3g, asked %.3g (raise --cg-iterations or --damping)",
                                    maxIterations, residual, tolerance))
        }
        solves.append((iterations, residual))
        log(String(format: "cg: query %d solved in %d iterations (relative residual %.2g)", solves.count, iterations, residual))
        return x
    }

}
