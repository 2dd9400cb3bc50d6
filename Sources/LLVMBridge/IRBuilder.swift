// An instruction builder over one function: arithmetic, memory, control flow and counted loops.
import CLLVM

public final class IRBuilder {
    let ref: LLVMBuilderRef
    public let module: IRModule
    public let function: Function
    private let entry: Block

    /// Starts building `function` at a fresh entry block.
    public init(_ module: IRModule, _ function: Function) {
        self.module = module
        self.function = function
        self.ref = LLVMCreateBuilderInContext(module.context)
        self.entry = module.appendBlock(function, "entry")
        LLVMPositionBuilderAtEnd(ref, entry.ref)
    }

    deinit { LLVMDisposeBuilder(ref) }

    public var currentBlock: Block { Block(ref: LLVMGetInsertBlock(ref)) }
    public func position(at block: Block) { LLVMPositionBuilderAtEnd(ref, block.ref) }
    public func newBlock(_ name: String) -> Block { module.appendBlock(function, name) }

    // MARK: Floating point. `fast` adds reassoc+contract: the order of a reduction may change
    // (so it can be vectorized) and a*b+c may fuse; NaN and infinity stay well defined.

    private func fastMath(_ v: LLVMValueRef, _ fast: Bool) -> Value {
        if fast { LLVMSetFastMathFlags(v, LLVMFastMathFlags(LLVMFastMathAllowReassoc | LLVMFastMathAllowContract)) }
        return Value(ref: v)
    }

    public func fadd(_ a: Value, _ b: Value, fast: Bool = false) -> Value { fastMath(LLVMBuildFAdd(ref, a.ref, b.ref, ""), fast) }
    public func fsub(_ a: Value, _ b: Value, fast: Bool = false) -> Value { fastMath(LLVMBuildFSub(ref, a.ref, b.ref, ""), fast) }
    public func fmul(_ a: Value, _ b: Value, fast: Bool = false) -> Value { fastMath(LLVMBuildFMul(ref, a.ref, b.ref, ""), fast) }
    public func fdiv(_ a: Value, _ b: Value) -> Value { Value(ref: LLVMBuildFDiv(ref, a.ref, b.ref, "")) }

    public enum FloatPredicate { case olt, ogt, oge, ole, oeq, une, uno }
    public func fcmp(_ p: FloatPredicate, _ a: Value, _ b: Value) -> Value {
        let pred: LLVMRealPredicate
        switch p {
        case .olt: pred = LLVMRealOLT
        case .ogt: pred = LLVMRealOGT
        case .oge: pred = LLVMRealOGE
        case .ole: pred = LLVMRealOLE
        case .oeq: pred = LLVMRealOEQ
        case .une: pred = LLVMRealUNE
        case .uno: pred = LLVMRealUNO
        }
        return Value(ref: LLVMBuildFCmp(ref, pred, a.ref, b.ref, ""))
    }

    // MARK: Integers (i64 index arithmetic is marked nsw: indices never overflow by construction).

    public func add(_ a: Value, _ b: Value) -> Value { Value(ref: LLVMBuildNSWAdd(ref, a.ref, b.ref, "")) }
    public func sub(_ a: Value, _ b: Value) -> Value { Value(ref: LLVMBuildNSWSub(ref, a.ref, b.ref, "")) }
    public func mul(_ a: Value, _ b: Value) -> Value { Value(ref: LLVMBuildNSWMul(ref, a.ref, b.ref, "")) }
    public func sdiv(_ a: Value, _ b: Value) -> Value { Value(ref: LLVMBuildSDiv(ref, a.ref, b.ref, "")) }
    public func add(_ a: Value, _ b: Int) -> Value { b == 0 ? a : add(a, module.i64(b)) }
    public func mul(_ a: Value, _ b: Int) -> Value { b == 1 ? a : mul(a, module.i64(b)) }

    public enum IntPredicate { case eq, ne, slt, sle, sgt, sge, ult, uge }
    public func icmp(_ p: IntPredicate, _ a: Value, _ b: Value) -> Value {
        let pred: LLVMIntPredicate
        switch p {
        case .eq: pred = LLVMIntEQ
        case .ne: pred = LLVMIntNE
        case .slt: pred = LLVMIntSLT
        case .sle: pred = LLVMIntSLE
        case .sgt: pred = LLVMIntSGT
        case .sge: pred = LLVMIntSGE
        case .ult: pred = LLVMIntULT
        case .uge: pred = LLVMIntUGE
        }
        return Value(ref: LLVMBuildICmp(ref, pred, a.ref, b.ref, ""))
    }

