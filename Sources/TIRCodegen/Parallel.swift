// Threads in generated code: a parallel loop splits a range into one contiguous chunk per
// thread, runs the chunks on POSIX threads created for that loop and joins them before going on.
// Nothing outlives a call: no pool, no spinning, no global state.
import LLVMBridge

/// At most this many threads per call (the size of the per-call thread tables on the stack).
let maxThreads = 64

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

    /// Runs `body(captured, begin, end)` over [0, count) split across the call's threads. The
    /// body is emitted into a separate task function, so it may use only its `captured` values
    /// (the `captures` passed here, pointers or i64), constants and globals.
    func parallelFor(_ name: String, count: Value, captures: [Value],
                     _ body: (_ captured: [Value], _ begin: Value, _ end: Value) throws -> Void) rethrows {
        let slots = 2 + captures.count  // begin, end, captures: 8 bytes each
        let task = ir.addFunction("tfc.task.\(name)", ir.functionType(ir.ptr, [ir.ptr]), linkage: .internal)
        ir.addAttribute("nounwind", to: task)
        if target.isX86 {
            ir.addAttribute("prefer-vector-width", "\(target.vectorBits)", to: task)
            ir.addAttribute("min-legal-vector-width", "\(target.vectorBits)", to: task)
        }
        let captureTypes = captures.map { b.type(of: $0) }
        do {
            let outer = b
            b = Builder(ir, task)
            defer { b = outer }
            let ctx = task.param(0)
            let begin = b.load(ir.i64, b.gep(ir.i64, ctx, ir.i64(0)), align: 8)
            let end = b.load(ir.i64, b.gep(ir.i64, ctx, ir.i64(1)), align: 8)
            let captured = captureTypes.enumerated().map { i, t in b.load(t, b.gep(ir.i64, ctx, ir.i64(2 + i)), align: 8) }
            try body(captured, begin, end)
            b.ret(ir.nullPointer)
        }

        // The calling side: n = min(threads, count) chunks, chunk t = [t*count/n, (t+1)*count/n).
        let contexts = b.alloca(ir.array(ir.i64, maxThreads * slots))
        let handles = b.alloca(ir.array(ir.i64, maxThreads))
        let started = b.alloca(ir.array(ir.i8, maxThreads))
        let n = b.select(b.icmp(.slt, count, threads), count, threads)
        let pthreadCreate = ir.declare("pthread_create", ir.functionType(ir.i32, [ir.ptr, ir.ptr, ir.ptr, ir.ptr]))
        let pthreadJoin = ir.declare("pthread_join", ir.functionType(ir.i32, [ir.i64, ir.ptr]))
        func context(_ t: Value) -> Value { b.gep(ir.i64, contexts, b.mul(t, slots)) }
        b.forLoop(n) { t in
            let ctx = context(t)
            b.store(b.sdiv(b.mul(t, count), n), b.gep(ir.i64, ctx, ir.i64(0)), align: 8)
            b.store(b.sdiv(b.mul(b.add(t, 1), count), n), b.gep(ir.i64, ctx, ir.i64(1)), align: 8)
            for (i, value) in captures.enumerated() { b.store(value, b.gep(ir.i64, ctx, ir.i64(2 + i)), align: 8) }
        }
        // Chunks 1..<n on new threads; a thread that cannot be created runs its chunk here.
        b.forLoop(ir.i64(1), n) { t in
            let rc = b.call(pthreadCreate, [b.gep(ir.i64, handles, t), ir.nullPointer, task.value, context(t)])
            let ok = b.icmp(.eq, rc, ir.i32(0))
            b.store(b.select(ok, ir.i8(1), ir.i8(0)), b.gep(ir.i8, started, t), align: 1)
            b.ifThen(b.icmp(.ne, rc, ir.i32(0))) { b.call(task, [context(t)]) }
        }
        b.call(task, [context(ir.i64(0))])
        b.forLoop(ir.i64(1), n) { t in
            b.ifThen(b.icmp(.ne, b.load(ir.i8, b.gep(ir.i8, started, t), align: 1), ir.i8(0))) {
                b.call(pthreadJoin, [b.load(ir.i64, b.gep(ir.i64, handles, t), align: 8), ir.nullPointer])
            }
        }
    }
}
