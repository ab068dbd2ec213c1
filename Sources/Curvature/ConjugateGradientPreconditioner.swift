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
///
/// With `preconditioner` (EK-FAC's inverse, from factors of the same modules) this is
/// preconditioned CG: the answer is the same exact solve to the same tolerance, only the
/// iterations are fewer, since M⁻¹(G + λI) is much closer to the identity than G + λI.
public final class ConjugateGradientPreconditioner: Preconditioner {
    public let product: GaussNewtonProduct
    /// M⁻¹ of preconditioned CG, applied module by module; nil: plain CG.
    public let preconditioner: Preconditioner?
    public let damping: Double
    public let tolerance: Double
    public let maxIterations: Int
    public var layouts: [ModuleLayout] { product.layouts }
    /// Per solved query: iterations and the final relative residual.
    public private(set) var solves: [(iterations: Int, residual: Double)] = []
    /// One line per solved query (for progress on long runs).
    public var log: (String) -> Void = { _ in }

    public init(product: GaussNewtonProduct, damping: Double, tolerance: Double = 1e-5, maxIterations: Int = 1000,
                preconditioner: Preconditioner? = nil) throws {
        guard damping > 0, damping.isFinite else {
            throw InputError("cg needs a positive absolute damping (such as --damping 0.01): G is only positive semi-definite, so λ = \(damping) leaves it singular")
        }
        guard tolerance > 0, tolerance < 1 else { throw InputError("cg tolerance \(tolerance): expected a relative residual in (0, 1)") }
        if let preconditioner, preconditioner.layouts != product.layouts {
            throw InputError("cg: the preconditioner's modules differ from the Gauss-Newton product's")
        }
        self.product = product
        self.preconditioner = preconditioner
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

    /// M⁻¹r (r itself without a preconditioner), through the preconditioner's Float32 modules.
    func preconditioned(_ r: [Double]) -> [Double] {
        guard let preconditioner else { return r }
        var z = r.map { Float($0) }, offset = 0
        z.withUnsafeMutableBufferPointer { buffer in
            for (m, layout) in product.layouts.enumerated() {
                preconditioner.apply(module: m, to: buffer.baseAddress! + offset)
                offset += layout.parameterCount
            }
        }
        return z.map { Double($0) }
    }

    /// x with (G + λI)x = b to the relative residual `tolerance` (preconditioned CG when a
    /// preconditioner is given; z = r makes it plain CG).
    public func solve(_ b: [Double]) throws -> [Double] {
        let bNorm = norm(b)
        var x = [Double](repeating: 0, count: b.count)
        guard bNorm > 0 else {
            solves.append((0, 0))
            return x
        }
        var r = b, z = preconditioned(r), p = z, rz = dot(r, z)
        var iterations = 0, residual = 1.0
        while iterations < maxIterations {
            let Ap = multiply(p)
            let alpha = rz / dot(p, Ap)
            let previousR = r
            for i in x.indices {
                x[i] += alpha * p[i]
                r[i] -= alpha * Ap[i]
            }
            iterations += 1
            residual = norm(r) / bNorm
            if residual <= tolerance {
                // The recurrence's residual drifts from the true one in finite precision: confirm.
                let Ax = multiply(x)
                for i in r.indices { r[i] = b[i] - Ax[i] }
                residual = norm(r) / bNorm
                if residual <= tolerance { break }
                z = preconditioned(r)
                rz = dot(r, z)
                p = z
                continue
            }
            // Flexible (Polak–Ribière) β = ⟨z, r − r_prev⟩ / ⟨z_prev, r_prev⟩: M⁻¹ runs in Float32, so
            // it is not exactly the same symmetric operator every time, and the Fletcher–Reeves β
            // stagnates above tight tolerances; without a preconditioner both are the same.
            z = preconditioned(r)
            let next = dot(r, z)
            let beta = preconditioner == nil ? next / rz : (next - dot(z, previousR)) / rz
            rz = next
            for i in p.indices { p[i] = z[i] + beta * p[i] }
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