    public func or(_ a: Value, _ b: Value) -> Value { Value(ref: LLVMBuildOr(ref, a.ref, b.ref, "")) }
    public func and(_ a: Value, _ b: Value) -> Value { Value(ref: LLVMBuildAnd(ref, a.ref, b.ref, "")) }
    public func not(_ a: Value) -> Value { Value(ref: LLVMBuildNot(ref, a.ref, "")) }
    public func select(_ c: Value, _ a: Value, _ b: Value) -> Value { Value(ref: LLVMBuildSelect(ref, c.ref, a.ref, b.ref, "")) }
    public func sext(_ v: Value, to t: IRType) -> Value { Value(ref: LLVMBuildSExt(ref, v.ref, t.ref, "")) }
    public func zext(_ v: Value, to t: IRType) -> Value { Value(ref: LLVMBuildZExt(ref, v.ref, t.ref, "")) }
    public func trunc(_ v: Value, to t: IRType) -> Value { Value(ref: LLVMBuildTrunc(ref, v.ref, t.ref, "")) }
    public func sitofp(_ v: Value, to t: IRType) -> Value { Value(ref: LLVMBuildSIToFP(ref, v.ref, t.ref, "")) }

    // MARK: Memory

    /// `&base[index]` for elements of `element` type.
    public func gep(_ element: IRType, _ base: Value, _ index: Value) -> Value {
        var idx: [LLVMValueRef?] = [index.ref]
        return Value(ref: LLVMBuildInBoundsGEP2(ref, element.ref, base.ref, &idx, 1, ""))
    }

    /// base + index elements with no promise that the result stays inside base's object (an
    /// address only ever prefetched, which may lie past the end).
    public func gepAnyAddress(_ element: IRType, _ base: Value, _ index: Value) -> Value {
        var idx: [LLVMValueRef?] = [index.ref]
        return Value(ref: LLVMBuildGEP2(ref, element.ref, base.ref, &idx, 1, ""))
    }

    /// A hint to fetch the line at `pointer` for reading: `locality` 3 keeps it in every cache
    /// level, 2 in the second level and beyond (x86 `prefetcht1`). Never faults.
    public func prefetch(_ pointer: Value, locality: Int) {
        let m = module
        _ = call(m.intrinsic("llvm.prefetch", [m.ptr]), [pointer, m.i32(0), m.i32(locality), m.i32(1)])
    }

    public func load(_ type: IRType, _ pointer: Value, align: Int = 4) -> Value {
        let v = LLVMBuildLoad2(ref, type.ref, pointer.ref, "")!
        LLVMSetAlignment(v, UInt32(align))
        return Value(ref: v)
    }

    public func store(_ value: Value, _ pointer: Value, align: Int = 4) {
        let s = LLVMBuildStore(ref, value.ref, pointer.ref)!
        LLVMSetAlignment(s, UInt32(align))
    }

    // MARK: Atomics (sequentially consistent: the generated thread team needs no weaker orders)

    /// An atomic load of an integer (i32 or i64).
    public func atomicLoad(_ type: IRType, _ pointer: Value) -> Value {
        let v = LLVMBuildLoad2(ref, type.ref, pointer.ref, "")!
        LLVMSetAlignment(v, LLVMGetIntTypeWidth(type.ref) / 8)
        LLVMSetOrdering(v, LLVMAtomicOrderingSequentiallyConsistent)
        return Value(ref: v)
    }

    /// An atomic store of an integer.
    public func atomicStore(_ value: Value, _ pointer: Value) {
        let s = LLVMBuildStore(ref, value.ref, pointer.ref)!
        LLVMSetAlignment(s, LLVMGetIntTypeWidth(LLVMTypeOf(value.ref)) / 8)
        LLVMSetOrdering(s, LLVMAtomicOrderingSequentiallyConsistent)
    }

    /// Atomically adds `value` to the integer at `pointer`; returns the old value.
    @discardableResult
    public func atomicAdd(_ pointer: Value, _ value: Value) -> Value {
        Value(ref: LLVMBuildAtomicRMW(ref, LLVMAtomicRMWBinOpAdd, pointer.ref, value.ref,
                                      LLVMAtomicOrderingSequentiallyConsistent, 0))
    }

    /// A hint that this is a spin-wait loop (x86 `pause`, aarch64 `yield`); nothing elsewhere.
    public func spinHint(for target: TargetSpec) {
        if target.isX86 {
            call(module.intrinsic("llvm.x86.sse2.pause", []), [])
        } else if target.isAArch64 {
            call(module.intrinsic("llvm.aarch64.hint", []), [module.i32(1)])
        }
    }

    /// A stack slot, placed in the entry block so that mem2reg turns it into SSA values.
    /// A stack slot aligned to `align` bytes (a buffer read by aligned vector loads).
    public func alloca(_ type: IRType, align: Int) -> Value {
        let slot = alloca(type)
        LLVMSetAlignment(slot.ref, UInt32(align))
        return slot
    }

