import Foundation
import Models

/// Adds each batch's contribution to a module's Float64 sums in batch order, whichever worker
/// gets there first: the sums then round exactly as one worker's would, so factors do not
/// depend on `--threads`. Each module has its own turn, so workers pipeline: while one adds
/// its batch to module m, the worker with the next batch can add to the module before.
public final class CommitOrder: @unchecked Sendable {
    private let condition = NSCondition()
    /// Per module, the batch whose contribution comes next.
    private var next: [Int]

    public init(modules: Int) { next = [Int](repeating: 0, count: modules) }

    /// Runs `body` (which adds batch `batch`'s part to module m's sums) once every earlier
    /// batch has added its part to that module.
    public func commit(module m: Int, batch: Int, _ body: () -> Void) {
        condition.lock()
        while next[m] != batch { condition.wait() }
        condition.unlock()
        // Only this worker may touch module m now: the others wait for their own turn.
        body()
        condition.lock()
        next[m] += 1
        condition.broadcast()
        condition.unlock()
    }
}

/// One worker's share of an EK-FAC pass: it observes the taps of one batch at a time and
/// hands each module's contribution to the pass's shared sums through a `CommitOrder`.
/// Subclasses (each accumulator's `Lane`) keep the scratch of their own batch.
class PassLane: LinearModuleTapObserver {
    private let order: CommitOrder
    private let router: ModuleRouter
    private var committed: [Bool]
    /// The batch being observed (counted from the start of the pass's run).
    private(set) var batch = 0

    init(order: CommitOrder, layouts: [ModuleLayout]) {
        self.order = order
        router = ModuleRouter(layouts)
        committed = [Bool](repeating: false, count: layouts.count)
    }

    /// Call before a batch is run.
    final func start(batch: Int) {
        self.batch = batch
        for m in committed.indices { committed[m] = false }
    }

    /// Call after the batch, also when it failed: a module the batch did not reach gives up
    /// its turn, so that later batches never wait for it.
    final func end() {
        for m in committed.indices where !committed[m] { commit(m) {} }
    }

    /// Adds this batch's part to module m (`body`) in batch order.
    final func commit(_ m: Int, _ body: () -> Void) {
        precondition(!committed[m], "module observed twice in one batch")
        committed[m] = true
        order.commit(module: m, batch: batch, body)
    }

    final func observe(_ tap: LinearModuleTap) {
        guard let m = router.position(of: tap) else { return }
        contribute(tap, module: m)
    }

    /// Computes module m's part of the batch from `tap` and adds it with `commit(m)`.
    func contribute(_ tap: LinearModuleTap, module m: Int) { fatalError("subclasses contribute") }
}

/// Runs `body(0) … body(count − 1)` at once, each on its own thread (the first on the calling
/// thread), and returns when all have finished. Unlike `concurrentPerform`, every iteration
/// gets a thread, so iterations may wait for each other (`CommitOrder`).
func runOnThreads(_ count: Int, _ body: (Int) -> Void) {
    guard count > 1 else { if count == 1 { body(0) }; return }
    withoutActuallyEscaping(body) { body in
        // The threads reach `body` through a pointer: a Thread keeps its closure after it has
        // run, and a closure holding `body` itself would outlive this call.
        withUnsafePointer(to: body) { body in
            nonisolated(unsafe) let body = body
            let finished = DispatchGroup()
            for i in 1..<count {
                finished.enter()
                let thread = Thread {
                    body.pointee(i)
                    finished.leave()
                }
                thread.stackSize = 8 << 20
                thread.start()
            }
            body.pointee(0)
            finished.wait()
        }
    }
}

/// One Float64 sum, boxed: workers add to different sums at once, and the elements of one
/// array-of-arrays property could not be modified from two threads at the same time.
final class SumArray: @unchecked Sendable {
    var values: [Double]

    init(_ values: [Double]) { self.values = values }

    /// Runs `body` on the values, in place.
    func update(_ body: (UnsafeMutablePointer<Double>) -> Void) {
        values.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
    }
}
