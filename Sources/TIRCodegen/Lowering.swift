// Lowers a verified TIR module to one LLVM function: input checks, then one loop nest per op
// over buffers laid out by the memory plan.
import LLVMBridge
import TIR

public struct CodegenError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public struct CodegenOptions: Sendable {
    /// C symbol prefix; defaults to the model's name.
    public var prefix: String?
    /// Also emit `<prefix>_forward_packed` (the JIT runner calls it).
    public var packedEntry: Bool
    /// Declare the weights as external symbols instead of embedding them as constants: the JIT
    /// points them at host memory, which spares LLVM hundreds of megabytes of constant data.
    public var externalWeights: Bool
    /// Parallel loops estimated below this many flops run on the calling thread (0: every loop
    /// with more than one chunk is split; tests use it to run every parallel path).
    public var minParallelWork: Int

    public init(prefix: String? = nil, packedEntry: Bool = false, externalWeights: Bool = false,
                minParallelWork: Int = defaultMinParallelWork) {
        self.prefix = prefix
        self.packedEntry = packedEntry
        self.externalWeights = externalWeights
        self.minParallelWork = minParallelWork
    }
}

/// A weight the generated code reads through an external symbol (CodegenOptions.externalWeights).
public struct ExternalWeight: Sendable {
    public var symbol: String
    public var values: [Float]
}

/// The most ops one model may have: the forward function is one LLVM function, and LLVM's
/// optimizer is superlinear in its size. (GPT-2 XL, 48 blocks, has about 500.)
public let maxCompiledOps = 20_000

/// Builds the model's entry point(s) into `ir` and returns how to call them, with the weights
/// left for the caller to define when they are external.
public func lowerModel(_ model: Module, weights: Weights, into ir: IRModule, target: TargetSpec,
                       options: CodegenOptions = CodegenOptions()) throws -> (entry: EntryPoint, external: [ExternalWeight]) {
    guard model.body.count <= maxCompiledOps else {
        throw CodegenError("@\(model.name) has \(model.body.count) ops; tfc compiles models of at most \(maxCompiledOps)")
    }
    let fusion = FusionPlan(model)
    let plan = try MemoryPlan(model, fusion: fusion, nr: GemmShape.forTarget(target).nr)
    let entry = EntryPoint(prefix: cIdentifier(options.prefix ?? model.name), inputs: model.inputs,
                           outputs: plan.outputs, seq: model.seq, workspaceBytes: plan.workspaceBytes)
    let lowering = try FunctionLowering(model: model, weights: weights, plan: plan, fusion: fusion, entry: entry, ir: ir,
                                        target: target, externalWeights: options.externalWeights,
                                        minParallelWork: options.minParallelWork)
    let forward = try lowering.build()
    buildDefaultThreadsEntry(entry, calling: forward, in: ir)
    if options.packedEntry { buildPackedEntry(entry, calling: forward, in: ir) }
    return (entry, lowering.external)
}

/// `<prefix>_forward(...)`: the threaded entry with threads = 0 (every online core).
private func buildDefaultThreadsEntry(_ entry: EntryPoint, calling forward: Function, in ir: IRModule) {
    let count = forward.type.paramCount - 1
    let fn = ir.addFunction(entry.forwardSymbol, ir.functionType(ir.i32, (0..<count).map { forward.type.param($0) }))
    let b = Builder(ir, fn)
    b.ret(b.call(forward, (0..<count).map { fn.param($0) } + [ir.i32(0)]))
}

/// `int32_t <prefix>_forward_packed(void *const *args, int64_t seq_len, int32_t threads)`:
/// unpacks the pointer array and calls the forward function.
private func buildPackedEntry(_ entry: EntryPoint, calling forward: Function, in ir: IRModule) {
    let fn = ir.addFunction(entry.packedSymbol, ir.functionType(ir.i32, [ir.ptr, ir.i64, ir.i32]))
    let b = Builder(ir, fn)
    let args = fn.param(0)
    var pointers: [Value] = []
    for i in 0..<(entry.inputs.count + entry.outputs.count + 1) {
        pointers.append(b.load(ir.ptr, b.gep(ir.ptr, args, ir.i64(i)), align: 8))
    }
    var callArgs = Array(pointers[0..<entry.inputs.count])
    if entry.seq != nil { callArgs.append(fn.param(1)) }
    callArgs += pointers[entry.inputs.count...]
    callArgs.append(fn.param(2))
    b.ret(b.call(forward, callArgs))
}

/// The lowering of one forward function. Every TIR value is a row-major buffer: the
/// argument pointer for inputs and outputs, a workspace slice otherwise, a constant global for
/// parameters. Rows may be the runtime sequence length; every other axis is static.
final class FunctionLowering {
    let model: Module
    let weights: Weights
    let plan: MemoryPlan
    let entry: EntryPoint
    let ir: IRModule
    let target: TargetSpec
    let fn: Function
    /// The builder of the function being written: the forward function, or a task function
    /// while a parallel loop body is built (see parallelFor).
    var b: Builder
    var buffers: [String: Value] = [:]
    var params: [String: Value] = [:]
    var seqLen: Value?
    var workspace: Value
    /// Threads to use (1...maxThreads), computed on entry from the `threads` argument.
    var threads: Value
    /// The call's thread team record (see Parallel.swift), in the forward function's frame.
    var teamRecord: Value!
    lazy var teamFunctions: TeamFunctions = buildTeamFunctions()
    let gemm: GemmKernels
    let fusion: FusionPlan
    /// Packed weight constants, by parameter name and layout.
    var packed: [String: Value] = [:]

    /// Weights declared as external symbols, with their data (when externalWeights).
    var external: [ExternalWeight] = []
    let externalWeights: Bool
    let minParallelWork: Int