    public func alloca(_ type: IRType) -> Value {
        let here = LLVMGetInsertBlock(ref)
        if let first = LLVMGetFirstInstruction(entry.ref) {
            LLVMPositionBuilderBefore(ref, first)
        } else {
            LLVMPositionBuilderAtEnd(ref, entry.ref)
        }
        let slot = LLVMBuildAlloca(ref, type.ref, "")!
        LLVMPositionBuilderAtEnd(ref, here)
        return Value(ref: slot)
    }

    // MARK: Calls and control flow

    @discardableResult
    public func call(_ fn: Function, _ args: [Value]) -> Value {
        var refs: [LLVMValueRef?] = args.map(\.ref)
        return Value(ref: LLVMBuildCall2(ref, fn.type.ref, fn.ref, &refs, UInt32(refs.count), ""))
    }

    /// A call through a function pointer of type `type`.
    @discardableResult
    public func callIndirect(_ type: IRType, _ pointer: Value, _ args: [Value]) -> Value {
        var refs: [LLVMValueRef?] = args.map(\.ref)
        return Value(ref: LLVMBuildCall2(ref, type.ref, pointer.ref, &refs, UInt32(refs.count), ""))
    }

    /// Field `index` of a struct value (e.g. one register of an inline assembly call's results).
    public func extractValue(_ aggregate: Value, _ index: Int) -> Value {
        Value(ref: LLVMBuildExtractValue(ref, aggregate.ref, UInt32(index), ""))
    }

    public func br(_ to: Block) { LLVMBuildBr(ref, to.ref) }
    public func condBr(_ cond: Value, _ then: Block, _ otherwise: Block) { LLVMBuildCondBr(ref, cond.ref, then.ref, otherwise.ref) }
    public func ret(_ v: Value) { LLVMBuildRet(ref, v.ref) }
    public func retVoid() { LLVMBuildRetVoid(ref) }

    /// `for i in from..<to { body(i) }` over i64, as a guarded loop with a phi. Afterwards the
    /// builder is positioned after the loop.
    public func forLoop(_ from: Value, _ to: Value, _ body: (Value) throws -> Void) rethrows {
        let pre = currentBlock
        let header = newBlock("loop"), bodyBlock = newBlock("body"), exit = newBlock("loop.end")
        br(header)
        position(at: header)
        let i = LLVMBuildPhi(ref, module.i64.ref, "i")!
        condBr(icmp(.slt, Value(ref: i), to), bodyBlock, exit)
        position(at: bodyBlock)
        try body(Value(ref: i))
        let next = add(Value(ref: i), 1)
        let latch = currentBlock
        br(header)
        var values: [LLVMValueRef?] = [from.ref, next.ref]
        var blocks: [LLVMBasicBlockRef?] = [pre.ref, latch.ref]
        LLVMAddIncoming(i, &values, &blocks, 2)
        position(at: exit)
    }

    public func forLoop(_ count: Int, _ body: (Value) throws -> Void) rethrows {
        try forLoop(module.i64(0), module.i64(count), body)
    }

    public func forLoop(_ count: Value, _ body: (Value) throws -> Void) rethrows {
        try forLoop(module.i64(0), count, body)
    }

    /// `if cond { then() }`; afterwards the builder is positioned after the branch.
    public func ifThen(_ cond: Value, _ then: () throws -> Void) rethrows {
        let thenBlock = newBlock("then"), done = newBlock("endif")
        condBr(cond, thenBlock, done)
        position(at: thenBlock)
        try then()
        br(done)
        position(at: done)
    }

    /// `if cond { return status }`; afterwards the builder continues on the fall-through path.
    public func returnIf(_ cond: Value, _ status: Value) {
        let fail = newBlock("fail"), ok = newBlock("ok")
        condBr(cond, fail, ok)
        position(at: fail)
        ret(status)
        position(at: ok)
    }

    // MARK: Vectors

    public func type(of v: Value) -> IRType { IRType(ref: LLVMTypeOf(v.ref)) }

    /// The element type and lane count of a vector type.
    public func lanes(of v: Value) -> Int { Int(LLVMGetVectorSize(LLVMTypeOf(v.ref))) }

    /// A vector of `lanes` copies of the scalar `v`.
    public func splat(_ v: Value, lanes: Int) -> Value {
        let vecType = LLVMVectorType(LLVMTypeOf(v.ref), UInt32(lanes))
        let poison = LLVMGetPoison(vecType)
        let first = LLVMBuildInsertElement(ref, poison, v.ref, module.i32(0).ref, "")
        let zeros = LLVMConstNull(LLVMVectorType(module.i32.ref, UInt32(lanes)))
        return Value(ref: LLVMBuildShuffleVector(ref, first, poison, zeros, ""))
    }

