// Threads in generated code: a per-call thread team.
//
// The first parallel loop of a call starts threads - 1 POSIX worker threads; every parallel loop
// of the call then posts a job to them and runs chunks of it on the calling thread too. Chunks
// are claimed dynamically from an atomic counter, so a thread that loses its core to another
// process slows the loop down by its own share only. Between loops workers spin briefly, then
// sleep on a condition variable; the call joins them before it returns, so nothing outlives a
// call: no pool, no spinning afterwards, no global state (the team lives in the call's frame, so
// concurrent calls stay independent). Chunks are fixed ranges of the loop, and every loop body
// computes each index the same way whatever thread runs it: results are bitwise identical for
// any thread count. A loop with little work runs on the calling thread alone (see
// defaultMinParallelWork), and a call with only such loops starts no thread.
import LLVMBridge

/// At most this many threads per call.
let maxThreads = 64

/// The team record: i64 slots in the calling function's frame.
private enum Slot {
    // Written by every thread: one cache line each.
    static let generation = 0  // bumped to post a job (or to quit)
    static let busy = 8        // workers still on the current job
    static let next = 16       // next chunk to claim
    // Written by the calling thread only, before a job is posted.
    static let count = 24, grain = 25, task = 26, context = 27, quit = 28
    static let workers = 29    // -1 until the team is started, then the number of workers
    static let handles = 32    // maxThreads pthread_t
    // pthread objects get 128 bytes each (glibc: a mutex is 40 or 48 bytes, a condition 48).
    static let mutex = handles + maxThreads, workCond = mutex + 16, doneCond = workCond + 16
    static let total = doneCond + 16
}

/// The default of CodegenOptions.minParallelWork: loops with fewer flops than this (about 10
/// microseconds of one core) run on the calling thread, since starting the team costs tens of
/// microseconds and posting a job to it a few. A call whose loops are all small (a single token
/// on a small model) then starts no thread at all.
public let defaultMinParallelWork = 1 << 20

/// Spin-wait iterations before a thread sleeps (about 0.5 ms at 25 ns per `pause` on Zen 4: a
/// worker stays awake across the short serial steps between two parallel loops, never across
/// calls; 2000 measured slower).
private let spinIterations = 20_000

/// The team's functions, emitted once per module.
struct TeamFunctions {
    /// `void run(ptr team)`: claims and runs chunks of the current job until none are left.
    let run: Function
    /// `ptr worker(ptr team)`: the worker thread's loop.
    let worker: Function
    /// `void start(ptr team, i64 threads)`: starts threads - 1 workers (fewer if creation fails).
    let start: Function
    /// `void stop(ptr team)`: ends and joins the workers, if any were started.
    let stop: Function
    /// `void post(ptr team, ptr task, ptr context, i64 count, i64 grain)`: runs a job to the end.
    let post: Function
    /// The task type: `void task(ptr context, i64 begin, i64 end)`.
    let taskType: IRType
}

extension FunctionLowering {
    /// The thread count for this call: the argument, or every online core when it is 0 or
    /// negative, clamped to 1...maxThreads.
    func resolveThreadCount(_ requested: Value) -> Value {
        let sysconf = ir.declare("sysconf", ir.functionType(ir.i64, [ir.i32]))
        // _SC_NPROCESSORS_ONLN is 84 in glibc (x86-64 and aarch64 alike).
        let online = b.call(sysconf, [ir.i32(84)])
        let asked = b.sext(requested, to: ir.i64)
        let wanted = b.select(b.icmp(.sgt, asked, ir.i64(0)), asked, online)
        let atLeastOne = b.select(b.icmp(.slt, wanted, ir.i64(1)), ir.i64(1), wanted)
        return b.select(b.icmp(.sgt, atLeastOne, ir.i64(maxThreads)), ir.i64(maxThreads), atLeastOne)
    }

    /// Allocates the team record in the forward function's frame (no threads yet).
    func makeTeam() -> Value {
        let team = b.alloca(ir.array(ir.i64, Slot.total))
        b.store(ir.i64(-1), slot(team, Slot.workers), align: 8)
        return team
    }