    init(model: Module, weights: Weights, plan: MemoryPlan, fusion: FusionPlan, entry: EntryPoint, ir: IRModule,
         target: TargetSpec, externalWeights: Bool, minParallelWork: Int) throws {
        self.externalWeights = externalWeights
        self.minParallelWork = minParallelWork
        self.model = model
        self.weights = weights
        self.plan = plan
        self.entry = entry
        self.ir = ir
        self.target = target
        var paramTypes = [IRType](repeating: ir.ptr, count: model.inputs.count)
        if model.seq != nil { paramTypes.append(ir.i64) }
        paramTypes += [IRType](repeating: ir.ptr, count: plan.outputs.count + 1)
        paramTypes.append(ir.i32)
        fn = ir.addFunction(entry.threadsSymbol, ir.functionType(ir.i32, paramTypes))
        b = Builder(ir, fn)
        gemm = GemmKernels(ir: ir, target: target)
        self.fusion = fusion
        var index = 0
        for input in model.inputs {
            buffers[input.name] = fn.param(index)
            index += 1
        }
        if model.seq != nil {
            seqLen = fn.param(index)
            index += 1
        }
        for output in plan.outputs {
            buffers[output.name] = fn.param(index)
            index += 1
        }
        workspace = fn.param(index)
        threads = fn.param(index + 1)
        setAttributes(pointerCount: index + 1)
    }

    private func setAttributes(pointerCount: Int) {
        ir.addCodeAttributes(to: fn, target: target)
        for i in 0..<pointerCount where !(model.seq != nil && i == model.inputs.count) {
            ir.addAttribute("nocapture", to: fn, param: i)
            ir.addAttribute("noalias", to: fn, param: i)
        }
    }

    func build() throws -> Function {
        try checkArguments()
        threads = resolveThreadCount(fn.param(fn.type.paramCount - 1))
        teamRecord = makeTeam()
        for (name, offset) in plan.offsets {
            buffers[name] = b.gep(ir.i8, workspace, ir.i64(offset))
        }
        for inst in model.body where !fusion.fused.contains(inst.result) {
            try lower(inst)
        }
        endTeam(teamRecord)
        b.ret(ir.i32(Int(Status.ok.rawValue)))
        return fn
    }

    // MARK: Argument checks, before any work: a failed call writes nothing.

    private func checkArguments() throws {
        let null = ir.nullPointer
        var anyNull: Value?
        for i in 0..<(model.inputs.count + plan.outputs.count + 1) {
            let p = i < model.inputs.count ? fn.param(i) : fn.param(i + (model.seq != nil ? 1 : 0))
            let isNull = b.icmp(.eq, p, null)
            anyNull = anyNull.map { b.or($0, isNull) } ?? isNull
        }
        if let anyNull { b.returnIf(anyNull, status(.nullPointer)) }
        if let seqLen, let seq = model.seq {
            b.returnIf(b.or(b.icmp(.slt, seqLen, ir.i64(1)), b.icmp(.sgt, seqLen, ir.i64(seq.max))),
                       status(.badSequenceLength))
        }
        // Every token id read by an embedding must index its table: check them all up front.
        var vocab: [String: Int] = [:]
        for inst in model.body where inst.op == .embedding {
            guard case .value(let ids) = inst.operands[0], let table = model.type(of: inst.operands[1])?.staticShape
            else { throw CodegenError("embedding %\(inst.result): ids must be an input and the table static") }
            vocab[ids] = min(vocab[ids] ?? Int.max, table[0])
        }
        for (ids, size) in vocab.sorted(by: { $0.key < $1.key }) {
            guard let input = model.inputs.first(where: { $0.name == ids }), let base = buffers[ids] else {
                throw CodegenError("token ids %\(ids) must be a model input")
            }
            b.forLoop(rows(input.type)) { i in
                let id = b.load(ir.i32, b.gep(ir.i32, base, i))
                b.returnIf(b.icmp(.uge, id, ir.i32(size)), status(.badTokenId))  // unsigned: negatives too
            }
        }
    }

    private func status(_ s: Status) -> Value { ir.i32(Int(s.rawValue)) }

    // MARK: Addressing

    /// The number of rows (first axis) of a value at run time.
    func rows(_ type: TensorType) -> Value {
        switch type.dims.first {
        case .seq?: return seqLen ?? ir.i64(1)
        case .fixed(let n)?: return ir.i64(n)
        case nil: return ir.i64(1)
        }
    }

    /// Elements per row: the product of every axis after the first (all static).
    func cols(_ type: TensorType) -> Int { type.dims.dropFirst().reduce(1) { $0 * ($1.fixedValue ?? 1) } }

    func pointer(_ operand: Operand) throws -> Value {
        switch operand {
        case .value(let name):
            guard let p = buffers[name] else { throw CodegenError("no buffer for %\(name)") }
            return p
        case .param(let name):
            if let p = params[name] { return p }
            guard let tensor = weights[name] else { throw CodegenError("no weights for @\(name)") }
            let data = tensor.floats
            let global = constant("w." + name, data)
            params[name] = global
            return global
        }
    }

    /// Weight data as an embedded constant, or as an external symbol whose data the JIT defines.
    func constant(_ name: String, _ data: [Float]) -> Value {
        guard externalWeights else { return data.withUnsafeBytes { ir.addConstantBytes(name, $0) } }
        let symbol = "tfc.weight.\(external.count)"
        external.append(ExternalWeight(symbol: symbol, values: data))
        return ir.addExternalConstant(symbol)
    }