    public func extract(_ v: Value, _ lane: Int) -> Value {
        Value(ref: LLVMBuildExtractElement(ref, v.ref, module.i32(lane).ref, ""))
    }

    /// <0, 1, ..., lanes-1> as i32.
    public func laneIndices(_ lanes: Int) -> Value {
        var refs: [LLVMValueRef?] = (0..<lanes).map { module.i32($0).ref }
        return Value(ref: LLVMConstVector(&refs, UInt32(lanes)))
    }

    /// Lanes i where i < count (count: an i64 scalar), as an <lanes x i1> mask.
    public func prefixMask(_ count: Value, lanes: Int) -> Value {
        let n = trunc(count, to: module.i32)
        return icmp(.slt, laneIndices(lanes), splat(n, lanes: lanes))
    }

    public func fma(_ a: Value, _ b: Value, _ c: Value) -> Value {
        call(module.intrinsic("llvm.fma", [type(of: a)]), [a, b, c])
    }

    public func maxnum(_ a: Value, _ b: Value) -> Value { call(module.intrinsic("llvm.maxnum", [type(of: a)]), [a, b]) }
    public func minnum(_ a: Value, _ b: Value) -> Value { call(module.intrinsic("llvm.minnum", [type(of: a)]), [a, b]) }
    public func fabs(_ a: Value) -> Value { call(module.intrinsic("llvm.fabs", [type(of: a)]), [a]) }
    public func sqrt(_ a: Value) -> Value { call(module.intrinsic("llvm.sqrt", [type(of: a)]), [a]) }
    public func rint(_ a: Value) -> Value { call(module.intrinsic("llvm.rint", [type(of: a)]), [a]) }

    /// Lanes whose mask bit is off read as zero (and touch no memory). `align`: what the pointer
    /// is known to be aligned to (an element's size unless more is known).
    public func maskedLoad(_ vecType: IRType, _ pointer: Value, _ mask: Value, align: Int = 4) -> Value {
        let f = module.intrinsic("llvm.masked.load", [vecType, module.ptr])
        return call(f, [pointer, module.i32(align), mask, Value(ref: LLVMConstNull(vecType.ref))])
    }

    /// One element per lane from its own address (a vector of pointers), 0 where `mask` is off.
    public func maskedGather(_ vecType: IRType, _ pointers: Value, _ mask: Value, align: Int = 4) -> Value {
        let f = module.intrinsic("llvm.masked.gather", [vecType, type(of: pointers)])
        return call(f, [pointers, module.i32(align), mask, Value(ref: LLVMConstNull(vecType.ref))])
    }

    public func maskedStore(_ v: Value, _ pointer: Value, _ mask: Value, align: Int = 4) {
        let f = module.intrinsic("llvm.masked.store", [type(of: v), module.ptr])
        call(f, [v, pointer, module.i32(align), mask])
    }

    /// Sum of the lanes, in any order (reassociation allowed: a tree of shuffles).
    public func reduceAdd(_ v: Value) -> Value {
        let f = module.intrinsic("llvm.vector.reduce.fadd", [type(of: v)])
        let r = call(f, [Value(ref: LLVMConstReal(LLVMGetElementType(LLVMTypeOf(v.ref)), -0.0)), v])
        LLVMSetFastMathFlags(r.ref, LLVMFastMathFlags(LLVMFastMathAllowReassoc))
        return r
    }

    public func reduceMax(_ v: Value) -> Value {
        call(module.intrinsic("llvm.vector.reduce.fmax", [type(of: v)]), [v])
    }

    public func ptrToInt(_ v: Value, to t: IRType) -> Value { Value(ref: LLVMBuildPtrToInt(ref, v.ref, t.ref, "")) }
    public func bitcast(_ v: Value, to t: IRType) -> Value { Value(ref: LLVMBuildBitCast(ref, v.ref, t.ref, "")) }
    public func fptosi(_ v: Value, to t: IRType) -> Value { Value(ref: LLVMBuildFPToSI(ref, v.ref, t.ref, "")) }
    /// Integer add/shift without overflow flags (for bit manipulation).
    public func wrappingAdd(_ a: Value, _ b: Value) -> Value { Value(ref: LLVMBuildAdd(ref, a.ref, b.ref, "")) }
    public func shl(_ a: Value, _ b: Value) -> Value { Value(ref: LLVMBuildShl(ref, a.ref, b.ref, "")) }
    public func lshr(_ a: Value, _ b: Value) -> Value { Value(ref: LLVMBuildLShr(ref, a.ref, b.ref, "")) }
}