    /// Joins the team's workers, if the call started any. Call before returning.
    func endTeam(_ team: Value) {
        b.call(teamFunctions.stop, [team])
    }

    /// Runs `body(captured, begin, end)` over [0, count) on the call's threads. The body is
    /// emitted into a separate task function, so it may use only its `captured` values (the
    /// `captures` passed here, pointers or i64), constants and globals. `work` estimates the
    /// loop's flops: below the options' `minParallelWork` it runs on the calling thread alone.
    func parallelFor(_ name: String, count: Value, work: Value, captures: [Value],
                     _ body: (_ captured: [Value], _ begin: Value, _ end: Value) throws -> Void) rethrows {
        let team = teamFunctions
        let task = ir.addFunction(namespace + "task.\(name)", team.taskType, linkage: .internal)
        ir.addCodeAttributes(to: task, target: target)
        let captureTypes = captures.map { b.type(of: $0) }
        do {
            let outer = b
            b = IRBuilder(ir, task)
            defer { b = outer }
            let context = task.param(0)
            let captured = captureTypes.enumerated().map { i, t in b.load(t, b.gep(ir.i64, context, ir.i64(i)), align: 8) }
            try body(captured, task.param(1), task.param(2))
            b.retVoid()
        }

        let context = b.alloca(ir.array(ir.i64, max(1, captures.count)))
        for (i, value) in captures.enumerated() { b.store(value, b.gep(ir.i64, context, ir.i64(i)), align: 8) }
        // About four chunks per thread: enough to even out a thread that runs slow.
        let perThread = b.sdiv(count, b.mul(threads, 4))
        let grain = b.select(b.icmp(.slt, perThread, ir.i64(1)), ir.i64(1), perThread)
        let small = b.icmp(.slt, work, ir.i64(minParallelWork))
        let inline = b.or(b.or(b.icmp(.eq, threads, ir.i64(1)), b.icmp(.sle, count, grain)), small)
        let serial = b.newBlock("serial"), parallel = b.newBlock("parallel"), done = b.newBlock("parallel.end")
        b.condBr(inline, serial, parallel)
        b.position(at: serial)
        b.call(task, [context, ir.i64(0), count])
        b.br(done)
        b.position(at: parallel)
        b.ifThen(b.icmp(.slt, b.load(ir.i64, slot(teamRecord, Slot.workers), align: 8), ir.i64(0))) {
            b.call(team.start, [teamRecord, threads])
        }
        b.call(team.post, [teamRecord, task.value, context, count, grain])
        b.br(done)
        b.position(at: done)
    }