    func type(_ operand: Operand) throws -> TensorType {
        guard let t = model.type(of: operand) else { throw CodegenError("unknown operand \(operand)") }
        return t
    }

    var f32: IRType { ir.f32 }

    func loadF(_ base: Value, _ index: Value) -> Value { b.load(f32, b.gep(f32, base, index)) }
    func storeF(_ v: Value, _ base: Value, _ index: Value) { b.store(v, b.gep(f32, base, index)) }

    /// base[i * stride + offset]
    func at(_ i: Value, _ stride: Int, _ offset: Value) -> Value { b.add(b.mul(i, stride), offset) }

    func copy(to dst: Value, from src: Value, floats count: Value) {
        let memcpy = ir.intrinsic("llvm.memcpy", [ir.ptr, ir.ptr, ir.i64])
        b.call(memcpy, [dst, src, b.mul(count, 4), ir.i1(false)])
    }

    /// Accumulates `body` over 0..<count into a float starting at `initial`; reassociation is
    /// allowed so that LLVM may vectorize the reduction.
    func sum(_ count: Value, from initial: Value, _ term: (Value) -> Value) -> Value {
        let acc = b.alloca(f32)
        b.store(initial, acc)
        b.forLoop(count) { i in
            b.store(b.fadd(b.load(f32, acc), term(i), fast: true), acc)
        }
        return b.load(f32, acc)
    }

    // MARK: Ops

    private func lower(_ inst: Instruction) throws {
        let ops = try inst.operands.map(pointer)
        let types = try inst.operands.map(type)
        let R = rows(inst.type), N = cols(inst.type)
        // A linear with a fused epilogue writes the buffer of the last op of its chain.
        if let plan = fusion.linears[inst.result] {
            guard let destination = buffers[plan.output] else {
                throw CodegenError("no buffer planned for the fused output of %\(inst.result)")
            }
            let x = try plan.rowScale.map { try pointer($0.input) } ?? ops[0]
            let scales = try plan.rowScale.map { try pointer(.value($0.norm)) }
            try lowerGemm(inst, plan: plan, x: x, rows: R, k: cols(types[0]), n: N,
                          bias: ops.count > 2 ? ops[2] : nil, scales: scales, out: destination)
            return
        }
        guard let out = buffers[inst.result] else { throw CodegenError("no buffer planned for %\(inst.result)") }
        switch inst.op {
        case .embedding:
            let table = ops[1]
            b.forLoop(R) { r in
                let id = b.sext(b.load(ir.i32, b.gep(ir.i32, ops[0], r)), to: ir.i64)
                copy(to: b.gep(f32, out, b.mul(r, N)), from: b.gep(f32, table, b.mul(id, N)), floats: ir.i64(N))
            }
        case .positions, .selectRow:
            let first = inst.op == .selectRow ? inst.int("index") ?? 0 : 0
            copy(to: out, from: b.gep(f32, ops[0], ir.i64(first * N)), floats: b.mul(R, N))
        case .clsToken:
            copy(to: out, from: ops[1], floats: ir.i64(N))
            copy(to: b.gep(f32, out, ir.i64(N)), from: ops[0], floats: b.mul(rows(types[0]), N))
        case .add:
            b.forLoop(b.mul(R, N)) { i in storeF(b.fadd(loadF(ops[0], i), loadF(ops[1], i)), out, i) }
        case .linear:
            let K = cols(types[0])
            lowerLinear(x: ops[0], rows: R, k: K, n: N, w: ops[1], transposed: inst.bool("transposed") ?? false,
                        bias: ops.count > 2 ? ops[2] : nil, out: out)
        case .patchEmbed:
            try lowerPatchEmbed(inst, image: ops[0], imageType: types[0], bias: ops.count > 2 ? ops[2] : nil, out: out,
                                n: N)
        case .layernorm, .rmsnorm, .crmsnorm:
            lowerNorm(inst.op, x: ops[0], rows: R, d: N, eps: inst.double("eps") ?? 1e-5,
                      gain: ops.count > 1 ? ops[1] : nil, bias: ops.count > 2 ? ops[2] : nil, out: out,
                      scalesOnly: fusion.scaleOnlyNorms[inst.result] != nil)
        case .attention:
            try lowerAttention(inst, ops: ops, types: types, rows: R, out: out)
        case .gelu:
            lowerGelu(tanhForm: inst.word("approximation") == "tanh", x: ops[0], count: b.mul(R, N), out: out)
        case .tanh, .relu, .mul:
            throw CodegenError("%\(inst.result): '\(inst.op.rawValue)' is not lowered yet")
        }
    }

    /// The weights of a linear in panel layout, as a constant (shared by every use with the same layout).
    private func packedWeights(_ inst: Instruction, k K: Int, n N: Int) throws -> Value {
        guard case .param(let name) = inst.operands[1], let tensor = weights[name] else {
            throw CodegenError("linear %\(inst.result): the weight must be a parameter")
        }
        let transposed = inst.bool("transposed") ?? false
        let key = "\(name).packed\(gemm.shape.nr)\(transposed ? ".t" : "")"
        if let p = packed[key] { return p }
        let data = packWeights(tensor.floats, k: K, n: N, transposed: transposed, nr: gemm.shape.nr)
        let global = constant("w." + key, data)
        packed[key] = global
        return global
    }

    /// x @ W through the microkernel, panel by panel: full blocks of mr rows, then one block of
    /// the remaining R mod mr rows (a single row is the matrix-vector case). Threads claim chunks
    /// of panels, so each writes its own columns of y.
    private func lowerGemm(_ inst: Instruction, plan: FusionPlan.Linear, x: Value, rows R: Value, k K: Int, n N: Int,
                           bias: Value?, scales: Value?, out: Value) throws {
        let panel = try packedWeights(inst, k: K, n: N)
        let residual = try plan.residual.map(pointer) ?? ir.nullPointer
        let nr = gemm.shape.nr, kc = GemmShape.kc
        // Slices of K: [k0, k0 + length). A short last slice is merged into the one before.
        var slices: [(k0: Int, length: Int)] = stride(from: 0, to: K, by: kc).map { ($0, min(kc, K - $0)) }
        if slices.count > 1, let last = slices.last, last.length < kc / 2 {
            slices.removeLast()
            slices[slices.count - 1].length += last.length
        }
        let panels = (N + nr - 1) / nr
        parallelFor("\(cIdentifier(inst.result)).gemm", count: ir.i64(panels), work: workEstimate(R, ir.i64(1), times: 2 * K * N),
                    captures: [x, out, residual, R, scales ?? ir.nullPointer]) { c, begin, end in
            gemmPanels(begin, end, slices: slices, plan: plan, x: c[0], k: K, n: N, weights: panel, bias: bias,
                       residual: plan.residual == nil ? nil : c[2], scales: scales == nil ? nil : c[4], rows: c[3],
                       out: c[1])
        }
    }

    /// Panels [begin, end) of one GEMM: for each slice of K, every row block.
    private func gemmPanels(_ begin: Value, _ end: Value, slices: [(k0: Int, length: Int)], plan: FusionPlan.Linear,
                            x: Value, k K: Int, n N: Int, weights: Value, bias: Value?, residual: Value?, scales: Value?,
                            rows R: Value, out: Value) {
        let nr = gemm.shape.nr, mr = gemm.shape.mr
        let blocks = b.sdiv(R, ir.i64(mr))
        b.forLoop(begin, end) { p in
            let col = b.mul(p, nr)
            let remaining = b.sub(ir.i64(N), col)
            let cols = b.select(b.icmp(.slt, remaining, ir.i64(nr)), remaining, ir.i64(nr))
            let biasAt = bias.map { b.gep(f32, $0, col) } ?? ir.nullPointer
            for (s, slice) in slices.enumerated() {
                let first = s == 0, last = s == slices.count - 1
                func kernel(rows: Int) -> Function { gemm.kernel(rows: rows, plan.epilogue, accumulate: !first, finish: last) }
                let w = b.gep(f32, weights, b.add(b.mul(p, K * nr), ir.i64(slice.k0 * nr)))
                func call(_ kernel: Function, row: Value) {
                    let at = b.add(b.mul(row, N), col)
                    b.call(kernel, [b.gep(f32, x, b.add(b.mul(row, K), ir.i64(slice.k0))), ir.i64(K), w,
                                    ir.i64(slice.length), b.gep(f32, out, at), ir.i64(N), cols, biasAt,
                                    residual.map { b.gep(f32, $0, at) } ?? ir.nullPointer, ir.i64(N),
                                    scales.map { b.gep(f32, $0, row) } ?? ir.nullPointer])
                }
                b.forLoop(blocks) { block in call(kernel(rows: mr), row: b.mul(block, mr)) }
                // The last R mod mr rows in one block of just that many rows.
                forEachRowCount(b.sub(R, b.mul(blocks, mr)), upTo: mr - 1) { n in
                    call(kernel(rows: n), row: b.mul(blocks, mr))
                }
            }
        }
    }

    /// y[r, :] = x[r, :] @ W + bias. W is [K, N], or [N, K] when transposed.
    private func lowerLinear(x: Value, rows R: Value, k K: Int, n N: Int, w: Value, transposed: Bool,
                             bias: Value?, out: Value) {
        b.forLoop(R) { r in
            let xr = b.gep(f32, x, b.mul(r, K)), yr = b.gep(f32, out, b.mul(r, N))
            if transposed {
                // y[j] = bias[j] + dot(x_r, W[j, :]): both rows contiguous.
                b.forLoop(N) { j in
                    let wj = b.gep(f32, w, b.mul(j, K))
                    let dot = sum(ir.i64(K), from: ir.f32(0)) { k in b.fmul(loadF(xr, k), loadF(wj, k), fast: true) }
                    storeF(bias.map { b.fadd(dot, loadF($0, j)) } ?? dot, yr, j)
                }
            } else {
                // y = bias, then y += x[k] * W[k, :] for each k: the inner loop runs along
                // contiguous rows of W and y.
                b.forLoop(N) { j in storeF(bias.map { loadF($0, j) } ?? ir.f32(0), yr, j) }
                b.forLoop(K) { k in
                    let a = loadF(xr, k), wk = b.gep(f32, w, b.mul(k, N))
                    b.forLoop(N) { j in
                        storeF(b.fadd(loadF(yr, j), b.fmul(a, loadF(wk, j), fast: true), fast: true), yr, j)
                    }
                }
            }
        }
    }