    func buildTeamFunctions() -> TeamFunctions {
        let ptr = ir.ptr, i64 = ir.i64, i32 = ir.i32
        let taskType = ir.functionType(ir.void, [ptr, i64, i64])
        func fn(_ name: String, _ type: IRType) -> Function {
            let f = ir.addFunction(namespace + "team.\(name)", type, linkage: .internal)
            ir.addAttribute("nounwind", to: f)
            return f
        }
        let pthreadCreate = ir.declare("pthread_create", ir.functionType(i32, [ptr, ptr, ptr, ptr]))
        let pthreadJoin = ir.declare("pthread_join", ir.functionType(i32, [i64, ptr]))
        let mutexInit = ir.declare("pthread_mutex_init", ir.functionType(i32, [ptr, ptr]))
        let mutexDestroy = ir.declare("pthread_mutex_destroy", ir.functionType(i32, [ptr]))
        let lock = ir.declare("pthread_mutex_lock", ir.functionType(i32, [ptr]))
        let unlock = ir.declare("pthread_mutex_unlock", ir.functionType(i32, [ptr]))
        let condInit = ir.declare("pthread_cond_init", ir.functionType(i32, [ptr, ptr]))
        let condDestroy = ir.declare("pthread_cond_destroy", ir.functionType(i32, [ptr]))
        let condWait = ir.declare("pthread_cond_wait", ir.functionType(i32, [ptr, ptr]))
        let signal = ir.declare("pthread_cond_signal", ir.functionType(i32, [ptr]))
        let broadcast = ir.declare("pthread_cond_broadcast", ir.functionType(i32, [ptr]))

        // run(team)
        let run = fn("run", ir.functionType(ir.void, [ptr]))
        do {
            let b = IRBuilder(ir, run)
            let team = run.param(0)
            let count = b.load(i64, slot(team, Slot.count, b), align: 8)
            let grain = b.load(i64, slot(team, Slot.grain, b), align: 8)
            let task = b.load(ptr, slot(team, Slot.task, b), align: 8)
            let context = b.load(ptr, slot(team, Slot.context, b), align: 8)
            let claim = b.newBlock("claim"), work = b.newBlock("work"), exit = b.newBlock("exit")
            b.br(claim)
            b.position(at: claim)
            let begin = b.mul(b.atomicAdd(slot(team, Slot.next, b), ir.i64(1)), grain)
            b.condBr(b.icmp(.sge, begin, count), exit, work)
            b.position(at: work)
            let stop = b.add(begin, grain)
            b.callIndirect(taskType, task, [context, begin, b.select(b.icmp(.slt, stop, count), stop, count)])
            b.br(claim)
            b.position(at: exit)
            b.retVoid()
        }

        // Waits until `ready()` holds: spins, then sleeps on `cond` (whose waker changes the
        // state and signals under the team's mutex, so no wake-up is lost).
        func wait(_ b: IRBuilder, team: Value, cond: Int, until ready: () -> Value) {
            let counter = b.alloca(i64)
            b.store(ir.i64(0), counter, align: 8)
            let spin = b.newBlock("spin"), spinNext = b.newBlock("spin.next"), sleep = b.newBlock("sleep")
            let check = b.newBlock("sleep.check"), wake = b.newBlock("sleep.wait"), leave = b.newBlock("sleep.leave")
            let done = b.newBlock("ready")
            b.br(spin)
            b.position(at: spin)
            b.condBr(ready(), done, spinNext)
            b.position(at: spinNext)
            b.spinHint(for: target)
            let n = b.add(b.load(i64, counter, align: 8), 1)
            b.store(n, counter, align: 8)
            b.condBr(b.icmp(.slt, n, ir.i64(spinIterations)), spin, sleep)
            b.position(at: sleep)
            let mutex = slot(team, Slot.mutex, b)
            b.call(lock, [mutex])
            b.br(check)
            b.position(at: check)
            b.condBr(ready(), leave, wake)
            b.position(at: wake)
            b.call(condWait, [slot(team, cond, b), mutex])
            b.br(check)
            b.position(at: leave)
            b.call(unlock, [mutex])
            b.br(done)
            b.position(at: done)
        }

        // worker(team): wait for a new generation, quit or run the job, report, repeat.
        let worker = fn("worker", ir.functionType(ptr, [ptr]))
        do {
            let b = IRBuilder(ir, worker)
            let team = worker.param(0)
            let seen = b.alloca(i64)
            b.store(ir.i64(0), seen, align: 8)
            let top = b.newBlock("wait"), quit = b.newBlock("quit"), job = b.newBlock("job")
            b.br(top)
            b.position(at: top)
            wait(b, team: team, cond: Slot.workCond) {
                b.icmp(.ne, b.atomicLoad(i64, slot(team, Slot.generation, b)), b.load(i64, seen, align: 8))
            }
            b.store(b.atomicLoad(i64, slot(team, Slot.generation, b)), seen, align: 8)
            b.condBr(b.icmp(.ne, b.atomicLoad(i64, slot(team, Slot.quit, b)), ir.i64(0)), quit, job)
            b.position(at: job)
            b.call(run, [team])
            let old = b.atomicAdd(slot(team, Slot.busy, b), ir.i64(-1))
            b.ifThen(b.icmp(.eq, old, ir.i64(1))) {
                let mutex = slot(team, Slot.mutex, b)
                b.call(lock, [mutex])
                b.call(signal, [slot(team, Slot.doneCond, b)])
                b.call(unlock, [mutex])
            }
            b.br(top)
            b.position(at: quit)
            b.ret(ir.nullPointer)
        }

        // start(team, threads)
        let start = fn("start", ir.functionType(ir.void, [ptr, i64]))
        do {
            let b = IRBuilder(ir, start)
            let (team, threads) = (start.param(0), start.param(1))
            for s in [Slot.generation, Slot.busy, Slot.next, Slot.quit] { b.store(ir.i64(0), slot(team, s, b), align: 8) }
            b.call(mutexInit, [slot(team, Slot.mutex, b), ir.nullPointer])
            b.call(condInit, [slot(team, Slot.workCond, b), ir.nullPointer])
            b.call(condInit, [slot(team, Slot.doneCond, b), ir.nullPointer])
            let workers = b.alloca(i64)
            b.store(ir.i64(0), workers, align: 8)
            // A worker that cannot be created is simply not there: the others (and the caller)
            // take its chunks.
            b.forLoop(b.sub(threads, ir.i64(1))) { _ in
                let n = b.load(i64, workers, align: 8)
                let handle = b.gep(i64, slot(team, Slot.handles, b), n)
                let rc = b.call(pthreadCreate, [handle, ir.nullPointer, worker.value, team])
                b.store(b.select(b.icmp(.eq, rc, ir.i32(0)), b.add(n, 1), n), workers, align: 8)
            }
            b.store(b.load(i64, workers, align: 8), slot(team, Slot.workers, b), align: 8)
            b.retVoid()
        }

        // post(team, task, context, count, grain): publish, take part, wait for the workers.
        let post = fn("post", ir.functionType(ir.void, [ptr, ptr, ptr, i64, i64]))
        do {
            let b = IRBuilder(ir, post)
            let team = post.param(0)
            b.store(post.param(1), slot(team, Slot.task, b), align: 8)
            b.store(post.param(2), slot(team, Slot.context, b), align: 8)
            b.store(post.param(3), slot(team, Slot.count, b), align: 8)
            b.store(post.param(4), slot(team, Slot.grain, b), align: 8)
            b.atomicStore(ir.i64(0), slot(team, Slot.next, b))
            b.atomicStore(b.load(i64, slot(team, Slot.workers, b), align: 8), slot(team, Slot.busy, b))
            let mutex = slot(team, Slot.mutex, b)
            b.call(lock, [mutex])
            b.atomicAdd(slot(team, Slot.generation, b), ir.i64(1))
            b.call(broadcast, [slot(team, Slot.workCond, b)])
            b.call(unlock, [mutex])
            b.call(run, [team])
            wait(b, team: team, cond: Slot.doneCond) {
                b.icmp(.eq, b.atomicLoad(i64, slot(team, Slot.busy, b)), ir.i64(0))
            }
            b.retVoid()
        }

        // stop(team)
        let stop = fn("stop", ir.functionType(ir.void, [ptr]))
        do {
            let b = IRBuilder(ir, stop)
            let team = stop.param(0)
            let workers = b.load(i64, slot(team, Slot.workers, b), align: 8)
            b.ifThen(b.icmp(.sge, workers, ir.i64(0))) {
                let mutex = slot(team, Slot.mutex, b)
                b.call(lock, [mutex])
                b.atomicStore(ir.i64(1), slot(team, Slot.quit, b))
                b.atomicAdd(slot(team, Slot.generation, b), ir.i64(1))
                b.call(broadcast, [slot(team, Slot.workCond, b)])
                b.call(unlock, [mutex])
                b.forLoop(workers) { t in
                    b.call(pthreadJoin, [b.load(i64, b.gep(i64, slot(team, Slot.handles, b), t), align: 8), ir.nullPointer])
                }
                b.call(condDestroy, [slot(team, Slot.workCond, b)])
                b.call(condDestroy, [slot(team, Slot.doneCond, b)])
                b.call(mutexDestroy, [mutex])
            }
            b.retVoid()
        }
        return TeamFunctions(run: run, worker: worker, start: start, stop: stop, post: post, taskType: taskType)
    }

    private func slot(_ team: Value, _ index: Int, _ builder: IRBuilder? = nil) -> Value {
        (builder ?? b).gep(ir.i64, team, ir.i64(index))
    }
}