    /// Patches in row-major grid order; each flattened in (channel, row, column) order, which is
    /// PyTorch's Conv2d weight [d, C, p, p] reshaped to [d, C*p*p] (the transposed layout) or
    /// that transposed. Pixels past the last whole patch are unused, as in a strided convolution.
    /// The patches are gathered into a scratch matrix (im2col), then multiplied by the GEMM.
    private func lowerPatchEmbed(_ inst: Instruction, image: Value, imageType: TensorType, bias: Value?,
                                 out: Value, n N: Int) throws {
        guard let shape = imageType.staticShape, shape.count == 3, let p = inst.int("patch"), p > 0,
              let patches = buffers[MemoryPlan.im2colName(inst.result)] else {
            throw CodegenError("patch_embed %\(inst.result): needs a static [C, H, W] image, a patch size and scratch")
        }
        let (C, H, W) = (shape[0], shape[1], shape[2])
        let (gridH, gridW, K) = (H / p, W / p, C * p * p)
        b.forLoop(gridH) { gy in
            b.forLoop(gridW) { gx in
                let row = b.gep(f32, patches, b.mul(b.add(b.mul(gy, gridW), gx), K))
                b.forLoop(C) { c in
                    b.forLoop(p) { ky in
                        // One image row segment of the patch is p contiguous pixels.
                        let pixel = b.add(b.mul(b.add(b.mul(c, H), b.add(b.mul(gy, p), ky)), W), b.mul(gx, p))
                        copy(to: b.gep(f32, row, b.mul(b.add(b.mul(c, p), ky), p)), from: b.gep(f32, image, pixel),
                             floats: ir.i64(p))
                    }
                }
            }
        }
        let plan = FusionPlan.Linear(epilogue: Epilogue(bias: bias != nil), residual: nil, linear: inst.result)
        try lowerGemm(inst, plan: plan, x: patches, rows: ir.i64(gridH * gridW), k: K, n: N, bias: bias, scales: nil,
                      out: out)
    }

    /// One row at a time: the statistics in one vectorized pass (sum and sum of squares
    /// together; for LayerNorm shifted by the row's first element, which keeps the variance free
    /// of cancellation when the mean is large), then y = (x - mean) * rsqrt(var + eps) * g + b.
    /// With `scalesOnly` (a parameter-free norm read only by GEMMs, which apply the scale in
    /// their epilogue) just rsqrt(var + eps) is stored, one float per row.
    private func lowerNorm(_ op: OpKind, x: Value, rows R: Value, d: Int, eps: Double, gain: Value?, bias: Value?,
                           out: Value, scalesOnly: Bool = false) {
        let lanes = GemmShape.forTarget(target).lanes
        let vec = ir.vector(f32, lanes)
        let zero = ir.f32(0, lanes: lanes)
        let allLanes = b.prefixMask(ir.i64(lanes), lanes: lanes)
        /// Calls body(offset, mask) over the row in vector chunks: full ones in a loop, then a
        /// masked tail.
        func forEachChunk(_ body: (Value, Value) -> Void) {
            b.forLoop(d / lanes) { c in body(b.mul(c, lanes), allLanes) }
            if d % lanes != 0 { body(ir.i64(d - d % lanes), b.prefixMask(ir.i64(d % lanes), lanes: lanes)) }
        }
        let sums = b.alloca(vec), squares = b.alloca(vec)
        b.forLoop(R) { r in
            let xr = b.gep(f32, x, b.mul(r, d))
            let shift = op == .layernorm ? b.splat(loadF(xr, ir.i64(0)), lanes: lanes) : zero
            b.store(zero, sums, align: 4)
            b.store(zero, squares, align: 4)
            forEachChunk { offset, mask in
                // Masked-off lanes load 0; minus the shift they would count, so select them out.
                let v = b.select(mask, b.fsub(b.maskedLoad(vec, b.gep(f32, xr, offset), mask), shift), zero)
                b.store(b.fadd(b.load(vec, sums, align: 4), v), sums, align: 4)
                b.store(b.fma(v, v, b.load(vec, squares, align: 4)), squares, align: 4)
            }
            let (total, totalSquares) = (b.reduceAdd(b.load(vec, sums, align: 4)), b.reduceAdd(b.load(vec, squares, align: 4)))
            let invD = ir.f32(1 / Double(d))
            var mean: Value = zero
            let meanSquare: Value
            switch op {
            case .layernorm:
                let shiftedMean = b.fmul(total, invD)
                mean = b.fadd(shift, b.splat(shiftedMean, lanes: lanes))
                let variance = b.fsub(b.fmul(totalSquares, invD), b.fmul(shiftedMean, shiftedMean))
                meanSquare = b.maxnum(variance, ir.f32(0))
            case .crmsnorm:
                // The row stands for the zero-mean (d+1)-vector [x, -sum(x)].
                meanSquare = b.fmul(b.fma(total, total, totalSquares), ir.f32(1 / Double(d + 1)))
            default:
                meanSquare = b.fmul(totalSquares, invD)
            }
            let inv = b.fdiv(ir.f32(1), b.sqrt(b.fadd(meanSquare, ir.f32(eps))))
            if scalesOnly {
                storeF(inv, out, r)
                return
            }
            let yr = b.gep(f32, out, b.mul(r, d))
            let invVector = b.splat(inv, lanes: lanes)
            forEachChunk { at, mask in
                var y = b.fmul(b.fsub(b.maskedLoad(vec, b.gep(f32, xr, at), mask), mean), invVector)
                if let gain { y = b.fmul(y, b.maskedLoad(vec, b.gep(f32, gain, at), mask)) }
                if let bias { y = b.fadd(y, b.maskedLoad(vec, b.gep(f32, bias, at), mask)) }
                b.maskedStore(y, b.gep(f32, yr, at), mask)
            }
        }
    }

    /// Attention as two small GEMMs per head through the GEMM microkernel. First, per head, K^T
    /// and V are packed into the kernel's panel layout in a workspace scratch (keys, resp. head
    /// columns, zero-padded to whole panels). Then per (head, block of mr query rows): the block's
    /// scores S = Q K^T against every visible key (in a stack buffer of mr rows), a safe softmax
    /// per row (minus the row's max, vectorized exp, masked keys exactly 0), and O = P V with the
    /// softmax's 1/sum applied as the kernel's row scale. Threads claim chunks of (head, block).
    private func lowerAttention(_ inst: Instruction, ops: [Value], types: [TensorType], rows R: Value, out: Value) throws {
        let inner = cols(inst.type)
        guard let heads = inst.int("heads"), heads > 0, inner % heads == 0 else {
            throw CodegenError("attention %\(inst.result): heads must divide the width \(inner)")
        }
        guard let scratch = buffers[MemoryPlan.attentionName(inst.result)] else {
            throw CodegenError("attention %\(inst.result): no scratch in the memory plan")
        }
        let dh = inner / heads
        let causal = inst.bool("causal") ?? false
        let maxRows = inst.type.dims.first?.size(seqLen: model.maxSeqLen) ?? 1
        let layout = AttentionLayout(maxRows: maxRows, headDim: dh, nr: gemm.shape.nr)
        // (row stride, column offset) of q, k and v.
        let strides: [(stride: Int, offset: Int)] = ops.count == 1
            ? [(3 * inner, 0), (3 * inner, inner), (3 * inner, 2 * inner)]
            : [(inner, 0), (inner, 0), (inner, 0)]
        let bases = ops.count == 1 ? [ops[0], ops[0], ops[0]] : ops
        let nr = gemm.shape.nr, mr = gemm.shape.mr, lanes = gemm.shape.lanes
        let vec = ir.vector(f32, lanes)

        // Flops of the whole attention (causal: about half); the packing is worth a team only
        // when the attention that follows is.
        let work = workEstimate(R, R, times: 4 * inner / (causal ? 2 : 1))
        parallelFor("\(cIdentifier(inst.result)).pack", count: ir.i64(heads), work: work,
                    captures: [bases[1], bases[2], scratch, R]) { c, begin, end in
            let (k, v, scratch, R) = (c[0], c[1], c[2], c[3])
            b.forLoop(begin, end) { h in
                let keys = b.gep(f32, scratch, b.mul(h, layout.perHead))
                let values = b.gep(f32, keys, ir.i64(layout.valuesOffset))
                // K^T: panel p holds keys p*nr ..< p*nr+nr as [dh][nr]; keys past R are 0.
                let keyPanels = b.sdiv(b.add(R, nr - 1), ir.i64(nr))
                b.forLoop(b.mul(keyPanels, nr)) { key in
                    let inRange = b.icmp(.slt, key, R)
                    let src = b.gep(f32, k, b.add(b.mul(key, strides[1].stride), b.add(b.mul(h, dh), ir.i64(strides[1].offset))))
                    let p = b.sdiv(key, ir.i64(nr)), j = b.sub(key, b.mul(p, nr))
                    let dst = b.gep(f32, keys, b.add(b.mul(p, dh * nr), j))
                    b.forLoop(dh) { kk in
                        let x = b.select(inRange, loadF(src, kk), ir.f32(0))
                        storeF(x, dst, b.mul(kk, nr))
                    }
                }
                // V: panel q holds head columns q*nr ..< q*nr+nr as [rows][nr]; columns past dh are 0.
                for q in 0..<layout.valuePanels {
                    let columns = min(nr, dh - q * nr)
                    b.forLoop(R) { key in
                        let src = b.gep(f32, v, b.add(b.mul(key, strides[2].stride),
                                                      b.add(b.mul(h, dh), ir.i64(strides[2].offset + q * nr))))
                        let dst = b.gep(f32, values, b.add(ir.i64(q * maxRows * nr), b.mul(key, nr)))
                        for at in stride(from: 0, to: nr, by: lanes) {
                            let mask = b.prefixMask(ir.i64(columns - at), lanes: lanes)
                            b.store(b.maskedLoad(vec, b.gep(f32, src, ir.i64(at)), mask), b.gep(f32, dst, ir.i64(at)),
                                    align: lanes * 4)
                        }
                    }
                }
            }
        }

        let blocks = b.sdiv(b.add(R, mr - 1), ir.i64(mr))
        parallelFor("\(cIdentifier(inst.result)).attention", count: b.mul(blocks, heads), work: work,
                    captures: [bases[0], scratch, out, R, blocks]) { c, begin, end in
            let (q, scratch, out, R, blocks) = (c[0], c[1], c[2], c[3], c[4])
            let math = VectorMath(b: b, lanes: lanes)
            // Scores of one block of rows against one block of keys: mr x keyBlock on the stack.
            let keyBlock = layout.keyBlock
            let scores = b.alloca(ir.array(f32, mr * keyBlock))
            // Per row: the running maximum score, sum of exponentials, and the factor by which
            // the output so far must shrink when the maximum grows.
            let runningMax = b.alloca(ir.array(f32, mr)), runningSum = b.alloca(ir.array(f32, mr))
            let shrink = b.alloca(ir.array(f32, mr)), inverse = b.alloca(ir.array(f32, mr))
            let scale = ir.f32(1 / Double(dh).squareRoot(), lanes: lanes)
            let zero = ir.f32(0, lanes: lanes), minusInfinity = ir.f32(-.infinity, lanes: lanes)
            let noScale = ir.nullPointer
            b.forLoop(begin, end) { u in
                let h = b.sdiv(u, blocks), t0 = b.mul(b.sub(u, b.mul(h, blocks)), mr)
                let remaining = b.sub(R, t0)
                let rows = b.select(b.icmp(.slt, remaining, ir.i64(mr)), remaining, ir.i64(mr))
                let visible = causal ? b.add(t0, rows) : R
                let keys = b.gep(f32, scratch, b.mul(h, layout.perHead))
                let values = b.gep(f32, keys, ir.i64(layout.valuesOffset))
                let qBlock = b.gep(f32, q, b.add(b.mul(t0, strides[0].stride), b.add(b.mul(h, dh), ir.i64(strides[0].offset))))
                let outBlock = b.gep(f32, out, b.add(b.mul(t0, inner), b.mul(h, dh)))
                b.forLoop(rows) { i in
                    storeF(ir.f32(-.infinity), runningMax, i)
                    storeF(ir.f32(0), runningSum, i)
                }
                let keyBlocks = b.sdiv(b.add(visible, keyBlock - 1), ir.i64(keyBlock))
                b.forLoop(keyBlocks) { kb in
                    let k0 = b.mul(kb, keyBlock)
                    let left = b.sub(visible, k0)
                    let width = b.select(b.icmp(.slt, left, ir.i64(keyBlock)), left, ir.i64(keyBlock))
                    // S = Q_block K^T over this block's keys, panel by panel.
                    let panels = b.sdiv(b.add(width, nr - 1), ir.i64(nr))
                    let firstPanel = b.sdiv(k0, ir.i64(nr))
                    forEachRowCount(rows, upTo: mr) { n in
                        let kernel = gemm.kernel(rows: n, Epilogue(), accumulate: false, finish: true)
                        b.forLoop(panels) { p in
                            b.call(kernel, [qBlock, ir.i64(strides[0].stride),
                                            b.gep(f32, keys, b.mul(b.add(firstPanel, p), dh * nr)), ir.i64(dh),
                                            b.gep(f32, scores, b.mul(p, nr)), ir.i64(keyBlock), ir.i64(nr),
                                            noScale, noScale, ir.i64(0), noScale])
                        }
                    }
                    // Online softmax: per row, the new maximum over the keys it may see in this
                    // block, exponentials against it (the keys it must not see get exactly 0),
                    // and the old sum shrunk to the new maximum.
                    let chunks = b.sdiv(b.add(width, lanes - 1), ir.i64(lanes))
                    b.forLoop(rows) { i in
                        let row = b.gep(f32, scores, b.mul(i, keyBlock))
                        let seen = causal ? b.sub(b.add(b.add(t0, i), 1), k0) : width
                        let best = b.alloca(vec)
                        b.store(minusInfinity, best, align: 4)
                        b.forLoop(chunks) { chunk in
                            let mask = b.prefixMask(b.sub(seen, b.mul(chunk, lanes)), lanes: lanes)
                            let x = b.select(mask, b.load(vec, b.gep(f32, row, b.mul(chunk, lanes)), align: 4), minusInfinity)
                            b.store(b.maxnum(x, b.load(vec, best, align: 4)), best, align: 4)
                        }
                        let old = loadF(runningMax, i)
                        let new = b.maxnum(old, b.reduceMax(b.load(vec, best, align: 4)))
                        // A row that sees no key of this block keeps its maximum (new == old);
                        // no row sees none at all, so `new` is finite from its first block on.
                        let m = b.splat(new, lanes: lanes)
                        let total = b.alloca(vec)
                        b.store(zero, total, align: 4)
                        b.forLoop(chunks) { chunk in
                            let at = b.gep(f32, row, b.mul(chunk, lanes))
                            let mask = b.prefixMask(b.sub(seen, b.mul(chunk, lanes)), lanes: lanes)
                            let e = b.select(mask, math.exp(b.fmul(b.fsub(b.load(vec, at, align: 4), m), scale)), zero)
                            b.store(e, at, align: 4)
                            b.store(b.fadd(b.load(vec, total, align: 4), e), total, align: 4)
                        }
                        let factor = b.select(b.fcmp(.oeq, old, ir.f32(-.infinity)), ir.f32(0),
                                              b.extract(math.exp(b.fmul(b.splat(b.fsub(old, new), lanes: lanes), scale)), 0))
                        let sum = b.fadd(b.fmul(loadF(runningSum, i), factor), b.reduceAdd(b.load(vec, total, align: 4)))
                        storeF(new, runningMax, i)
                        storeF(sum, runningSum, i)
                        storeF(factor, shrink, i)
                        storeF(b.fdiv(ir.f32(1), sum), inverse, i)
                    }
                    // O = O * shrink + P V_block; after the last block, times 1/sum (the
                    // kernel's row scale).
                    let first = b.icmp(.eq, kb, ir.i64(0))
                    let last = b.icmp(.eq, b.add(kb, 1), keyBlocks)
                    b.ifThen(b.icmp(.ne, kb, ir.i64(0))) {
                        b.forLoop(rows) { i in
                            let factor = b.splat(loadF(shrink, i), lanes: lanes)
                            let o = b.gep(f32, outBlock, b.mul(i, inner))
                            for at in stride(from: 0, to: dh, by: lanes) {
                                let mask = b.prefixMask(ir.i64(dh - at), lanes: lanes)
                                let p = b.gep(f32, o, ir.i64(at))
                                b.maskedStore(b.fmul(b.maskedLoad(vec, p, mask), factor), p, mask)
                            }
                        }
                    }
                    for (isFirst, isLast) in [(true, true), (true, false), (false, false), (false, true)] {
                        let when = b.and(isFirst ? first : b.not(first), isLast ? last : b.not(last))
                        b.ifThen(when) {
                            forEachRowCount(rows, upTo: mr) { n in
                                let kernel = gemm.kernel(rows: n, Epilogue(rowScale: true), accumulate: !isFirst,
                                                         finish: isLast)
                                // A loop, not unrolled: heads may be hundreds of columns wide.
                                b.forLoop(layout.valuePanels) { p in
                                    let column = b.mul(p, nr), left = b.sub(ir.i64(dh), column)
                                    let cols = b.select(b.icmp(.slt, left, ir.i64(nr)), left, ir.i64(nr))
                                    b.call(kernel, [scores, ir.i64(keyBlock),
                                                    b.gep(f32, values, b.add(b.mul(p, maxRows * nr), b.mul(k0, nr))), width,
                                                    b.gep(f32, outBlock, column), ir.i64(inner),
                                                    cols, noScale, noScale, ir.i64(0), inverse])
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// x * y * times at run time, for comparing with minParallelWork: every factor is clamped
    /// first (to 2^16, resp. 2^20), so the product cannot overflow and is at least the
    /// threshold whenever a factor was clamped.
    private func workEstimate(_ x: Value, _ y: Value, times: Int) -> Value {
        func clamp(_ v: Value) -> Value { b.select(b.icmp(.sgt, v, ir.i64(1 << 16)), ir.i64(1 << 16), v) }
        return b.mul(b.mul(clamp(x), clamp(y)), ir.i64(min(times, 1 << 20)))
    }

    /// Emits `body(n)` for the n in 1...max that equals the run-time `count` (kernels have a
    /// compile-time row count).
    private func forEachRowCount(_ count: Value, upTo max: Int, _ body: (Int) -> Void) {
        for n in 1...max { b.ifThen(b.icmp(.eq, count, ir.i64(n))) { body(n) } }
    }

    /// GELU, exact (erf) or GPT-2's tanh approximation, through libm's erff / tanhf.
    private func lowerGelu(tanhForm: Bool, x: Value, count: Value, out: Value) {
        let unary = ir.functionType(f32, [f32])
        let fn = ir.declare(tanhForm ? "tanhf" : "erff", unary)
        ir.addAttribute("nounwind", to: fn)
        b.forLoop(count) { i in
            let xv = loadF(x, i)
            let inner: Value
            if tanhForm {
                let cube = b.fmul(b.fmul(xv, xv), xv)
                inner = b.fmul(ir.f32((2 / Double.pi).squareRoot()), b.fadd(xv, b.fmul(ir.f32(0.044715), cube)))
            } else {
                inner = b.fmul(xv, ir.f32(0.5.squareRoot()))
            }
            let y = b.fmul(b.fmul(ir.f32(0.5), xv), b.fadd(ir.f32(1), b.call(fn, [inner])))
            storeF(y, out, i)
        }
    }
}

/// Which ops are computed inside a matrix multiplication's epilogue: a GELU reading only the
/// linear, then an add reading only that (a residual connection), become part of the linear.
struct FusionPlan {
    struct Linear {
        var epilogue: Epilogue
        /// The other operand of the fused add.
        var residual: Operand?
        /// The results of the fused ops after the linear (a GELU, an add), in order.
        var chain: [String] = []
        /// The value the fused chain produces (where the kernel stores).
        var output: String { chain.last ?? linear }
        var linear: String
        /// For a linear reading a scale-only norm: that norm (whose buffer holds one scale per
        /// row) and its input, which the kernel reads instead of the norm's output.
        var rowScale: (norm: String, input: Operand)?
    }

    /// Parameter-free RMSNorm/CRMSNorm whose readers are all fused linears: they compute only a
    /// scale per row. Norm result -> its input.
    var scaleOnlyNorms: [String: Operand] = [:]

    var linears: [String: Linear] = [:]
    /// Results computed by a fused producer, not by their own code.
    var fused: Set<String> = []

    init(_ m: Module) {
        var uses: [String: [(index: Int, operand: Int)]] = [:]
        for (i, inst) in m.body.enumerated() {
            for (j, o) in inst.operands.enumerated() {
                if case .value(let v) = o { uses[v, default: []].append((i, j)) }
            }
        }
        let outputs = Set(m.outputs.map(\.name))
        let definedAt = Dictionary(m.body.enumerated().map { ($1.result, $0) }, uniquingKeysWith: { a, _ in a })
        /// The single reader of `v`, when `v` is not an output and is read exactly once.
        func onlyReader(_ v: String) -> (index: Int, operand: Int)? {
            guard !outputs.contains(v), let u = uses[v], u.count == 1 else { return nil }
            return u[0]
        }
        for (index, inst) in m.body.enumerated() where inst.op == .linear {
            guard case .param = inst.operands[1], inst.operands.dropFirst(2).allSatisfy({ if case .param = $0 { true } else { false } })
            else { continue }
            var plan = Linear(epilogue: Epilogue(bias: inst.operands.count > 2), residual: nil, linear: inst.result)
            if let (g, _) = onlyReader(plan.output), m.body[g].op == .gelu {
                plan.epilogue.activation = m.body[g].word("approximation") == "tanh" ? .geluTanh : .geluErf
                plan.chain.append(m.body[g].result)
                fused.insert(m.body[g].result)
            }
            if let (a, j) = onlyReader(plan.output), m.body[a].op == .add {
                let other = m.body[a].operands[1 - j]
                // The residual must exist before the linear runs.
                let ready: Bool
                switch other {
                case .param: ready = true
                case .value(let v): ready = (definedAt[v] ?? -1) < index
                }
                if ready {
                    plan.epilogue.residual = true
                    plan.residual = other
                    plan.chain.append(m.body[a].result)
                    fused.insert(m.body[a].result)
                }
            }
            linears[inst.result] = plan
        }
        for norm in m.body where (norm.op == .rmsnorm || norm.op == .crmsnorm) && norm.operands.count == 1 {
            guard !outputs.contains(norm.result), let readers = uses[norm.result], !readers.isEmpty,
                  readers.allSatisfy({ $0.operand == 0 && linears[m.body[$0.index].result] != nil })
            else { continue }
            scaleOnlyNorms[norm.result] = norm.operands[0]
            for reader in readers {
                linears[m.body[reader.index].result]?.rowScale = (norm.result, norm.operands[0])
                linears[m.body[reader.index].result]?.epilogue.rowScale = true
            }
        }
    }
}
